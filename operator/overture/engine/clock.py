"""Time as the engine sees it: RFC 3339 strings in status, aware datetimes in code."""

from __future__ import annotations

from datetime import UTC, datetime

from overture.api import to_timedelta

END_OF_TIME = datetime.max.replace(tzinfo=UTC)


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


def after(moment: datetime, duration: str) -> datetime:
    """``moment`` plus a duration string; a duration of millennia saturates instead of overflowing."""
    try:
        return moment + to_timedelta(duration)
    except OverflowError:
        return END_OF_TIME
