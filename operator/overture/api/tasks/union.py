"""The task union: every kind of task, tagged by ``type`` and written once (``AnyTask``, ``Task``),
and what is read from it (``TASK_MODELS``, ``RUNNABLE_TYPES``, ``walk_tasks``)."""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from overture.api.common import tag_of
from overture.api.tasks.base import TaskBase
from overture.api.tasks.calls import HttpTask, NotifyTask, SqlTask
from overture.api.tasks.control import FailTask, LogTask, PauseTask, ReturnTask, SubflowTask
from overture.api.tasks.flowable import EachTask, IfTask, ParallelTask, SequentialTask, SwitchTask
from overture.api.tasks.runnable import ContainerTask, PythonTask, ShellTask
from overture.api.tasks.template import TemplateTask

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
    | LogTask
    | ReturnTask
    | HttpTask
    | SqlTask
    | NotifyTask
    | TemplateTask
)
Task = Annotated[AnyTask, Field(discriminator="type")]
RunnableAnyTask = ShellTask | PythonTask | ContainerTask
CallAnyTask = HttpTask | SqlTask | NotifyTask

TASK_MODELS: tuple[type[TaskBase], ...] = get_args(AnyTask)
RUNNABLE_TYPES = frozenset(tag_of(model) for model in get_args(RunnableAnyTask))


def child_groups(task: AnyTask) -> list[tuple[str, tuple[AnyTask, ...]]]:
    """The nested task lists of a flowable task, each with its field path (for problems' paths)."""
    return [(group.field, group.tasks) for group in task.groups()]


def walk_tasks(tasks: tuple[AnyTask, ...], path: str) -> list[tuple[str, AnyTask]]:
    """Every task in ``tasks`` and below, depth first, with its path (``spec.tasks[1].tasks[0]``)."""
    found: list[tuple[str, AnyTask]] = []
    for index, task in enumerate(tasks):
        here = f"{path}[{index}]"
        found.append((here, task))
        for field, group in child_groups(task):
            found.extend(walk_tasks(group, f"{here}.{field}"))
    return found
