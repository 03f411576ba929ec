"""Schedule ticks: which cron ticks are due, and when the next one is. Pure: ``now`` is an argument.

A cron is read on the wall clock of the trigger's IANA ``timezone``. Every wall-clock time the cron
names fires once, at one instant:

- a time that daylight saving skips (02:30 on the spring-forward night in Europe/Paris) fires once,
  at the end of the gap (03:00 local): several skipped times fire as one tick;
- a time that daylight saving repeats (02:30 on the fall-back night) fires at its first occurrence
  only, never twice.

So a daily job runs every day exactly once, and an hourly job runs 23 times on the spring-forward
day and 24 times on the fall-back day (which has 25 real hours). Schedules that must be evenly
spaced in real time should use ``timezone: UTC``.

Ticks are instants (aware datetimes in UTC). ``due_ticks`` applies ``catchUp`` to the ticks after
``last_tick`` up to ``now``:

- ``all``: every one, but at most ``catchUpLimit`` (the newest); ``capped`` says older ones were
  dropped, for an Event;
- ``last``: only the newest;
- ``none``: only the newest, and only if it is less than ``ON_TIME_SECONDS`` old.

With no ``last_tick`` (a flow seen for the first time) nothing is due: a schedule starts from now
and never runs the past by surprise; ``overture backfill`` runs past ticks on purpose.

6-field crons with seconds first (``*/5 * * * * *``) are accepted only when ``allow_seconds`` is
set (``OVERTURE_ALLOW_SECONDS_CRON=true`` in the operator): they exist for fast tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

from overture.api import CatchUp, ScheduleTrigger

ON_TIME_SECONDS = 60.0
_MICRO = timedelta(microseconds=1)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def has_seconds(cron: str) -> bool:
    return len(cron.split()) == 6


def _iterator(cron: str, start: datetime) -> croniter:
    return croniter(cron.strip(), start, second_at_beginning=has_seconds(cron))


def to_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant (UTC) a naive wall-clock time fires at in ``tz`` (see the module docstring)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # exists; for a repeated time, fold=0 is its first occurrence
    return _gap_end(wall, tz)


def _gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant a daylight-saving gap containing ``wall`` ends (the first time after it)."""
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)  # PEP 495: in a gap, fold=1 lands before it
    after = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)  # and fold=0 after it
    if after < before:
        before, after = after, before
    offset_after = after.astimezone(tz).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:  # the smallest second already on the new offset
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(tz).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _repeat_margin(local: datetime) -> timedelta:
    """In the second pass of a repeated hour, how far the first pass's wall times run ahead."""
    if not local.fold:
        return timedelta(0)
    first = local.replace(fold=0).utcoffset()
    second = local.utcoffset()
    return (first - second) if first is not None and second is not None else timedelta(0)


def ticks_after(trigger: ScheduleTrigger, after: datetime) -> Iterator[datetime]:
    """Ticks strictly after ``after``, ascending, each instant once."""
    tz = zone(trigger.timezone)
    local = after.astimezone(tz)
    walls = _iterator(trigger.cron, local.replace(tzinfo=None))
    last: datetime | None = None
    while True:
        instant = to_instant(walls.get_next(datetime), tz)
        if instant > after and instant != last:
            last = instant
            yield instant


def ticks_upto(trigger: ScheduleTrigger, upto: datetime) -> Iterator[datetime]:
    """Ticks at or before ``upto``, descending, each instant once."""
    tz = zone(trigger.timezone)
    local = upto.astimezone(tz)
    start = local.replace(tzinfo=None) + _repeat_margin(local) + _MICRO
    walls = _iterator(trigger.cron, start)
    last: datetime | None = None
    while True:
        instant = to_instant(walls.get_prev(datetime), tz)
        if instant <= upto and instant != last:
            last = instant
            yield instant


def next_tick(trigger: ScheduleTrigger, after: datetime) -> datetime | None:
    """The first tick after ``after``; None if the cron names no future date."""
    try:
        return next(ticks_after(trigger, after))
    except (StopIteration, ValueError, KeyError):  # croniter's "no date found" errors are ValueErrors
        return None


def due_ticks(trigger: ScheduleTrigger, last_tick: datetime | None, now: datetime) -> tuple[list[datetime], bool]:
    """Ticks to fire now, ascending, and whether ``catchUpLimit`` dropped older ones."""
    if last_tick is None:
        return [], False
    limit = trigger.catch_up_limit if trigger.catch_up == CatchUp.ALL else 1
    found: list[datetime] = []
    try:
        for tick in ticks_upto(trigger, now):
            if tick <= last_tick or len(found) > limit:
                break
            found.append(tick)
    except (ValueError, KeyError):
        pass  # no date before now: nothing is due
    capped = trigger.catch_up == CatchUp.ALL and len(found) > limit
    chosen = found[:limit]
    if trigger.catch_up == CatchUp.NONE:
        chosen = [t for t in chosen if (now - t).total_seconds() <= ON_TIME_SECONDS]
    return sorted(chosen), capped


def ticks_between(trigger: ScheduleTrigger, start: datetime, end: datetime, limit: int) -> list[datetime]:
    """Ticks with ``start <= tick <= end``, ascending, at most ``limit`` (for backfills)."""
    found: list[datetime] = []
    try:
        for tick in ticks_after(trigger, start - _MICRO):
            if tick > end or len(found) >= limit:
                break
            found.append(tick)
    except (ValueError, KeyError):
        pass
    return found
