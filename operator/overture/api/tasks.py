"""Task declarations: what a flow runs.

Runnable tasks (``shell``, ``python``, ``container``) become one Job per attempt. Flowable tasks
(``parallel``, ``sequential``, ``each``, ``if``, ``switch``, ``pause``, ``subflow``, ``fail``)
control other tasks and are decided by the engine inside the operator; they never get a pod.

A task is a tagged union on ``type``. String fields documented as templates are rendered with
the sandboxed Jinja2 of ``overture.templating`` when the task starts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, JsonValue, field_validator, model_validator

from overture.api.common import ENV_NAME_PATTERN, Duration, Model, ObjectRef, ResourceId, SecretKeyRef
from overture.api.inputs import Input


class TaskType(StrEnum):
    SHELL = "shell"
    PYTHON = "python"
    CONTAINER = "container"
    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"
    EACH = "each"
    IF = "if"
    SWITCH = "switch"
    PAUSE = "pause"
    SUBFLOW = "subflow"
    FAIL = "fail"


RUNNABLE_TYPES = frozenset({TaskType.SHELL, TaskType.PYTHON, TaskType.CONTAINER})

DEFAULT_IMAGES = {TaskType.SHELL: "busybox:1.36", TaskType.PYTHON: "python:3.12-slim"}


class Backoff(StrEnum):
    CONSTANT = "constant"
    EXPONENTIAL = "exponential"
    RANDOM = "random"


class Retry(Model):
    """How a failed attempt is retried. Every attempt is its own Job, so each one stays visible."""

    backoff: Backoff = Backoff.CONSTANT
    max_attempts: int = Field(default=3, ge=1, le=100, description="Attempts in all, the first included")
    interval: Duration = Field(default="10s", description="Wait before the 2nd attempt (exponential: base)")
    max_interval: Duration | None = Field(default=None, description="Cap of exponential/random waits")
    min_interval: Duration | None = Field(default=None, description="Floor of random waits")
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0, description="Growth factor of exponential")
    max_duration: Duration | None = Field(default=None, description="No new attempt after this since the first")


class EnvVar(Model):
    """An environment variable: a templated ``value`` or a ``secretKeyRef`` (never copied anywhere)."""

    name: str = Field(pattern=ENV_NAME_PATTERN, max_length=253)
    value: str | None = None
    secret_key_ref: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        if (self.value is None) == (self.secret_key_ref is None):
            raise ValueError("set exactly one of 'value' or 'secretKeyRef'")
        return self


class Resources(Model):
    """Container resources, as Kubernetes quantities (``cpu: 500m``, ``memory: 256Mi``)."""

    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _quantities_as_text(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: str(v) if isinstance(v, (int, float)) else v for k, v in value.items()}
        return value


class TaskBase(Model):
    id: ResourceId
    description: str | None = None
    depends_on: tuple[str, ...] = Field(
        default=(),
        description="Ids of tasks that must end in SUCCESS or WARNING first; turns the list into a DAG",
    )
    run_if: str | None = Field(default=None, description="Template; a false result gives SKIPPED")
    disabled: bool = Field(default=False, description="A disabled task is skipped as if it were not there")
    allow_failure: bool = Field(default=False, description="A failure makes the run WARNING, not FAILED")
    timeout: Duration | None = Field(
        default=None,
        description=(
            "Counted from the task run's start, per attempt for shell, python and container; past it the"
            " task fails: its Job is deleted, a subflow's child execution is killed, what still runs inside"
            " a flowable is stopped, a pause stops waiting"
        ),
    )
    retry: Retry | None = None


class RunnableTask(TaskBase):
    image: str | None = Field(default=None, description="Container image; shell and python have defaults")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    env: tuple[EnvVar, ...] = ()
    resources: Resources | None = None
    input_files: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Files written into the work dir before the command, path -> template: a file reference"
            " (outputs.<task>.files['<path>'], a FILE input) is downloaded, anything else is the text"
        ),
    )
    output_files: tuple[str, ...] = Field(
        default=(),
        description=(
            "Globs relative to the work dir (** spans directories); the files they match are stored"
            " and reachable as outputs.<task>.files['<path>']"
        ),
    )

    @field_validator("input_files")
    @classmethod
    def _relative_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value:
            _check_relative(path)
        return value

    @field_validator("output_files")
    @classmethod
    def _relative_globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for glob in value:
            _check_relative(glob)
        return value


def _check_relative(path: str) -> None:
    """A path or glob inside the work dir, as the wrapper accepts it (wrapper/spec.go)."""
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{path!r} must be a relative path inside the work dir (no leading /, no ..)")


class ShellTask(RunnableTask):
    type: Literal["shell"]
    commands: tuple[str, ...] = Field(min_length=1, description="Templates, run in order by /bin/sh -ec")


class PythonTask(RunnableTask):
    type: Literal["python"]
    script: str = Field(min_length=1, description="Template of a Python script, run by python3")


class ContainerTask(RunnableTask):
    type: Literal["container"]
    image: str = Field(min_length=1)
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _files_need_a_command(self) -> ContainerTask:
        # The wrapper runs the command it is given: an image's own entrypoint is not known here.
        if (self.input_files or self.output_files) and not self.command:
            raise ValueError("inputFiles and outputFiles need 'command' (the image's entrypoint is not known)")
        return self


class ParallelTask(TaskBase):
    type: Literal["parallel"]
    tasks: tuple[Task, ...] = Field(min_length=1)
    concurrency: int = Field(default=0, ge=0, description="Children running at once; 0 means all")


class SequentialTask(TaskBase):
    type: Literal["sequential"]
    tasks: tuple[Task, ...] = Field(min_length=1)


class EachTask(TaskBase):
    type: Literal["each"]
    items: str | tuple[JsonValue, ...] = Field(
        description="A list, or a template rendering to a JSON array (e.g. {{ outputs.list.files }})"
    )
    tasks: tuple[Task, ...] = Field(min_length=1)
    concurrency_limit: int = Field(default=1, ge=0, description="Iterations running at once; 0 means all")


class IfTask(TaskBase):
    type: Literal["if"]
    condition: str = Field(description="Template; true unless it renders to '', false, 0, no, off, none")
    then: tuple[Task, ...] = Field(min_length=1)
    else_: tuple[Task, ...] = Field(default=(), alias="else")


class SwitchCase(Model):
    value: str
    tasks: tuple[Task, ...] = Field(min_length=1)


class SwitchTask(TaskBase):
    type: Literal["switch"]
    value: str = Field(description="Template whose rendered value selects a case")
    cases: tuple[SwitchCase, ...] = Field(min_length=1)
    defaults: tuple[Task, ...] = ()


class PauseTask(TaskBase):
    type: Literal["pause"]
    delay: Duration | None = Field(default=None, description="Resume by itself after this; without it, wait")
    on_resume: tuple[Input, ...] = Field(default=(), description="Inputs a person gives when resuming")


class SubflowTask(TaskBase):
    type: Literal["subflow"]
    flow_ref: ObjectRef
    inputs: dict[str, JsonValue] = Field(default_factory=dict, description="Values may be templates")
    wait: bool = Field(default=True, description="Wait for the child; its outputs become this task's")
    transmit_failure: bool = Field(default=True, description="A failed child fails this task")


class FailTask(TaskBase):
    type: Literal["fail"]
    message: str = Field(default="Failed by a fail task", description="Template")


Task = Annotated[
    ShellTask
    | PythonTask
    | ContainerTask
    | ParallelTask
    | SequentialTask
    | EachTask
    | IfTask
    | SwitchTask
    | PauseTask
    | SubflowTask
    | FailTask,
    Field(discriminator="type"),
]

AnyTask = (
    ShellTask
    | PythonTask
    | ContainerTask
    | ParallelTask
    | SequentialTask
    | EachTask
    | IfTask
    | SwitchTask
    | PauseTask
    | SubflowTask
    | FailTask
)
RunnableAnyTask = ShellTask | PythonTask | ContainerTask

for _model in (ParallelTask, SequentialTask, EachTask, IfTask, SwitchCase, SwitchTask):
    _model.model_rebuild()


def child_groups(task: AnyTask) -> list[tuple[str, tuple[AnyTask, ...]]]:
    """The nested task lists of a flowable task, each with its field name (for paths)."""
    if isinstance(task, (ParallelTask, SequentialTask, EachTask)):
        return [("tasks", task.tasks)]
    if isinstance(task, IfTask):
        return [("then", task.then), ("else", task.else_)]
    if isinstance(task, SwitchTask):
        groups: list[tuple[str, tuple[AnyTask, ...]]] = [
            (f"cases[{i}].tasks", case.tasks) for i, case in enumerate(task.cases)
        ]
        groups.append(("defaults", task.defaults))
        return groups
    return []


def walk_tasks(tasks: tuple[AnyTask, ...], path: str) -> list[tuple[str, AnyTask]]:
    """Every task in ``tasks`` and below, depth first, with its path (``spec.tasks[1].tasks[0]``)."""
    found: list[tuple[str, AnyTask]] = []
    for index, task in enumerate(tasks):
        here = f"{path}[{index}]"
        found.append((here, task))
        for field, group in child_groups(task):
            found.extend(walk_tasks(group, f"{here}.{field}"))
    return found
