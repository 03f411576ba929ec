"""Template tasks: a TaskTemplate or ClusterTaskTemplate with parameters, which becomes a
``container`` task when its execution starts (``overture.template_tasks``)."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field, JsonValue, field_validator

from overture.api.common import Model
from overture.api.tasks.base import TaskBase, value_templates
from overture.api.versions import range_problem


class TemplateKind(StrEnum):
    TASK_TEMPLATE = "TaskTemplate"  # in the flow's namespace
    CLUSTER_TASK_TEMPLATE = "ClusterTaskTemplate"  # for every namespace


class TemplateRef(Model):
    name: str = Field(min_length=1, max_length=63, description="The template's spec.name")
    version: str = Field(
        min_length=1,
        max_length=128,
        description="A version (1.2.0) or a range (^1.2, ~1.2, >=1.0 <2, 1.x); the highest match wins",
    )
    kind: TemplateKind = TemplateKind.TASK_TEMPLATE

    @field_validator("version")
    @classmethod
    def _a_range(cls, value: str) -> str:
        problem = range_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class TemplateTask(TaskBase):
    """A TaskTemplate or ClusterTaskTemplate with parameters: becomes a container task when the
    execution starts (``overture.template_tasks``), and runs as one."""

    retryable: ClassVar[bool] = True  # it runs as a container task: each attempt a new pod

    type: Literal["template"]
    template: TemplateRef
    with_: dict[str, JsonValue] = Field(
        default_factory=dict,
        alias="with",
        description="The template's parameters, checked against its schema; strings may be templates",
    )

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield from value_templates("with", self.with_)

    def detail(self) -> str:
        return f" -> {self.template.name} {self.template.version}"
