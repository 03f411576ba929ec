"""Time as the engine counts it: a duration after a moment. The time itself is an argument (``now``)."""

from __future__ import annotations

from datetime import UTC, datetime

from overture.api import to_timedelta

END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def after(moment: datetime, duration: str) -> datetime:
    """``moment`` plus a duration string; a duration of millennia saturates instead of overflowing."""
    try:
        return moment + to_timedelta(duration)
    except OverflowError:
        return END_OF_TIME
