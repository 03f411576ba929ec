"""The engine's inputs and outputs, as plain immutable values.

``Observed`` is what the cluster shows for one execution (its Jobs by name, its child
executions by name, how busy its flow is, the answers to the calls the operator made for it);
``Decision`` is what ``step`` wants done. The operator translates between these values and the
Kubernetes API; the engine never sees a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from overture.api import ExecutionStatus, State


class JobPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class JobObservation:
    """One task attempt's Job (and its pod) as last seen."""

    name: str
    phase: JobPhase
    pod: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    exit_code: int | None = None
    termination_message: str | None = None
    reason: str | None = None  # e.g. DeadlineExceeded, OOMKilled, ImagePullBackOff
    message: str | None = None
    log_at: str | None = None  # where a person reads its log, if not `kubectl logs job/NAME` (a local run)


@dataclass(frozen=True)
class ChildObservation:
    """A child execution started by a subflow task."""

    name: str
    state: State
    outputs: Mapping[str, Any] = field(default_factory=dict)
    message: str | None = None


@dataclass(frozen=True)
class CallObservation:
    """The answer to one call (``StartCall``), as the operator got it."""

    key: str
    ok: bool
    outputs: Mapping[str, Any] = field(default_factory=dict)
    message: str | None = None


@dataclass(frozen=True)
class Observed:
    jobs: Mapping[str, JobObservation] = field(default_factory=dict)
    children: Mapping[str, ChildObservation] = field(default_factory=dict)
    # Concurrency: other executions of the same flow that hold a slot, and queued ones created earlier.
    active_others: int = 0
    queued_ahead: int = 0
    replay_source: ExecutionStatus | None = None
    # Outputs too big for the status (a task run's outputsStored), read from the artifact store by the
    # operator before the step: attempt's Job name -> outputs. One missing is not yet available.
    stored_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The answers to the calls (http, sql, notify attempts) the operator made: call key -> answer.
    calls: Mapping[str, CallObservation] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvValue:
    name: str
    value: str | None = None
    secret_name: str | None = None
    secret_key: str | None = None


@dataclass(frozen=True)
class CreateJob:
    """Run one attempt of a runnable task. Idempotent: the name is deterministic."""

    name: str
    task_run: str
    task_id: str
    attempt: int
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    env: tuple[EnvValue, ...] = ()
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    image_pull_policy: str | None = None
    timeout_seconds: int | None = None
    iteration: str | None = None
    input_files: Mapping[str, str] = field(default_factory=dict)  # path -> rendered value
    output_files: tuple[str, ...] = ()  # globs
    outputs_from: Mapping[str, str] = field(default_factory=dict)  # output key -> file path

    @property
    def uses_store(self) -> bool:
        return bool(self.input_files or self.output_files or self.outputs_from)


# Why an attempt failed whose Job or pod was seen, then went before it ended (a person deleted it, a
# node drain, the pod garbage collector): the engine's word, and the managed-job runtime's reason
# to end that Job Failed with "PodDeleted" (kube/managed_jobs.py).
VANISHED = "its Job or pod was deleted before it ended"


@dataclass(frozen=True)
class DeleteJob:
    name: str
    reason: str


@dataclass(frozen=True)
class CreateExecution:
    """Start a child execution for a subflow task. Idempotent: the name is deterministic."""

    name: str
    flow: str
    inputs: Mapping[str, Any]
    task_run: str


@dataclass(frozen=True)
class KillExecution:
    name: str


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class EmitEvent:
    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class StartCall:
    """Make one attempt of an ``http``, ``sql`` or ``notify`` task, in the operator.

    Asked at every step until its answer is observed: the operator makes it once while it is in
    flight and again only if the answer was lost (a restart). ``request`` holds the rendered
    fields; a secret is still ``$(VAR)`` in it, ``secrets`` says which Secret key each VAR is.
    """

    key: str
    task_run: str
    attempt: int
    kind: str
    request: Mapping[str, Any]
    secrets: Mapping[str, tuple[str, str]]
    timeout_seconds: float


Action = CreateJob | DeleteJob | CreateExecution | KillExecution | EmitEvent | StartCall


@dataclass(frozen=True)
class Decision:
    status: ExecutionStatus
    actions: tuple[Action, ...] = ()
    requeue_after: float | None = None  # seconds until step wants to run again with no new event

    @property
    def creations(self) -> tuple[CreateJob | CreateExecution, ...]:
        return tuple(a for a in self.actions if isinstance(a, CreateJob | CreateExecution))
