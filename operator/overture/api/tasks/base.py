"""What every task is made of: its id, when it runs (dependsOn, depends, runIf), its retry and
timeout, and how its kind describes itself (``groups()``, ``templates()``, ``detail()``).

The kinds are in the modules beside this one (``runnable``, ``calls``, ``control``, ``template``,
``flowable``); ``union`` makes them one tagged union.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from overture.api.common import Duration, Model, ResourceId
from overture.api.dependencies import (
    DependsError,
    RunWhen,
    Verdict,
    decide_depends,
    decide_rule,
    may_run_after_failure,
    names,
    parse_depends,
)
from overture.api.states import State

if TYPE_CHECKING:
    from overture.api.tasks.union import AnyTask


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
    LOG = "log"
    RETURN = "return"
    HTTP = "http"
    SQL = "sql"
    NOTIFY = "notify"
    TEMPLATE = "template"


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
    exit_codes: tuple[int, ...] = Field(
        default=(),
        description=(
            "Retry only an attempt that exited with one of these codes (one that timed out or lost its pod"
            " is then not retried); empty: every failure"
        ),
    )
    when: str | None = Field(
        default=None,
        description=(
            "Template; retry only when it renders true. Reads what the task reads, and attempt.number,"
            " attempt.exitCode, attempt.message of the attempt that failed"
        ),
    )
    warning_on_retry: bool = Field(
        default=False, description="A run that succeeded only after a retry ends WARNING (Kestra's warningOnRetry)"
    )


class TaskBase(Model):
    # Whether ``retry`` applies: each attempt is a new pod or a new call (the kinds that say so).
    retryable: ClassVar[bool] = False

    id: ResourceId
    description: str | None = None
    depends_on: tuple[str, ...] = Field(
        default=(),
        description=(
            "Ids of sibling tasks this one waits for; turns the list into a DAG. By default it runs when"
            " they all succeeded (SUCCESS or WARNING) and is skipped when one was skipped (runWhen)"
        ),
    )
    run_when: RunWhen = Field(
        default=RunWhen.ALL_SUCCEEDED,
        description="allSucceeded (default), allDone, anyFailed or noneFailed: when dependsOn lets it run",
    )
    depends: str | None = Field(
        default=None,
        description=(
            "Instead of dependsOn, an Argo-style condition on siblings: a.Failed || (b && !c.Skipped);"
            " results Succeeded (a bare id), Failed, Skipped, Done. True runs the task, false skips it"
        ),
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

    @field_validator("depends")
    @classmethod
    def _depends_reads(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_depends(value)
            except DependsError as exc:
                raise ValueError(f"{value!r} {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_way_to_depend(self) -> TaskBase:
        if self.depends is not None and self.depends_on:
            raise ValueError("set dependsOn (with runWhen) or depends, not both")
        if self.depends is not None and self.run_when != RunWhen.ALL_SUCCEEDED:
            raise ValueError("runWhen applies to dependsOn; a depends expression says when by itself")
        task_type = getattr(self, "type", None)
        if self.retry is not None and not self.retryable:
            inside = "on the child flow's tasks" if task_type == TaskType.SUBFLOW else "on the tasks inside it"
            raise ValueError(
                "retry applies to shell, python, container and template tasks (each attempt a new pod) and to http,"
                f" sql and notify tasks (each attempt a new call); a {task_type} task is never retried: remove retry,"
                f" or put it {inside}"
            )
        return self

    @property
    def needs(self) -> tuple[str, ...]:
        """The sibling ids this task waits for: ``dependsOn``, or the ids its ``depends`` reads."""
        return names(parse_depends(self.depends)) if self.depends is not None else self.depends_on

    def decide(self, states: Mapping[str, State | None]) -> tuple[Verdict, str | None]:
        """Whether it runs now, given the states of ``needs`` (None: not started)."""
        if self.depends is not None:
            return decide_depends(self.depends, states)
        return decide_rule(self.run_when, states)

    @property
    def runs_after_failure(self) -> bool:
        """Whether it may start after a failure in its list (that stops every other task)."""
        return may_run_after_failure(self.run_when, self.depends)

    def groups(self) -> tuple[ChildGroup, ...]:
        """The nested task lists this task runs: none, unless it is a flowable."""
        return ()

    def templates(self) -> Iterator[tuple[str, str]]:
        """(field path under the task, template) of every templated field, in field order."""
        if self.run_if is not None:
            yield "runIf", self.run_if
        yield from self._templates()
        if self.retry is not None and self.retry.when is not None:
            yield "retry.when", self.retry.when

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield from ()

    def detail(self) -> str:
        """What a graph shows after the type: `` (2 at a time)``, `` -> load-day``; often nothing."""
        return ""


# The wire names of the fields that hold a flowable's nested task lists (``groups()``), for reading
# a document before it is parsed (taskDefaults are merged into raw tasks); ``cases`` holds them one
# level down, in each case's ``tasks``.
CHILD_LIST_FIELDS = ("tasks", "then", "else", "defaults", "errors")


@dataclass(frozen=True)
class ChildGroup:
    """One nested task list of a flowable task."""

    field: str  # its path under the task (``then``, ``cases[0].tasks``), as problems name it
    label: str  # how a graph labels it (``then``, ``case 3``, ``each item``; "" for the one list of a group)
    tasks: tuple[AnyTask, ...]


def value_templates(path: str, value: Any) -> Iterator[tuple[str, str]]:
    """(path, text) of every string inside a JSON-like value: the templates of a mapping of inputs."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, sub in value.items():
            yield from value_templates(f"{path}.{key}", sub)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from value_templates(f"{path}[{i}]", sub)
