"""Task declarations: what a flow runs.

Runnable tasks (``shell``, ``python``, ``container``) become one Job per attempt; a ``template``
task names a TaskTemplate and becomes a ``container`` task when its execution starts. Call tasks
(``http``, ``sql``, ``notify``) are one request per attempt made by the operator, no pod. Flowable tasks
(``parallel``, ``sequential``, ``each``, ``if``, ``switch``, ``pause``, ``subflow``, ``fail``)
control other tasks and are decided by the engine inside the operator; they never get a pod.

A task is a tagged union on ``type``, written once (``AnyTask``). String fields documented as
templates are rendered with the sandboxed Jinja2 of ``overture.templating`` when the task starts.

What each kind of task is made of is said here, once, by its model: ``groups()`` (the nested task
lists of a flowable, for validation, the engine, restarts and graphs), ``templates()`` (its
templated fields, for validation), ``detail()`` (how a graph describes it) and ``default_image``.
How the engine runs each kind is in ``engine/kinds.py``, one class per kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import Field, JsonValue, field_validator, model_validator

from overture.api.common import ENV_NAME_PATTERN, Duration, Model, ObjectRef, ResourceId, SecretKeyRef, tag_of
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
from overture.api.inputs import Input
from overture.api.states import State
from overture.api.versions import range_problem


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
        if self.retry is not None and task_type not in RETRYABLE_TYPES:
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


class RunnableTask(TaskBase):
    default_image: ClassVar[str | None] = None  # the image when the task names none

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
    outputs_from: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Outputs read from files after the command, key -> path (relative to the work dir, or"
            " absolute): the output is the file's text without its trailing newline, as Argo's"
            " valueFrom.path; a file the command did not write fails the task"
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

    @field_validator("outputs_from")
    @classmethod
    def _output_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for key, path in value.items():
            if key == "files":
                raise ValueError("'files' is the output outputFiles fill; name this output differently")
            if not path or ".." in path.split("/"):
                raise ValueError(f"{key}: {path!r} must be a path to a file (no ..)")
        return value

    @property
    def uses_store(self) -> bool:
        """Whether the task runs under the wrapper with the artifact store (files, outputs from files)."""
        return bool(self.input_files or self.output_files or self.outputs_from)

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield from self._command_templates()
        for i, var in enumerate(self.env):
            if var.value is not None:
                yield f"env[{i}].value", var.value
        for path, value in self.input_files.items():
            yield f"inputFiles.{path}", value

    def _command_templates(self) -> Iterator[tuple[str, str]]:
        yield from ()


def _check_relative(path: str) -> None:
    """A path or glob inside the work dir, as the wrapper accepts it (wrapper/spec.go)."""
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{path!r} must be a relative path inside the work dir (no leading /, no ..)")


class ShellTask(RunnableTask):
    default_image: ClassVar[str | None] = "busybox:1.36"

    type: Literal["shell"]
    commands: tuple[str, ...] = Field(min_length=1, description="Templates, run in order by /bin/sh -ec")

    def _command_templates(self) -> Iterator[tuple[str, str]]:
        for i, command in enumerate(self.commands):
            yield f"commands[{i}]", command


class PythonTask(RunnableTask):
    default_image: ClassVar[str | None] = "python:3.12-slim"

    type: Literal["python"]
    script: str = Field(min_length=1, description="Template of a Python script, run by python3")

    def _command_templates(self) -> Iterator[tuple[str, str]]:
        yield "script", self.script


class ContainerTask(RunnableTask):
    type: Literal["container"]
    image: str = Field(min_length=1)
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _files_need_a_command(self) -> ContainerTask:
        # The wrapper runs the command it is given: an image's own entrypoint is not known here.
        if self.uses_store and not self.command:
            raise ValueError(
                "inputFiles, outputFiles and outputsFrom need 'command' (the image's entrypoint is not known)"
            )
        return self

    def _command_templates(self) -> Iterator[tuple[str, str]]:
        for name, values in (("command", self.command), ("args", self.args)):
            for i, arg in enumerate(values or ()):
                yield f"{name}[{i}]", arg


class FlowableBase(TaskBase):
    """A task that runs nested lists; ``errors`` run when a task inside fails (Kestra's errors on
    any flowable), before the flowable itself ends FAILED."""

    errors: tuple[Task, ...] = Field(
        default=(), description="Run when a task inside fails, with {{ error.taskId }} and {{ error.message }}"
    )

    def groups(self) -> tuple[ChildGroup, ...]:
        errors = (ChildGroup("errors", "on failure", self.errors),) if self.errors else ()
        return (*self.own_groups(), *errors)

    def own_groups(self) -> tuple[ChildGroup, ...]:
        return ()


class ParallelTask(FlowableBase):
    type: Literal["parallel"]
    tasks: tuple[Task, ...] = Field(min_length=1)
    concurrency: int = Field(default=0, ge=0, description="Children running at once; 0 means all")

    def own_groups(self) -> tuple[ChildGroup, ...]:
        return (ChildGroup("tasks", "", self.tasks),)

    def detail(self) -> str:
        return f" ({self.concurrency} at a time)" if self.concurrency else " (all at once)"


class SequentialTask(FlowableBase):
    type: Literal["sequential"]
    tasks: tuple[Task, ...] = Field(min_length=1)

    def own_groups(self) -> tuple[ChildGroup, ...]:
        return (ChildGroup("tasks", "", self.tasks),)


class EachTask(FlowableBase):
    type: Literal["each"]
    items: str | tuple[JsonValue, ...] = Field(
        description="A list, or a template rendering to a JSON array (e.g. {{ outputs.list.files }})"
    )
    tasks: tuple[Task, ...] = Field(min_length=1)
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
    then: tuple[Task, ...] = Field(min_length=1)
    else_: tuple[Task, ...] = Field(default=(), alias="else")

    def own_groups(self) -> tuple[ChildGroup, ...]:
        return (ChildGroup("then", "then", self.then), ChildGroup("else", "else", self.else_))

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield "condition", self.condition


class SwitchCase(Model):
    value: str
    tasks: tuple[Task, ...] = Field(min_length=1)


class SwitchTask(FlowableBase):
    type: Literal["switch"]
    value: str = Field(description="Template whose rendered value selects a case")
    cases: tuple[SwitchCase, ...] = Field(min_length=1)
    defaults: tuple[Task, ...] = ()

    def own_groups(self) -> tuple[ChildGroup, ...]:
        cases = (ChildGroup(f"cases[{i}].tasks", f"case {c.value}", c.tasks) for i, c in enumerate(self.cases))
        return (*cases, ChildGroup("defaults", "default", self.defaults))

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield "value", self.value


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


class CallTask(TaskBase):
    """Runs in the operator, not in a pod: one request per attempt, no Job (``http``, ``sql``, ``notify``).

    ``retry`` applies to a failed attempt as for a pod; ``timeout`` bounds each attempt
    (``default_timeout`` without one). What the call sends is ``call_fields()`` (templates, rendered
    when the attempt starts; ``{{ secret(...) }}`` is filled in by the operator just before the
    request leaves) and ``literal_fields()`` (never rendered).
    """

    default_timeout: ClassVar[str] = "60s"

    def call_fields(self) -> dict[str, Any]:
        """The templated fields of the request, as written (wire names)."""
        return {}

    def literal_fields(self) -> dict[str, Any]:
        """The fields of the request that are not templates, as written (wire names)."""
        return {}

    def _templates(self) -> Iterator[tuple[str, str]]:
        for name, value in self.call_fields().items():
            yield from value_templates(name, value)


HTTP_TOKEN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


class HttpHeader(Model):
    name: str = Field(pattern=HTTP_TOKEN, max_length=256)
    value: str = Field(description="Template; {{ secret('name', 'key') }} for a token")


class HttpTask(CallTask):
    """An HTTP request from the operator; the answer's status and JSON (or text) become the outputs."""

    type: Literal["http"]
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(min_length=1, description="Template of an http(s) URL")
    headers: tuple[HttpHeader, ...] = ()
    body: str | None = Field(default=None, description="Template of the request's body")
    json_: JsonValue | None = Field(default=None, alias="json", description="A JSON body; its strings may be templates")
    expected_status: tuple[Annotated[int, Field(ge=100, le=599)], ...] = Field(
        default=(), description="Statuses that count as success; none given: any 2xx"
    )

    @model_validator(mode="after")
    def _one_body(self) -> HttpTask:
        if self.body is not None and self.json_ is not None:
            raise ValueError("set 'body' or 'json', not both")
        return self

    def call_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"url": self.url}
        if self.headers:
            fields["headers"] = [{"name": h.name, "value": h.value} for h in self.headers]
        if self.body is not None:
            fields["body"] = self.body
        if self.json_ is not None:
            fields["json"] = self.json_
        return fields

    def literal_fields(self) -> dict[str, Any]:
        return {"method": self.method, "expectedStatus": list(self.expected_status)}

    def detail(self) -> str:
        return f" ({self.method})"


class SqlConnection(Model):
    host: str = Field(min_length=1, description="Template")
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = Field(min_length=1, description="Template")
    user: str = Field(min_length=1, description="Template")
    password: str | None = Field(default=None, description="Template: {{ secret('name', 'key') }}")


class SqlRowsTo(StrEnum):
    OUTPUTS = "Outputs"
    CSV_FILE = "CsvFile"


class SqlTask(CallTask):
    """A PostgreSQL query from the operator; its rows become the outputs (``rows``, ``rowCount``, ...),
    or with ``rowsTo: CsvFile`` a file in the artifact store (``files['rows.csv']``, read by later
    tasks' ``inputFiles`` as any task's file)."""

    default_timeout: ClassVar[str] = "5m"

    type: Literal["sql"]
    connection: SqlConnection
    query: str = Field(min_length=1, description="Not a template: values go in 'parameters', read as $1, $2, ...")
    parameters: tuple[str, ...] = Field(default=(), description="Templates, sent apart from the query as $1, $2, ...")
    max_rows: int = Field(default=100, ge=0, le=10000, description="Rows kept in the outputs; more: truncated")
    rows_to: SqlRowsTo = Field(
        default=SqlRowsTo.OUTPUTS,
        description="Outputs: rows in outputs.<id>.rows (at most maxRows); CsvFile: every row in a CSV file with"
        " a header (PostgreSQL's COPY ... CSV HEADER) in the artifact store, outputs.<id>.files['rows.csv'],"
        " with columns and rowCount",
    )

    @field_validator("query")
    @classmethod
    def _query_is_no_template(cls, value: str) -> str:
        if "{{" in value or "{%" in value:
            raise ValueError(
                "is not a template: a value rendered into SQL could change the statement; write $1, $2, ..."
                " and put the templates in 'parameters'"
            )
        return value

    def call_fields(self) -> dict[str, Any]:
        return {
            "connection": {**self.connection.to_wire(), "port": self.connection.port},
            "parameters": list(self.parameters),
        }

    def literal_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"query": self.query, "maxRows": self.max_rows}
        if self.rows_to is not SqlRowsTo.OUTPUTS:
            fields["rowsTo"] = self.rows_to.value
        return fields


class SlackTarget(Model):
    url: str = Field(min_length=1, description="The incoming webhook's URL, usually {{ secret('name', 'key') }}")
    channel: str | None = None


class SmtpSettings(Model):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = Field(default=None, description="Template: {{ secret('name', 'key') }}")


class EmailTarget(Model):
    server: SmtpSettings
    from_: str = Field(alias="from", min_length=3)
    to: tuple[str, ...] = Field(min_length=1)
    subject: str | None = Field(default=None, description="Template; the message's start without one")


class NotifyTask(CallTask):
    """A message to a Slack-compatible incoming webhook and/or by email, sent by the operator."""

    default_timeout: ClassVar[str] = "30s"

    type: Literal["notify"]
    message: str = Field(min_length=1, description="Template")
    slack: SlackTarget | None = None
    email: EmailTarget | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> NotifyTask:
        if self.slack is None and self.email is None:
            raise ValueError("set 'slack', 'email' or both: where the message goes")
        return self

    def call_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"message": self.message}
        if self.slack is not None:
            fields["slack"] = self.slack.to_wire()
        if self.email is not None:
            fields["email"] = self.email.to_wire()
        return fields

    def detail(self) -> str:
        return " (" + ", ".join(n for n in ("slack", "email") if getattr(self, n) is not None) + ")"


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
# a template task becomes a container task: each attempt a new pod
RETRYABLE_TYPES = RUNNABLE_TYPES | frozenset(tag_of(model) for model in get_args(CallAnyTask)) | {TaskType.TEMPLATE}


def child_groups(task: AnyTask) -> list[tuple[str, tuple[AnyTask, ...]]]:
    """The nested task lists of a flowable task, each with its field path (for problems' paths)."""
    return [(group.field, group.tasks) for group in task.groups()]


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


def walk_tasks(tasks: tuple[AnyTask, ...], path: str) -> list[tuple[str, AnyTask]]:
    """Every task in ``tasks`` and below, depth first, with its path (``spec.tasks[1].tasks[0]``)."""
    found: list[tuple[str, AnyTask]] = []
    for index, task in enumerate(tasks):
        here = f"{path}[{index}]"
        found.append((here, task))
        for field, group in child_groups(task):
            found.extend(walk_tasks(group, f"{here}.{field}"))
    return found
