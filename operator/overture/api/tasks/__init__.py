"""Task declarations: what a flow runs.

Runnable tasks (``shell``, ``python``, ``container``) become one Job per attempt; a ``template``
task names a TaskTemplate and becomes a ``container`` task when its execution starts. Call tasks
(``http``, ``sql``, ``notify``) are one request per attempt made by the operator, no pod. Flowable tasks
(``parallel``, ``sequential``, ``each``, ``if``, ``switch``) run nested task lists, and ``pause``,
``subflow``, ``fail``, ``log`` and ``return`` are decided by the engine too: none of them gets a pod.

A task is a tagged union on ``type``, written once (``AnyTask``). String fields documented as
templates are rendered with the sandboxed Jinja2 of ``overture.templating`` when the task starts.

What each kind of task is made of is said here, once, by its model: ``groups()`` (the nested task
lists of a flowable, for validation, the engine, restarts and graphs), ``templates()`` (its
templated fields, for validation), ``detail()`` (how a graph describes it), ``retryable`` and
``default_image``. How the engine runs each kind is in ``engine/kinds.py``, one class per kind.

One module per family, each importing only ``base``; ``union`` puts them together:

- ``base``: ``TaskBase`` (id, dependencies, runIf, retry, timeout), ``TaskType``, ``Retry``, ``ChildGroup``;
- ``runnable``: shell, python, container (``EnvVar``, ``Resources``);
- ``calls``: http, sql, notify;
- ``control``: pause, subflow, fail, log, return;
- ``template``: template tasks (``TemplateRef``, ``TemplateKind``);
- ``flowable``: parallel, sequential, each, if, switch (their lists hold ``union.Task``);
- ``union``: ``AnyTask``, ``Task``, ``TASK_MODELS``, ``RUNNABLE_TYPES``, ``walk_tasks``.

This package re-exports them all: import from ``overture.api.tasks`` (or ``overture.api``).
"""

from overture.api.tasks.base import (
    CHILD_LIST_FIELDS,
    Backoff,
    ChildGroup,
    Retry,
    TaskBase,
    TaskType,
    value_templates,
)
from overture.api.tasks.calls import (
    CallTask,
    EmailTarget,
    HttpHeader,
    HttpTask,
    NotifyTask,
    SlackTarget,
    SmtpSettings,
    SqlConnection,
    SqlRowsTo,
    SqlTask,
)
from overture.api.tasks.control import FailTask, LogLevel, LogTask, PauseTask, ReturnTask, SubflowTask
from overture.api.tasks.flowable import (
    EachTask,
    FlowableBase,
    IfTask,
    ParallelTask,
    SequentialTask,
    SwitchCase,
    SwitchTask,
)
from overture.api.tasks.runnable import ContainerTask, EnvVar, PythonTask, Resources, RunnableTask, ShellTask
from overture.api.tasks.template import TemplateKind, TemplateRef, TemplateTask
from overture.api.tasks.union import (
    RUNNABLE_TYPES,
    TASK_MODELS,
    AnyTask,
    CallAnyTask,
    RunnableAnyTask,
    Task,
    child_groups,
    walk_tasks,
)

__all__ = [
    "CHILD_LIST_FIELDS",
    "RUNNABLE_TYPES",
    "TASK_MODELS",
    "AnyTask",
    "Backoff",
    "CallAnyTask",
    "CallTask",
    "ChildGroup",
    "ContainerTask",
    "EachTask",
    "EmailTarget",
    "EnvVar",
    "FailTask",
    "FlowableBase",
    "HttpHeader",
    "HttpTask",
    "IfTask",
    "LogLevel",
    "LogTask",
    "NotifyTask",
    "ParallelTask",
    "PauseTask",
    "PythonTask",
    "Resources",
    "Retry",
    "ReturnTask",
    "RunnableAnyTask",
    "RunnableTask",
    "SequentialTask",
    "ShellTask",
    "SlackTarget",
    "SmtpSettings",
    "SqlConnection",
    "SqlRowsTo",
    "SqlTask",
    "SubflowTask",
    "SwitchCase",
    "SwitchTask",
    "Task",
    "TaskBase",
    "TaskType",
    "TemplateKind",
    "TemplateRef",
    "TemplateTask",
    "child_groups",
    "value_templates",
    "walk_tasks",
]
