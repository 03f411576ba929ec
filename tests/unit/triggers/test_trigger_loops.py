"""Triggers that would loop do not fire (issue 14): the chain each Execution carries, through the
operator-side trigger service with a fake API."""

from __future__ import annotations

import asyncio
from typing import Any

from support.triggerdocs import FakeKube, execution_body, flow_body, store_with

from overture.api import ResourceEvent
from overture.kube.flow_cache import FlowCache
from overture.triggers.chain import ANNOTATION
from overture.triggers.resource import WatchKey
from overture.triggers.service import Triggers, TriggerSettings


def _ended(name: str, flow: str, chain: str | None = None) -> dict[str, Any]:
    return execution_body(name, flow, chain, state="SUCCESS", endDate="2026-01-01T12:00:00Z", taskRuns=[])


def _service(*flows: dict[str, Any], limit: int = 10) -> tuple[Triggers, FakeKube]:
    store = store_with(*flows)
    kube = FakeKube(store=store)
    return Triggers(kube, store, FlowCache(store), TriggerSettings(chain_limit=limit)), kube  # type: ignore[arg-type]


async def _settled(triggers: Triggers) -> None:
    await asyncio.gather(*triggers.background)


def test_two_flows_that_trigger_each_other_run_once_each() -> None:
    after = {"type": "flow", "states": ["SUCCESS"]}
    ping = flow_body("ping", [{"id": "after-pong", "flows": [{"name": "pong"}], **after}])
    pong = flow_body("pong", [{"id": "after-ping", "flows": [{"name": "ping"}], **after}])

    async def main() -> None:
        triggers, kube = _service(ping, pong)
        await triggers.execution_finished(_ended("ping-1", "ping"))  # a person's run: no chain
        await _settled(triggers)
        (started,) = kube.created.values()
        assert started["spec"]["flowRef"]["name"] == "pong"
        assert started["metadata"]["annotations"][ANNOTATION] == "ns/ping"
        await triggers.execution_finished(_ended(started["metadata"]["name"], "pong", "ns/ping"))
        await _settled(triggers)
        assert len(kube.created) == 1
        (event,) = kube.events
        assert event[:2] == ("Warning", "TriggerLoop")
        assert (
            "spec.triggers[0] (after-pong): not started: the triggers loop (ns/ping -> ns/pong -> ns/ping)" in event[2]
        )
        triggers.work.close()

    asyncio.run(main())


def test_a_line_of_flows_stops_at_the_limit() -> None:
    after = {"type": "flow", "states": ["SUCCESS"]}
    step = flow_body("step", [{"id": "after-prev", "flows": [{"name": "prev"}], **after}])

    async def main() -> None:
        triggers, kube = _service(step, limit=3)
        await triggers.execution_finished(_ended("prev-1", "prev", "ns/a,ns/b"))  # chain of 3: allowed
        await _settled(triggers)
        assert len(kube.created) == 1
        await triggers.execution_finished(_ended("prev-2", "prev", "ns/a,ns/b,ns/c"))  # 4: too long
        await _settled(triggers)
        assert len(kube.created) == 1
        assert "OVERTURE_TRIGGER_CHAIN_LIMIT=3" in kube.events[0][2]
        triggers.work.close()

    asyncio.run(main())


def test_resource_triggers_on_each_others_executions_stop_at_the_second_round() -> None:
    def on_runs_of(other: str) -> dict[str, Any]:
        return {
            "id": f"on-{other}",
            "type": "resource",
            "apiVersion": "overture.dev/v1alpha1",
            "kind": "Execution",
            "matchLabels": {"overture.dev/flow": other},
            "events": ["created"],
        }

    async def main() -> None:
        triggers, kube = _service(flow_body("tick", [on_runs_of("tock")]), flow_body("tock", [on_runs_of("tick")]))
        key = WatchKey("overture.dev/v1alpha1", "Execution", "ns")
        await triggers.object_event(key, ResourceEvent.CREATED, _ended("tick-1", "tick"), False)
        await _settled(triggers)
        (tock,) = kube.created.values()
        assert tock["metadata"]["annotations"][ANNOTATION] == "ns/tick"
        await triggers.object_event(
            key, ResourceEvent.CREATED, {**tock, "metadata": {**tock["metadata"], "uid": "t"}}, False
        )
        await _settled(triggers)
        assert len(kube.created) == 1
        assert [e[1] for e in kube.events] == ["TriggerLoop"]
        # the same loop seen again (a pod of it changing) posts no second Event within the minute
        await triggers.object_event(
            key, ResourceEvent.CREATED, {**tock, "metadata": {**tock["metadata"], "uid": "u"}}, False
        )
        assert len(kube.events) == 1
        triggers.work.close()

    asyncio.run(main())
