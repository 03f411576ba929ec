"""The schedule loop with an injected clock and a fake API: first sight, ticks, restarts, caps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from support.triggerdocs import Clock, FakeKube, flow_body, store_with

from overture.kube.flow_cache import FlowCache
from overture.kube.store import Store
from overture.triggers.scheduler import Scheduler

MINUTELY = {"id": "tick", "type": "schedule", "cron": "* * * * *", "catchUp": "all", "catchUpLimit": 3}


def setup(body: dict[str, Any], clock: Clock) -> tuple[Scheduler, FakeKube, Store]:
    store = store_with(body)
    kube = FakeKube(store=store)
    return Scheduler(kube, FlowCache(store), clock), kube, store  # type: ignore[arg-type]


def status_of(store: Store, name: str = "f") -> dict[str, Any]:
    return store.flows[("ns", name)]["status"]["triggers"][0]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_first_sight_fires_nothing_and_records_the_next_tick() -> None:
    clock = Clock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    scheduler, kube, store = setup(flow_body("f", [MINUTELY]), clock)
    wake = run(scheduler.run_once())
    assert kube.created == {}
    assert wake == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
    assert status_of(store) == {"id": "tick", "type": "schedule", "timezone": "UTC", "nextTick": "2026-01-01T12:01:00Z"}


def test_a_due_tick_fires_once_and_becomes_last_tick() -> None:
    clock = Clock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    scheduler, kube, store = setup(flow_body("f", [MINUTELY], inputs=[]), clock)
    run(scheduler.run_once())
    clock.advance(seconds=30)
    run(scheduler.run_once())
    run(scheduler.run_once())  # the same instant again: nothing new
    assert len(kube.created) == 1
    manifest = next(iter(kube.created.values()))
    assert manifest["spec"]["trigger"] == {"type": "schedule", "id": "tick", "date": "2026-01-01T12:01:00+00:00"}
    assert manifest["metadata"]["labels"] == {"overture.dev/flow": "f", "overture.dev/trigger": "tick"}
    assert status_of(store)["lastTick"] == "2026-01-01T12:01:00Z"
    assert status_of(store)["nextTick"] == "2026-01-01T12:02:00Z"


def test_a_restarted_operator_catches_up_from_the_status_and_caps_with_an_event() -> None:
    status = {"triggers": [{"id": "tick", "type": "schedule", "lastTick": "2026-01-01T12:00:00Z"}]}
    clock = Clock(datetime(2026, 1, 1, 12, 10, 5, tzinfo=UTC))  # ten ticks missed, limit 3
    scheduler, kube, store = setup(flow_body("f", [MINUTELY], status=status), clock)
    run(scheduler.run_once())
    dates = sorted(m["spec"]["trigger"]["date"] for m in kube.created.values())
    assert dates == ["2026-01-01T12:08:00+00:00", "2026-01-01T12:09:00+00:00", "2026-01-01T12:10:00+00:00"]
    assert [e[1] for e in kube.events] == ["CatchUpCapped"]
    assert "catchUpLimit" in kube.events[0][2]
    assert status_of(store)["lastTick"] == "2026-01-01T12:10:00Z"


def test_a_tick_recorded_as_next_fires_after_a_restart_even_if_never_fired_before() -> None:
    status = {"triggers": [{"id": "tick", "type": "schedule", "nextTick": "2026-01-01T12:01:00Z"}]}
    clock = Clock(datetime(2026, 1, 1, 12, 1, 20, tzinfo=UTC))
    scheduler, kube, _ = setup(flow_body("f", [MINUTELY], status=status), clock)
    run(scheduler.run_once())
    assert [m["spec"]["trigger"]["date"] for m in kube.created.values()] == ["2026-01-01T12:01:00+00:00"]


def test_two_schedulers_create_one_execution_per_tick() -> None:
    clock = Clock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    store = store_with(flow_body("f", [MINUTELY]))
    kube = FakeKube(store=store)
    one, two = (Scheduler(kube, FlowCache(store), clock) for _ in range(2))  # type: ignore[arg-type]
    for _ in range(3):
        run(one.run_once())
        run(two.run_once())
        clock.advance(minutes=1)
    assert len(kube.created) == 2  # 12:01 and 12:02, each once


def test_suspended_flow_and_disabled_trigger_fire_nothing_and_keep_last_tick() -> None:
    status = {"triggers": [{"id": "tick", "type": "schedule", "lastTick": "2026-01-01T12:00:00Z"}]}
    clock = Clock(datetime(2026, 1, 1, 12, 5, tzinfo=UTC))
    scheduler, kube, store = setup(flow_body("f", [MINUTELY], status=status, suspend=True), clock)
    assert run(scheduler.run_once()) is None
    assert kube.created == {}
    assert status_of(store)["message"] == "the flow is suspended"
    assert status_of(store)["lastTick"] == "2026-01-01T12:00:00Z"
    scheduler, kube, store = setup(flow_body("g", [{**MINUTELY, "disabled": True}], status=status), clock)
    run(scheduler.run_once())
    assert kube.created == {}
    assert status_of(store, "g")["message"] == "disabled"


def test_a_transient_error_retries_the_same_tick_soon() -> None:
    clock = Clock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    scheduler, kube, _ = setup(flow_body("f", [MINUTELY]), clock)
    run(scheduler.run_once())
    clock.advance(seconds=30)
    kube.fail_creates = 1
    wake = run(scheduler.run_once())
    assert kube.created == {}
    assert wake == datetime(2026, 1, 1, 12, 1, 2, tzinfo=UTC)
    clock.advance(seconds=2)
    run(scheduler.run_once())
    assert len(kube.created) == 1


def test_a_bad_input_template_is_reported_and_the_tick_is_not_retried() -> None:
    trigger = {**MINUTELY, "inputs": {"day": "{{ trigger.nope.x }}"}}  # valid syntax, fails when rendered
    body = flow_body("f", [trigger], inputs=[{"id": "day", "type": "STRING"}])
    clock = Clock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    scheduler, kube, store = setup(body, clock)
    run(scheduler.run_once())
    clock.advance(seconds=30)
    run(scheduler.run_once())
    assert kube.created == {}
    assert [e[1] for e in kube.events] == ["TriggerFailed"]
    assert "spec.triggers[0].inputs" in status_of(store)["message"]
    assert status_of(store)["lastTick"] == "2026-01-01T12:01:00Z"


def test_the_status_is_written_only_when_it_changes() -> None:
    clock = Clock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    scheduler, kube, _ = setup(
        flow_body("f", [MINUTELY, {"id": "hook", "type": "webhook", "keySecretRef": {"name": "s", "key": "k"}}]), clock
    )
    run(scheduler.run_once())
    run(scheduler.run_once())
    assert len(kube.patches) == 1
    assert kube.patches[0][2]["triggers"][1] == {"id": "hook", "type": "webhook"}
    scheduler.note_fired("ns", "f", "hook", clock.now)
    run(scheduler.run_once())
    assert kube.patches[-1][2]["triggers"][1]["lastTick"] == "2026-01-01T12:00:30Z"


def test_a_pass_looks_only_at_flows_that_changed_or_are_due(monkeypatch: Any) -> None:
    """1,000 idle daily flows must not cost a croniter walk each on every per-second tick."""
    import overture.triggers.scheduler as scheduler_module

    looked_at: list[str] = []
    real = scheduler_module.due_ticks

    def counting(trigger: Any, since: datetime, now: datetime) -> Any:
        looked_at.append(trigger.id)
        return real(trigger, since, now)

    monkeypatch.setattr(scheduler_module, "due_ticks", counting)
    daily = {"id": "daily", "type": "schedule", "cron": "0 3 * * *"}
    bodies = [flow_body(f"idle-{i}", [daily]) for i in range(50)] + [flow_body("busy", [MINUTELY])]
    clock = Clock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    store = store_with(*bodies)
    kube = FakeKube(store=store)
    scheduler = Scheduler(kube, FlowCache(store), clock)  # type: ignore[arg-type]
    run(scheduler.run_once())
    assert len(looked_at) == 51  # first sight: every flow
    run(scheduler.run_once())
    assert len(looked_at) == 102  # each status write changed its flow's resourceVersion: once more
    looked_at.clear()
    for _ in range(3):
        clock.advance(minutes=1)
        run(scheduler.run_once())
    assert looked_at == ["tick"] * 3  # only the due flow, once a pass
    assert len(kube.created) == 3
    run(scheduler.run_once())  # settles: the last status write is seen
    edited = dict(store.flows[("ns", "idle-7")])
    edited["metadata"] = {**edited["metadata"], "resourceVersion": "99"}
    store.put("flow", edited)
    looked_at.clear()
    run(scheduler.run_once())
    assert looked_at == ["daily"]
