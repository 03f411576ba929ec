"""Backfills planned: the schedule ticks of a past range and the Execution of each. Pure.

``overture backfill`` and the UI's backfill form both create what ``plan`` and ``build_backfill``
give, so the same range backfilled twice, from either, creates nothing twice (the names come
from the ticks: ``triggers.executions.schedule_name``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from overture.api import LABEL_BACKFILL, Flow, ScheduleTrigger, TriggerKind
from overture.templating import TemplateError
from overture.triggers.executions import ConditionFalse, build_execution, local_date, schedule_name, stamp
from overture.triggers.ticks import ticks_between, zone

MAX_TICKS = 10000


class BackfillError(ValueError):
    """A backfill that cannot run; the message says why and what to do."""


def parse_moment(text: str, timezone: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BackfillError(
            f"{option}: {text!r} is not a date or date-time, e.g. 2026-01-31 or 2026-01-31T02:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone(timezone))


def schedule_trigger(flow: Flow, trigger_id: str | None) -> ScheduleTrigger:
    schedules = [t for t in flow.spec.triggers if isinstance(t, ScheduleTrigger)]
    names = ", ".join(t.id for t in schedules) or "none"
    if trigger_id is not None:
        found = next((t for t in schedules if t.id == trigger_id), None)
        if found is None:
            raise BackfillError(
                f"--trigger: flow {flow.metadata.name!r} has no schedule trigger {trigger_id!r} ({names})"
            )
        return found
    if len(schedules) != 1:
        raise BackfillError(
            f"flow {flow.metadata.name!r} has {len(schedules)} schedule triggers ({names}); name one with --trigger"
        )
    return schedules[0]


def plan(flow: Flow, trigger_id: str | None, start_text: str, end_text: str) -> tuple[ScheduleTrigger, list[datetime]]:
    """The trigger and its ticks in the range; raises BackfillError."""
    trigger = schedule_trigger(flow, trigger_id)
    start = parse_moment(start_text, trigger.timezone, "--from")
    end = parse_moment(end_text, trigger.timezone, "--to")
    if end < start:
        raise BackfillError(f"--to ({end_text}) is before --from ({start_text})")
    ticks = ticks_between(trigger, start, end, MAX_TICKS + 1)
    if len(ticks) > MAX_TICKS:
        raise BackfillError(
            f"more than {MAX_TICKS} ticks between {start_text} and {end_text}; backfill a shorter range"
        )
    return trigger, [tick for tick in ticks if _fires(flow, trigger, tick)]


def _fires(flow: Flow, trigger: ScheduleTrigger, tick: datetime) -> bool:
    """Whether the trigger's ``condition`` lets ``tick`` run (a backfill skips what the schedule skips)."""
    try:
        build_backfill(flow, trigger, tick, "")
    except ConditionFalse:
        return False
    except TemplateError:
        return True  # said when the tick's Execution is built
    return True


def backfill_label(ticks: list[datetime]) -> str:
    return f"{stamp(ticks[0])}-{stamp(ticks[-1])}" if ticks else "empty"


def build_backfill(flow: Flow, trigger: ScheduleTrigger, tick: datetime, label: str) -> dict[str, Any]:
    return build_execution(
        flow,
        trigger,
        name=schedule_name(flow.metadata.name, trigger.id, tick, backfill=True),
        kind=TriggerKind.BACKFILL,
        date=local_date(tick, trigger.timezone),
        labels={LABEL_BACKFILL: label},
    )
