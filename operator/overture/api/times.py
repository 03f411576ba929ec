"""Times: aware datetimes in the models, RFC 3339 text on the wire (as Kubernetes' ``metav1.Time``).

A ``Time`` field is parsed once, when a document is read (``2026-01-31T02:00:00Z``, or with an
offset; text without one is UTC), and written back by ``iso``: UTC, ``Z``, milliseconds only when
there are some, so a status stays short and round-trips byte for byte. What the operator records
(a start, an end, a next attempt) has millisecond precision (``millis``), as the text it becomes.
``parse_time`` reads the times of objects that are not parsed into models (Jobs, trigger status).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC; milliseconds only when there are some (status stays short and readable)."""
    utc = moment.astimezone(UTC)
    if utc.microsecond == 0:
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def millis(moment: datetime) -> datetime:
    """``moment`` to the millisecond, the precision a recorded time has once written."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _read_time(value: Any) -> Any:
    return parse_time(value) if isinstance(value, str) else value


Time = Annotated[
    datetime,
    BeforeValidator(_read_time),
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string"}),  # the CRD keeps a plain string: RFC 3339, checked when read
]
"""An RFC 3339 time on the wire, an aware datetime in the model."""
