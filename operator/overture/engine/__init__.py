"""The engine: pure decisions about what an execution runs next.

No I/O, no clock, no kopf, no Kubernetes client: ``step`` takes the flow, the execution, what
the cluster shows and the time, and returns a ``Decision``. The operator applies it.
"""

from overture.engine.model import (
    VANISHED,
    Action,
    CallObservation,
    ChildObservation,
    CreateExecution,
    CreateJob,
    Decision,
    DeleteJob,
    EmitEvent,
    EnvValue,
    EventType,
    JobObservation,
    JobPhase,
    KillExecution,
    Observed,
    StartCall,
)
from overture.engine.naming import child_execution_name, fit_name, job_name, task_run_id
from overture.engine.outputs import OUTPUTS_ENV, OUTPUTS_PATH, TERMINATION_MESSAGE_LIMIT, parse_outputs
from overture.engine.step import start_failure, step

__all__ = [
    "OUTPUTS_ENV",
    "OUTPUTS_PATH",
    "TERMINATION_MESSAGE_LIMIT",
    "VANISHED",
    "Action",
    "CallObservation",
    "ChildObservation",
    "CreateExecution",
    "CreateJob",
    "Decision",
    "DeleteJob",
    "EmitEvent",
    "EnvValue",
    "EventType",
    "JobObservation",
    "JobPhase",
    "KillExecution",
    "Observed",
    "StartCall",
    "child_execution_name",
    "fit_name",
    "job_name",
    "parse_outputs",
    "start_failure",
    "step",
    "task_run_id",
]
