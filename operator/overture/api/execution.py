"""The Execution custom resource: one run of a flow.

``spec`` is written by people, the CLI and triggers; it is also how people steer a run:
``suspend`` pauses it, ``kill`` kills it, bumping ``restarts`` reruns the failed task runs and
bumping ``resumes`` continues a ``pause`` task (with ``resumeInputs``). Each is level-based or a
counter, so the operator reacts exactly once to each request, even after a restart.

``status`` is written by the operator only. It holds the flow spec the run was started with
(``flowSpec``): editing a Flow never changes a running Execution.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field, JsonValue, ValidatorFunctionWrapHandler, field_validator, model_validator

from overture.api.common import LABEL_FLOW, Condition, Model, ObjectRef
from overture.api.flow import FlowSpec, ObjectMeta, Resource
from overture.api.run_archive import ChunkCache, count_states, shown_in_full, task_runs_of
from overture.api.states import State
from overture.api.tasks import PauseTask, TemplateKind, walk_tasks
from overture.api.times import Time

CONDITION_SUCCEEDED = "Succeeded"


class TriggerKind(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    BACKFILL = "backfill"
    WEBHOOK = "webhook"
    FLOW = "flow"
    RESOURCE = "resource"
    SUBFLOW = "subflow"
    REPLAY = "replay"


class TriggerInfo(Model):
    """What started the execution; readable in templates as ``{{ trigger.* }}``."""

    type: TriggerKind = TriggerKind.MANUAL
    id: str | None = Field(default=None, description="The trigger's id in the flow")
    date: str | None = Field(default=None, description="RFC 3339; the schedule tick, or the event time")
    data: JsonValue = Field(default=None, description="Webhook body, upstream outputs or the watched object, by type")


class ReplaySource(Model):
    execution: str = Field(min_length=1, description="Execution (same namespace) whose outputs are reused")
    from_task: str = Field(min_length=1, description="First task run again; earlier ones are copied")


class ParentRef(Model):
    execution: str
    task_run: str


class ExecutionSpec(Model):
    flow_ref: ObjectRef
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    trigger: TriggerInfo = Field(default_factory=TriggerInfo)
    labels: dict[str, str] = Field(default_factory=dict)
    suspend: bool = Field(default=False, description="true: start no new task; false: carry on")
    kill: bool = Field(default=False, description="true: kill running tasks and end KILLED")
    restarts: int = Field(default=0, ge=0, description="Bump to rerun failed task runs")
    resumes: int = Field(default=0, ge=0, description="Bump to continue a waiting pause task")
    resume_inputs: dict[str, JsonValue] = Field(default_factory=dict)
    replay: ReplaySource | None = None
    parent: ParentRef | None = Field(default=None, description="Set on executions started by a subflow task")
    requested_by: str | None = Field(
        default=None,
        description="The Kubernetes user who created the execution (overture run, the UI and the operator "
        "write it; the chart's admission policy checks it against the creator and keeps it from changing)",
    )


class Attempt(Model):
    attempt: int = Field(ge=1)
    job: str
    state: State
    pod: str | None = None
    start_date: Time | None = None
    end_date: Time | None = None
    exit_code: int | None = None
    message: str | None = None


class StoredOutputs(Model):
    """Outputs too big for a status: in the artifact store as the attempt's outputs.json."""

    job: str = Field(description="The attempt's Job; the object is <namespace>/<execution>/<job>/outputs.json")
    size: int = Field(ge=0, description="Bytes of JSON")


class TaskRun(Model):
    """One run of one task (per iteration of an enclosing ``each``), with its attempts."""

    id: str = Field(description="Unique in the execution: task id, plus .<iteration> under each")
    task_id: str
    state: State
    parent: str | None = Field(default=None, description="Id of the enclosing flowable task run")
    iteration: int | None = None
    value: JsonValue = Field(default=None, description="The item of the enclosing each")
    attempts: tuple[Attempt, ...] = ()
    outputs: dict[str, JsonValue] | None = None
    outputs_stored: StoredOutputs | None = Field(
        default=None, description="Set instead of outputs when they are over the inline limit"
    )
    start_date: Time | None = None
    end_date: Time | None = None
    next_attempt_at: Time | None = Field(default=None, description="When RETRYING, the next attempt's time")
    child_execution: str | None = None
    resumed_at: int | None = Field(default=None, description="spec.resumes seen when a pause began")
    message: str | None = None


class ArchivedRuns(Model):
    """Finished task runs not written in full in ``taskRuns`` (api/run_archive.py)."""

    encoding: str = Field(description="zlib+base64: each chunk is base64 of zlib-compressed JSON")
    runs: int = Field(ge=0, description="How many task runs are archived")
    chunks: tuple[str, ...] = Field(
        default=(), description="Every task run in order: an archived run's JSON, or the id of one in taskRuns"
    )


class ResolvedTemplate(Model):
    """The template a template task ran: what its version range resolved to when the run started."""

    task_id: str
    kind: TemplateKind
    name: str
    version: str
    object_name: str = Field(description="The TaskTemplate or ClusterTaskTemplate object")
    spec_hash: str = Field(description="sha256 of the object's spec as stored (specs are immutable)")


class ExecutionStatus(Model):
    observed_generation: int | None = None
    state: State = State.CREATED
    conditions: tuple[Condition, ...] = ()
    flow_spec: FlowSpec | None = Field(
        default=None,
        description="The flow spec this run started with",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    flow_generation: int | None = None
    inputs: dict[str, JsonValue] | None = None
    start_date: Time | None = None
    end_date: Time | None = None
    duration: str | None = Field(default=None, description="e.g. 1m30s, set when the run ends")
    task_runs: tuple[TaskRun, ...] = ()
    restarts: int = Field(default=0, description="spec.restarts already acted upon")
    message: str | None = None
    outputs: dict[str, JsonValue] | None = Field(
        default=None, description="The flow's outputs (spec.outputs), set when its tasks succeeded"
    )
    task_run_counts: dict[str, int] | None = Field(
        default=None, description="Task runs by state, archived ones included; written with the status, not read"
    )
    archived_runs: ArchivedRuns | None = Field(
        default=None, description="Finished task runs past the first 200, compressed; read back into taskRuns"
    )
    templates: tuple[ResolvedTemplate, ...] = Field(
        default=(),
        description=(
            "Per template task, the template it ran (kind, name, version, spec hash); flowSpec holds the container"
            " task it became"
        ),
    )

    @field_validator("flow_spec", mode="wrap")
    @classmethod
    def _snapshot_once(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """The same snapshot (by its JSON) is parsed once: a reconcile of a 5,000-task flow would
        otherwise spend most of its time parsing a spec that never changes during the run."""
        if not isinstance(value, dict):
            return handler(value)
        key = json.dumps(value, separators=(",", ":"))
        spec = _SNAPSHOTS.get(key)
        if spec is None:
            spec = handler(value)
            _SNAPSHOTS[key] = spec
            if len(_SNAPSHOTS) > SNAPSHOTS_KEPT:
                del _SNAPSHOTS[next(iter(_SNAPSHOTS))]  # the oldest
        return spec

    @model_validator(mode="before")
    @classmethod
    def _restore_archived_runs(cls, data: Any) -> Any:
        """Archived runs back in ``taskRuns``; the counts are written, never read (they could be stale)."""
        if not isinstance(data, dict) or not _DERIVED.intersection(data):
            return data
        restored = {key: value for key, value in data.items() if key not in _DERIVED}
        if data.get("archivedRuns"):
            restored["taskRuns"] = _ARCHIVE.read(data["archivedRuns"], list(data.get("taskRuns") or []), _run_id)
        return restored

    def to_wire(self) -> dict[str, Any]:
        """The wire form; past 200 task runs, the finished ones (but the first failures) archived."""
        wire = self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True, exclude={"task_runs"}
        )
        if not self.task_runs:
            return wire
        states = [run.state.value for run in self.task_runs]
        shown = shown_in_full(states)
        wire["taskRunCounts"] = count_states(states)
        wire["taskRuns"] = [run.to_wire() for run, keep in zip(self.task_runs, shown, strict=True) if keep]
        if not all(shown):
            wire["archivedRuns"] = _ARCHIVE.write(self.task_runs, shown, _run_id)
        return wire


_DERIVED = frozenset({"archivedRuns", "taskRunCounts"})
SNAPSHOTS_KEPT = 64
_SNAPSHOTS: dict[str, FlowSpec] = {}  # flowSpec JSON -> the parsed snapshot (frozen: shared)


def _run_id(run: Any) -> str:
    return run.id if isinstance(run, TaskRun) else str(run.get("id")) if isinstance(run, dict) else ""


# Chunks of archived runs lately read and written, parsed and encoded: a reconcile of a big
# execution costs the chunks that changed, not every run (api/run_archive.py).
_ARCHIVE: ChunkCache[TaskRun] = ChunkCache(TaskRun.model_validate, TaskRun.to_wire)


class Execution(Resource):
    """One run of a flow, with its inputs, trigger and the state of every task run."""

    kind: str = "Execution"
    spec: ExecutionSpec
    status: ExecutionStatus | None = None

    def to_wire(self) -> dict[str, Any]:
        """``Resource.to_wire``, with the status as ``ExecutionStatus.to_wire`` writes it (runs archived)."""
        wire = super().to_wire()
        if self.status is not None:
            wire["status"] = self.status.to_wire()
        return wire

    def to_manifest(self) -> dict[str, Any]:
        """The object to create: ``to_wire()``, with ``spec.inputs`` and ``spec.trigger.type`` written
        even at their defaults (``{}``, ``manual``): kubectl's TRIGGER column reads the type."""
        wire = self.to_wire()
        spec = wire["spec"]
        spec["inputs"] = spec.get("inputs", {})
        spec["trigger"] = {"type": self.spec.trigger.type.value, **spec.get("trigger", {})}
        return wire


def new_execution(
    name: str, namespace: str | None, spec: ExecutionSpec, labels: Mapping[str, str] | None = None
) -> Execution:
    """An Execution to create, labelled with its flow (``overture.dev/flow``) and ``labels``."""
    meta = ObjectMeta(name=name, namespace=namespace, labels={LABEL_FLOW: spec.flow_ref.name, **(labels or {})})
    return Execution(metadata=meta, spec=spec)


def paused_task(execution: Mapping[str, Any]) -> PauseTask | None:
    """The ``pause`` task a PAUSED task run of ``execution`` (a plain object) waits in, from its flow snapshot."""
    status = execution.get("status") or {}
    paused = [r["taskId"] for r in status.get("taskRuns") or [] if r.get("state") == State.PAUSED.value]
    if not paused or not status.get("flowSpec"):
        return None
    flow = FlowSpec.model_validate(status["flowSpec"])
    tasks = {t.id: t for _, t in walk_tasks((*flow.tasks, *flow.errors, *flow.finally_), "")}
    task = tasks.get(paused[0])
    return task if isinstance(task, PauseTask) else None


def published_outputs(status: Mapping[str, Any]) -> dict[str, Any]:
    """What a run (its status as found in the object) gives a parent's subflow task and a flow
    trigger: the flow's ``outputs`` when it declares them, else its top-level task runs' outputs
    by task id."""
    flow_outputs = status.get("outputs")
    if isinstance(flow_outputs, dict):
        return dict(flow_outputs)
    return {
        run["taskId"]: run.get("outputs")
        for run in task_runs_of(status)
        if run.get("outputs") is not None and "[" not in str(run.get("id"))
    }
