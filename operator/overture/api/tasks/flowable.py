"""Flowable tasks: ``parallel``, ``sequential``, ``each``, ``if`` and ``switch`` run nested task
lists (``groups()``), decided by the engine inside the operator; they never get a pod.

A nested list holds tasks of any kind, this one included: the fields name ``union.Task``, which
pydantic resolves when a model is first built (``defer_build``), after ``union`` is complete. The
import of ``union`` is therefore at the end of this module, where either import order works.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field, JsonValue

from overture.api.common import Model
from overture.api.tasks.base import ChildGroup, TaskBase


class FlowableBase(TaskBase):
    """A task that runs nested lists; ``errors`` run when a task inside fails (Kestra's errors on
    any flowable), before the flowable itself ends FAILED."""

    nested_only: ClassVar[bool] = True  # parsed inside a Flow's or an Execution's validator only

    errors: tuple[union.Task, ...] = Field(
        default=(), description="Run when a task inside fails, with {{ error.taskId }} and {{ error.message }}"
    )

    def groups(self) -> tuple[ChildGroup, ...]:
        errors = (ChildGroup("errors", "on failure", self.errors),) if self.errors else ()
        return (*self.own_groups(), *errors)

    def own_groups(self) -> tuple[ChildGroup, ...]:
        return ()


class ParallelTask(FlowableBase):
    type: Literal["parallel"]
    tasks: tuple[union.Task, ...] = Field(min_length=1)
    concurrency: int = Field(default=0, ge=0, description="Children running at once; 0 means all")

    def own_groups(self) -> tuple[ChildGroup, ...]:
        return (ChildGroup("tasks", "", self.tasks),)

    def detail(self) -> str:
        return f" ({self.concurrency} at a time)" if self.concurrency else " (all at once)"


class SequentialTask(FlowableBase):
    type: Literal["sequential"]
    tasks: tuple[union.Task, ...] = Field(min_length=1)

    def own_groups(self) -> tuple[ChildGroup, ...]:
        return (ChildGroup("tasks", "", self.tasks),)


class EachTask(FlowableBase):
    type: Literal["each"]
    items: str | tuple[JsonValue, ...] = Field(
        description="A list, or a template rendering to a JSON array (e.g. {{ outputs.list.files }})"
    )
    tasks: tuple[union.Task, ...] = Field(min_length=1)
    concurrency_limit: int = Field(default=1, ge=0, description="Iterations running at once; 0 means all")

    def own_groups(self) -> tuple[ChildGroup, ...]:
        return (ChildGroup("tasks", "each item", self.tasks),)

    def _templates(self) -> Iterator[tuple[str, str]]:
        if isinstance(self.items, str):
            yield "items", self.items

    def detail(self) -> str:
        return f" ({self.concurrency_limit} at a time)" if self.concurrency_limit else " (all at once)"


class IfTask(FlowableBase):
    type: Literal["if"]
    condition: str = Field(description="Template; true unless it renders to '', false, 0, no, off, none")
    then: tuple[union.Task, ...] = Field(min_length=1)
    else_: tuple[union.Task, ...] = Field(default=(), alias="else")

    def own_groups(self) -> tuple[ChildGroup, ...]:
        return (ChildGroup("then", "then", self.then), ChildGroup("else", "else", self.else_))

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield "condition", self.condition


class SwitchCase(Model):
    nested_only: ClassVar[bool] = True

    value: str
    tasks: tuple[union.Task, ...] = Field(min_length=1)


class SwitchTask(FlowableBase):
    type: Literal["switch"]
    value: str = Field(description="Template whose rendered value selects a case")
    cases: tuple[SwitchCase, ...] = Field(min_length=1)
    defaults: tuple[union.Task, ...] = ()

    def own_groups(self) -> tuple[ChildGroup, ...]:
        cases = (ChildGroup(f"cases[{i}].tasks", f"case {c.value}", c.tasks) for i, c in enumerate(self.cases))
        return (*cases, ChildGroup("defaults", "default", self.defaults))

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield "value", self.value


# The union holds the flowables above; see the module's docstring.
from overture.api.tasks import union  # noqa: E402
