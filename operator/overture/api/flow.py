"""The Flow custom resource: a declared pipeline of tasks, inputs and triggers.

``taskDefaults`` are merged into matching task declarations before validation (a task's own
values win), so the parsed spec is the effective one: what the engine runs and what an
Execution snapshots. Mappings merge key by key, as Kestra's plugin defaults do (a default
``retry.maxAttempts`` survives a task that sets only ``retry.interval``); lists are replaced.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, JsonValue, model_validator

from overture.api.common import GROUP_VERSION, INPUT_ID_PATTERN, Condition, Duration, Model, ResourceId
from overture.api.inputs import Input
from overture.api.states import State
from overture.api.tasks import CHILD_LIST_FIELDS, RUNNABLE_TYPES, Task, TaskType
from overture.api.times import Time
from overture.api.triggers import Trigger


class ConcurrencyBehavior(StrEnum):
    QUEUE = "QUEUE"  # wait until a slot frees
    CANCEL = "CANCEL"  # the new execution ends CANCELLED at once
    FAIL = "FAIL"  # the new execution ends FAILED at once


class Concurrency(Model):
    limit: int = Field(ge=1, description="Executions of this flow running at once")
    behavior: ConcurrencyBehavior = ConcurrencyBehavior.QUEUE


class TaskDefault(Model):
    """Values applied to every task of ``type`` (every runnable task when ``type`` is unset)."""

    type: TaskType | None = None
    values: dict[str, JsonValue] = Field(min_length=1)


class Retention(Model):
    """Which finished executions (and their Jobs) are kept. Both limits apply."""

    keep: int = Field(default=100, ge=1, le=100000, description="Newest finished executions kept")
    ttl: Duration | None = Field(default="30d", description="Finished executions older than this go")


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; mappings present in both are merged the same way."""
    merged = dict(base)
    for key, value in override.items():
        below = merged.get(key)
        merged[key] = _deep_merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def _apply_task_defaults(tasks: Any, defaults: list[dict[str, Any]]) -> Any:
    if not isinstance(tasks, list):
        return tasks
    out = []
    for task in tasks:
        if not isinstance(task, dict):
            out.append(task)
            continue
        merged: dict[str, Any] = {}
        for default in defaults:
            wanted = default.get("type")
            task_type = task.get("type")
            runnable = isinstance(task_type, str) and task_type in RUNNABLE_TYPES  # a list or a dict: not hashable
            applies = (wanted is None and runnable) or (wanted == task_type)
            if applies and isinstance(default.get("values"), dict):
                merged = _deep_merge(merged, default["values"])
        merged = _deep_merge(merged, task)
        for field in CHILD_LIST_FIELDS:
            if field in merged:
                merged[field] = _apply_task_defaults(merged[field], defaults)
        if isinstance(merged.get("cases"), list):
            merged["cases"] = [
                {**case, "tasks": _apply_task_defaults(case.get("tasks"), defaults)} if isinstance(case, dict) else case
                for case in merged["cases"]
            ]
        out.append(merged)
    return out


class FlowOutput(Model):
    """A value the flow returns (Kestra's flow ``outputs``), rendered once its tasks succeeded."""

    id: str = Field(
        pattern=INPUT_ID_PATTERN, max_length=63, description="Read as {{ outputs.<subflow task>.outputs.<id> }}"
    )
    value: JsonValue = Field(description="Strings inside are templates, e.g. {{ outputs.load.rows }}")
    description: str | None = None


class FlowSpec(Model):
    description: str | None = None
    inputs: tuple[Input, ...] = ()
    variables: dict[str, JsonValue] = Field(default_factory=dict, description="Read as {{ vars.name }}")
    labels: dict[str, str] = Field(default_factory=dict, description="Copied onto every execution")
    concurrency: Concurrency | None = None
    service_account_name: str | None = Field(default=None, description="Task pods run under this account")
    task_defaults: tuple[TaskDefault, ...] = ()
    tasks: tuple[Task, ...] = Field(min_length=1)
    errors: tuple[Task, ...] = Field(default=(), description="Run when a task fails")
    finally_: tuple[Task, ...] = Field(default=(), alias="finally", description="Always run, last")
    triggers: tuple[Trigger, ...] = ()
    timeout: Duration | None = Field(default=None, description="Whole execution; running tasks are killed")
    suspend: bool = Field(default=False, description="A suspended flow's triggers fire nothing")
    retention: Retention | None = None
    outputs: tuple[FlowOutput, ...] = Field(
        default=(),
        description=(
            "Values the run returns once its tasks succeeded (status.outputs): what a parent's subflow task"
            " and a flow trigger read instead of the tasks' outputs"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _merge_task_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = data.get("taskDefaults") or data.get("task_defaults")
        if not isinstance(defaults, list) or not defaults:
            return data
        good = [d for d in defaults if isinstance(d, dict)]
        data = dict(data)
        for field in ("tasks", "errors", "finally"):
            if field in data:
                data[field] = _apply_task_defaults(data[field], good)
        return data


class TriggerStatus(Model):
    id: ResourceId
    type: str
    timezone: str | None = None
    last_tick: Time | None = Field(default=None, description="RFC 3339; the newest tick that fired")
    next_tick: Time | None = None
    message: str | None = None


class LastExecution(Model):
    name: str
    state: State
    start_date: Time | None = None


class FlowStatus(Model):
    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    task_count: int | None = None
    trigger_summary: str | None = Field(default=None, description="e.g. schedule,webhook (printer column)")
    triggers: tuple[TriggerStatus, ...] = ()
    last_execution: LastExecution | None = None


class ObjectMeta(Model):
    """The parts of metadata the models read. Everything else is kept by the API server."""

    model_config = Model.model_config | {"extra": "ignore"}

    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: Time | None = None
    resource_version: str | None = None


class Resource(Model):
    """An object of the API server: its ``apiVersion`` and ``kind`` are written even at their defaults."""

    api_version: str = GROUP_VERSION
    kind: str
    metadata: ObjectMeta

    def to_wire(self) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, **super().to_wire()}


class Flow(Resource):
    """A declared pipeline: tasks, inputs, triggers, retries and error handlers."""

    kind: str = "Flow"
    spec: FlowSpec
    status: FlowStatus | None = None
