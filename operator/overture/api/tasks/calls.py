"""Call tasks: ``http``, ``sql`` and ``notify``, one request per attempt made by the operator, no pod."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, JsonValue, field_validator, model_validator

from overture.api.common import Model
from overture.api.tasks.base import TaskBase, value_templates


class CallTask(TaskBase):
    """Runs in the operator, not in a pod: one request per attempt, no Job (``http``, ``sql``, ``notify``).

    ``retry`` applies to a failed attempt as for a pod; ``timeout`` bounds each attempt
    (``default_timeout`` without one). What the call sends is ``call_fields()`` (templates, rendered
    when the attempt starts; ``{{ secret(...) }}`` is filled in by the operator just before the
    request leaves) and ``literal_fields()`` (never rendered).
    """

    retryable: ClassVar[bool] = True  # each attempt a new call
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
