"""Tasks the engine decides by itself, with no pod, no request and no nested task list:
``pause``, ``subflow`` (starts a child Execution), ``fail``, ``log`` and ``return``."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Literal

from pydantic import Field, JsonValue

from overture.api.common import Duration, ObjectRef
from overture.api.inputs import Input
from overture.api.tasks.base import TaskBase, value_templates


class PauseTask(TaskBase):
    type: Literal["pause"]
    delay: Duration | None = Field(default=None, description="Resume by itself after this; without it, wait")
    on_resume: tuple[Input, ...] = Field(default=(), description="Inputs a person gives when resuming")

    def detail(self) -> str:
        return f" ({self.delay})" if self.delay else " (until resumed)"


class SubflowTask(TaskBase):
    type: Literal["subflow"]
    flow_ref: ObjectRef
    inputs: dict[str, JsonValue] = Field(default_factory=dict, description="Values may be templates")
    wait: bool = Field(default=True, description="Wait for the child; its outputs become this task's")
    transmit_failure: bool = Field(default=True, description="A failed child fails this task")

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield from value_templates("inputs", self.inputs)

    def detail(self) -> str:
        return f" -> {self.flow_ref.name}"


class FailTask(TaskBase):
    type: Literal["fail"]
    message: str = Field(default="Failed by a fail task", description="Template")

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield "message", self.message


class LogLevel(StrEnum):
    INFO = "INFO"
    WARN = "WARN"


class LogTask(TaskBase):
    """Says something in the operator, without a pod (Kestra's Log): the rendered message is the
    run's ``outputs.message`` and an Event on the execution (a Warning for ``WARN``)."""

    type: Literal["log"]
    message: str = Field(description="Template")
    level: LogLevel = LogLevel.INFO

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield "message", self.message


class ReturnTask(TaskBase):
    """Computes a value in the operator, without a pod (Kestra's Return): ``outputs.value``."""

    type: Literal["return"]
    value: JsonValue = Field(description="Strings inside are templates, e.g. {{ outputs.count.rows * 2 }}")

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield from value_templates("value", self.value)
