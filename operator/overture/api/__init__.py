"""Overture's API: pydantic models of the Flow and Execution custom resources.

The single source of truth for both kinds: the CRDs in crds/ are generated from these models
(``overture crds``), and the operator, the engine and the CLI all read documents through
``parse_flow`` and ``parse_execution``, which raise ``SpecError`` listing every problem by path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from overture.api.common import (
    API_GROUP,
    API_VERSION,
    GROUP_VERSION,
    LABEL_ATTEMPT,
    LABEL_BACKFILL,
    LABEL_EXECUTION,
    LABEL_FLOW,
    LABEL_ITERATION,
    LABEL_TASK,
    LABEL_TRIGGER,
    Condition,
    ConditionStatus,
    Duration,
    Model,
    ObjectRef,
    SecretKeyRef,
    attempt_of_pod,
    build_models,
    find_condition,
    format_duration,
    tag_of,
    to_timedelta,
    with_condition,
)
from overture.api.dependencies import RunWhen, Verdict
from overture.api.depth import MAX_DEPTH, too_deep
from overture.api.errors import SpecError, described, problems_from, shown
from overture.api.execution import (
    CONDITION_SUCCEEDED,
    Attempt,
    Execution,
    ExecutionSpec,
    ExecutionStatus,
    ParentRef,
    ReplaySource,
    ResolvedTemplate,
    StoredOutputs,
    TaskRun,
    TriggerInfo,
    TriggerKind,
    new_execution,
    paused_task,
    published_outputs,
)
from overture.api.flow import (
    Concurrency,
    ConcurrencyBehavior,
    Flow,
    FlowOutput,
    FlowSpec,
    FlowStatus,
    LastExecution,
    ObjectMeta,
    Retention,
    TaskDefault,
    TriggerStatus,
)
from overture.api.inputs import Input, InputType, coerce_inputs
from overture.api.requester import (
    OPERATOR_TRIGGERS,
    PERSON_TRIGGERS,
    SELF_SUBJECT_REVIEW,
    SELF_SUBJECT_REVIEW_PATH,
    UnknownRequesterError,
    username_of,
    with_requester,
)
from overture.api.run_archive import restore_runs, task_run_counts, task_runs_of
from overture.api.states import RESTARTABLE, TERMINAL, State, is_terminal
from overture.api.steering import STEERING_ACTIONS, SteeringError, steering_patch
from overture.api.tasks import (
    RUNNABLE_TYPES,
    TASK_MODELS,
    AnyTask,
    Backoff,
    CallAnyTask,
    CallTask,
    ChildGroup,
    ContainerTask,
    EachTask,
    EnvVar,
    FailTask,
    FlowableBase,
    HttpTask,
    IfTask,
    LogLevel,
    LogTask,
    NotifyTask,
    ParallelTask,
    PauseTask,
    PythonTask,
    Resources,
    Retry,
    ReturnTask,
    RunnableAnyTask,
    SequentialTask,
    ShellTask,
    SqlTask,
    SubflowTask,
    SwitchCase,
    SwitchTask,
    Task,
    TaskType,
    TemplateKind,
    TemplateRef,
    TemplateTask,
    child_groups,
    value_templates,
    walk_tasks,
)
from overture.api.triggers import (
    TRIGGER_MODELS,
    AnyTrigger,
    CatchUp,
    FlowTrigger,
    Require,
    ResourceEvent,
    ResourceTrigger,
    ScheduleTrigger,
    Trigger,
    TriggerType,
    UpstreamFlow,
    WebhookTrigger,
)

_TAGS = frozenset({t.value for t in TaskType} | {t.value for t in TriggerType})
_MODELS_BY_TAG: tuple[type[BaseModel], ...] = (*TASK_MODELS, *TRIGGER_MODELS)
_HINTS: dict[str, type[BaseModel]] = {
    **{tag_of(m): m for m in _MODELS_BY_TAG},
    "retry": Retry,
    "resources": Resources,
    "concurrency": Concurrency,
    "retention": Retention,
    "flowRef": ObjectRef,
    "keySecretRef": SecretKeyRef,
    "secretKeyRef": SecretKeyRef,
    "trigger": TriggerInfo,
    "replay": ReplaySource,
    "inputs": Input,
    "onResume": Input,
    "env": EnvVar,
    "taskDefaults": TaskDefault,
    "cases": SwitchCase,
    "flows": UpstreamFlow,
}


def _parse_document(model: type[Flow] | type[Execution], doc: Any, kind: str) -> Flow | Execution:
    if not isinstance(doc, dict):
        raise SpecError([f"document: expected a {kind} object (a mapping), found {described(doc)}"])
    problems: list[str] = []
    if doc.get("kind") not in (None, kind):
        problems.append(f"kind: {shown(doc.get('kind'))} is not {kind}")
    if doc.get("apiVersion") not in (None, GROUP_VERSION):
        problems.append(f"apiVersion: {shown(doc.get('apiVersion'))} is not supported; use {GROUP_VERSION}")
    problems.extend(_depth_problems(doc, kind))
    if problems:
        raise SpecError(problems)
    spec_model = FlowSpec if model is Flow else ExecutionSpec
    try:
        return _flow_validator().validate_python(doc) if model is Flow else model.model_validate(doc)
    except ValidationError as exc:
        hints: dict[str, type[BaseModel]] = {**_HINTS, "": model, "spec": spec_model, "metadata": ObjectMeta}
        raise SpecError(problems_from(exc, "", _TAGS, hints)) from None


def _depth_problems(doc: dict[str, Any], kind: str) -> list[str]:
    """Values nested deeper than MAX_DEPTH (inputs and trigger data first, by name), then the whole spec."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return []
    values: list[tuple[Any, str]] = []
    if kind == "Execution":
        trigger = spec.get("trigger")
        data = trigger.get("data") if isinstance(trigger, dict) else None
        values = [(spec.get("inputs"), "spec.inputs"), (spec.get("resumeInputs"), "spec.resumeInputs")]
        values.append((data, "spec.trigger.data"))
    else:
        values = [(spec.get("variables"), "spec.variables")]
    for value, path in values:
        if (problem := too_deep(value, path)) is not None:
            return [problem]
    problem = too_deep(spec, "spec", 2 * MAX_DEPTH)
    return [problem] if problem is not None else []


_flow_validator_loader: Callable[[], Any] | None = None
_loaded_flow_validator: Any = None


def load_flow_validator_with(loader: Callable[[], Any] | None) -> None:
    """Where ``parse_flow`` gets the Flow's validator while the model has not built its own:
    ``loader()``, called at the first parse (the CLI's disk cache, ``overture.cli.validator_cache``).
    None (the default): the model builds it."""
    global _flow_validator_loader, _loaded_flow_validator
    _flow_validator_loader, _loaded_flow_validator = loader, None


def _flow_validator() -> Any:
    global _loaded_flow_validator
    if Flow.__pydantic_complete__ or _flow_validator_loader is None:
        return Flow.__pydantic_validator__
    if _loaded_flow_validator is None:
        _loaded_flow_validator = _flow_validator_loader()
    return _loaded_flow_validator


def parse_flow(doc: Any) -> Flow:
    """A Flow from a decoded YAML/JSON document; raises SpecError naming every bad field."""
    flow = _parse_document(Flow, doc, "Flow")
    assert isinstance(flow, Flow)
    return flow


def parse_execution(doc: Any) -> Execution:
    execution = _parse_document(Execution, doc, "Execution")
    assert isinstance(execution, Execution)
    return execution


__all__ = [
    "API_GROUP",
    "API_VERSION",
    "CONDITION_SUCCEEDED",
    "GROUP_VERSION",
    "LABEL_ATTEMPT",
    "LABEL_BACKFILL",
    "LABEL_EXECUTION",
    "LABEL_FLOW",
    "LABEL_ITERATION",
    "LABEL_TASK",
    "LABEL_TRIGGER",
    "MAX_DEPTH",
    "OPERATOR_TRIGGERS",
    "PERSON_TRIGGERS",
    "RESTARTABLE",
    "RUNNABLE_TYPES",
    "SELF_SUBJECT_REVIEW",
    "SELF_SUBJECT_REVIEW_PATH",
    "STEERING_ACTIONS",
    "TASK_MODELS",
    "TERMINAL",
    "TRIGGER_MODELS",
    "AnyTask",
    "AnyTrigger",
    "Attempt",
    "Backoff",
    "CallAnyTask",
    "CallTask",
    "CatchUp",
    "ChildGroup",
    "Concurrency",
    "ConcurrencyBehavior",
    "Condition",
    "ConditionStatus",
    "ContainerTask",
    "Duration",
    "EachTask",
    "EnvVar",
    "Execution",
    "ExecutionSpec",
    "ExecutionStatus",
    "FailTask",
    "Flow",
    "FlowOutput",
    "FlowSpec",
    "FlowStatus",
    "FlowTrigger",
    "FlowableBase",
    "HttpTask",
    "IfTask",
    "Input",
    "InputType",
    "LastExecution",
    "LogLevel",
    "LogTask",
    "Model",
    "NotifyTask",
    "ObjectMeta",
    "ObjectRef",
    "ParallelTask",
    "ParentRef",
    "PauseTask",
    "PythonTask",
    "ReplaySource",
    "Require",
    "ResolvedTemplate",
    "ResourceEvent",
    "ResourceTrigger",
    "Resources",
    "Retention",
    "Retry",
    "ReturnTask",
    "RunWhen",
    "RunnableAnyTask",
    "ScheduleTrigger",
    "SecretKeyRef",
    "SequentialTask",
    "ShellTask",
    "SpecError",
    "SqlTask",
    "State",
    "SteeringError",
    "StoredOutputs",
    "SubflowTask",
    "SwitchCase",
    "SwitchTask",
    "Task",
    "TaskDefault",
    "TaskRun",
    "TaskType",
    "TemplateKind",
    "TemplateRef",
    "TemplateTask",
    "Trigger",
    "TriggerInfo",
    "TriggerKind",
    "TriggerStatus",
    "TriggerType",
    "UnknownRequesterError",
    "UpstreamFlow",
    "Verdict",
    "WebhookTrigger",
    "attempt_of_pod",
    "build_models",
    "child_groups",
    "coerce_inputs",
    "find_condition",
    "format_duration",
    "is_terminal",
    "load_flow_validator_with",
    "new_execution",
    "parse_execution",
    "parse_flow",
    "paused_task",
    "problems_from",
    "published_outputs",
    "restore_runs",
    "steering_patch",
    "tag_of",
    "task_run_counts",
    "task_runs_of",
    "to_timedelta",
    "too_deep",
    "username_of",
    "value_templates",
    "walk_tasks",
    "with_condition",
    "with_requester",
]
