"""Trigger conditions (issue 17): a template over what fired the trigger; false starts nothing.
The webhook's answers are in test_webhook.py; here the manifests, schedules and backfills."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support.triggerdocs import flow_body

from overture.api import TriggerKind, parse_flow
from overture.templating import TemplateError
from overture.triggers.backfills import plan
from overture.triggers.executions import ConditionFalse, build_execution

WEEKDAYS = "{{ trigger.date | date('%a') not in ['Sat', 'Sun'] }}"
SCHEDULE = {"id": "daily", "type": "schedule", "cron": "0 2 * * *", "condition": WEEKDAYS}


def test_a_schedule_condition_skips_weekends() -> None:
    flow = parse_flow(flow_body("report", [SCHEDULE]))
    trigger = flow.spec.triggers[0]
    friday = build_execution(flow, trigger, name="x", kind=TriggerKind.SCHEDULE, date="2026-01-30T02:00:00+00:00")
    assert friday["spec"]["trigger"]["date"] == "2026-01-30T02:00:00+00:00"
    with pytest.raises(ConditionFalse) as caught:
        build_execution(flow, trigger, name="y", kind=TriggerKind.SCHEDULE, date="2026-01-31T02:00:00+00:00")
    assert str(caught.value) == "trigger 'daily': condition rendered 'False'"


def test_a_backfill_skips_what_the_schedule_skips() -> None:
    flow = parse_flow(flow_body("report", [SCHEDULE]))
    _, ticks = plan(flow, None, "2026-01-29", "2026-02-03")
    assert [t.astimezone(UTC).strftime("%a %d") for t in ticks] == ["Thu 29", "Fri 30", "Mon 02"]  # --to is 00:00
    assert all(isinstance(t, datetime) for t in ticks)


def test_a_condition_that_does_not_render_names_itself() -> None:
    hook = {
        "id": "h",
        "type": "webhook",
        "keySecretRef": {"name": "s", "key": "k"},
        "condition": "{{ trigger.body.x.y }}",
    }
    flow = parse_flow(flow_body("report", [hook]))
    with pytest.raises(TemplateError) as caught:
        build_execution(flow, flow.spec.triggers[0], name="x", kind=TriggerKind.WEBHOOK, date=None, data={})
    assert str(caught.value).startswith("condition: undefined key 'x'")
