"""The schedule loop: sleeps until the next due tick across all flows, then fires it.

Each pass reads every valid Flow from the cache, computes the due ticks of its schedule triggers
(``ticks.due_ticks``), creates one Execution per tick under a deterministic name, and writes
the Flow's ``status.triggers`` (one merge patch, only when it changed). Where a trigger stands
is read back from that status: ``lastTick`` is the newest tick fired; a schedule never fired yet
starts after its recorded ``nextTick`` (or from now, at first sight). So a restarted operator
catches up exactly the ticks it missed (by ``catchUp``), and a second operator firing the same
tick gets AlreadyExists.

A suspended flow or a disabled trigger fires nothing and keeps its ``lastTick``: when it is
resumed, ``catchUp`` decides what happens to the ticks in between.

The loop is also woken (``poke``) when a Flow changes, and never sleeps longer than
``max_sleep`` (a safety net against a missed wake-up).

A pass costs O(flows that changed or are due), not O(flows): each flow's plan (the
resourceVersion it was computed at and when it is next due) is kept, and a flow whose body did
not change, which nothing fired for and whose next tick is still ahead is skipped. Building
croniter iterators for 1,000 idle flows on every per-second tick cost ~0.3 s a pass. The
status writes of a pass go after all its firings, ``WRITERS`` at a time, so a thousand flows
seen for the first time do not hold up a due tick for the length of a thousand PATCHes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from overture.api import AnyTrigger, Flow, ScheduleTrigger, TriggerKind
from overture.api.times import iso, parse_time
from overture.isolation import TenantWork
from overture.kube.client import Kube
from overture.kube.errors import ApiError, RejectedError, TransientError
from overture.kube.flow_cache import FlowCache
from overture.kube.store import Body, key_of
from overture.templating import TemplateError
from overture.triggers.executions import ConditionFalse, build_execution, local_date, schedule_name
from overture.triggers.ticks import due_ticks, next_tick

log = logging.getLogger("overture.triggers")

TriggerKey = tuple[str, str, str]  # (namespace, flow, trigger id)
RETRY_SECONDS = 2.0
WRITERS = 8
_MICRO = timedelta(microseconds=1)


class Scheduler:
    def __init__(
        self,
        kube: Kube,
        flows: FlowCache,
        clock: Callable[[], datetime] | None = None,
        gate: asyncio.Event | None = None,
        max_sleep: float = 30.0,
        work: TenantWork | None = None,
    ) -> None:
        self.kube = kube
        self.work = work or TenantWork()
        self.flows = flows
        self.clock = clock or (lambda: datetime.now(UTC))
        self.gate = gate
        self.max_sleep = max_sleep
        self.since: dict[TriggerKey, datetime] = {}  # ticks after this one are not fired yet
        self.fired: dict[TriggerKey, datetime] = {}  # newest firing of event triggers, for the status
        self.written: dict[tuple[str, str, str], list[dict[str, Any]]] = {}  # (namespace, name, uid)
        self.plans: dict[tuple[str, str], tuple[str, datetime | None]] = {}  # flow: (resourceVersion, next due)
        self.dirty: set[tuple[str, str]] = set()  # flows an event trigger fired for since their plan
        self.outbox: list[tuple[Body, list[dict[str, Any]]]] = []  # status writes of the current pass
        self.wake = asyncio.Event()

    def poke(self) -> None:
        self.wake.set()

    def note_fired(self, namespace: str, flow: str, trigger_id: str, when: datetime) -> None:
        """An event trigger fired: shown as its ``lastTick`` at the next pass."""
        key = (namespace, flow, trigger_id)
        self.fired[key] = max(when, self.fired.get(key, when))
        self.dirty.add((namespace, flow))
        self.poke()

    async def run(self) -> None:
        while True:
            if self.gate is not None and not self.gate.is_set():
                await self.gate.wait()
            self.wake.clear()
            try:
                wake_at = await self.run_once()
            except Exception:
                log.exception("Schedule pass failed")
                wake_at = self.clock() + timedelta(seconds=5)
            delay = self.max_sleep if wake_at is None else (wake_at - self.clock()).total_seconds() + 0.001
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=min(max(delay, 0.0), self.max_sleep))

    async def run_once(self) -> datetime | None:
        """Fire what is due; return when the next tick is due (None: no schedule at all)."""
        wake_at: datetime | None = None
        seen: set[tuple[str, str]] = set()
        now = self.clock()
        for body, flow in self.flows.items():
            key = key_of(body)
            seen.add(key)
            version = str(body["metadata"].get("resourceVersion"))
            plan = self.plans.get(key)
            if plan is not None and plan[0] == version and key not in self.dirty and (plan[1] is None or plan[1] > now):
                due = plan[1]
            else:
                self.dirty.discard(key)
                due = await self._flow(body, flow)
                self.plans[key] = (version, due)
            if due is not None and (wake_at is None or due < wake_at):
                wake_at = due
        await self._flush()
        for stale in [k for k in self.since if k[:2] not in seen]:
            self.since.pop(stale, None)
        for gone in [k for k in self.written if k[:2] not in seen]:
            self.written.pop(gone, None)
        for gone_flow in [k for k in self.plans if k not in seen]:
            self.plans.pop(gone_flow, None)
        return wake_at

    async def _flow(self, body: Body, flow: Flow) -> datetime | None:
        namespace, name = key_of(body)
        current = {e.get("id"): e for e in (body.get("status") or {}).get("triggers") or [] if isinstance(e, dict)}
        entries: list[dict[str, Any]] = []
        wake_at: datetime | None = None
        for index, trigger in enumerate(flow.spec.triggers):
            if isinstance(trigger, ScheduleTrigger):
                entry, due = await self._schedule(body, flow, index, trigger, current.get(trigger.id) or {})
                if due is not None and (wake_at is None or due < wake_at):
                    wake_at = due
            else:
                entry = self._event_entry((namespace, name, trigger.id), trigger, current.get(trigger.id) or {})
            entries.append({k: v for k, v in entry.items() if v is not None})
        self._queue_write(body, entries)
        return wake_at

    def _event_entry(self, key: TriggerKey, trigger: AnyTrigger, current: dict[str, Any]) -> dict[str, Any]:
        last = _later(parse_time(current.get("lastTick")), self.fired.get(key))
        message = "disabled" if trigger.disabled else None
        return {"id": trigger.id, "type": trigger.type, "lastTick": iso(last) if last else None, "message": message}

    async def _schedule(
        self, body: Body, flow: Flow, index: int, trigger: ScheduleTrigger, current: dict[str, Any]
    ) -> tuple[dict[str, Any], datetime | None]:
        namespace, name = key_of(body)
        key = (namespace, name, trigger.id)
        now = self.clock()
        last_tick = parse_time(current.get("lastTick"))
        baseline = _later(last_tick, self.since.get(key))
        if baseline is None:
            recorded_next = parse_time(current.get("nextTick"))
            baseline = min(recorded_next - _MICRO, now) if recorded_next else now  # first sight: from now
        self.since[key] = baseline
        entry: dict[str, Any] = {
            "id": trigger.id,
            "type": trigger.type,
            "timezone": trigger.timezone,
            "lastTick": iso(last_tick) if last_tick else None,
        }
        if flow.spec.suspend or trigger.disabled:
            entry["message"] = "the flow is suspended" if flow.spec.suspend else "disabled"
            return entry, None
        ticks, capped = due_ticks(trigger, baseline, now)
        message, retry = None, False
        for tick in ticks:
            problem, transient = await self._fire(body, flow, index, trigger, tick)
            if transient:
                retry = True
                break
            message = problem
            self.since[key] = tick
            last_tick = tick
        if capped:
            text = (
                f"more than {trigger.catch_up_limit} ticks of trigger {trigger.id!r} were missed since "
                f"{iso(baseline)}; ran the newest {trigger.catch_up_limit} (catchUpLimit) and skipped the older ones"
            )
            log.warning("Capped a schedule catch-up: flow=%s/%s trigger=%s", namespace, name, trigger.id)
            await self.kube.emit_event(dict(body), "Warning", "CatchUpCapped", text)
        upcoming = next_tick(trigger, now)
        entry.update(
            lastTick=iso(last_tick) if last_tick else None,
            nextTick=iso(upcoming) if upcoming else None,
            message=message,
        )
        wake_at = now + timedelta(seconds=RETRY_SECONDS) if retry else upcoming
        return entry, wake_at

    async def _fire(
        self, body: Body, flow: Flow, index: int, trigger: ScheduleTrigger, tick: datetime
    ) -> tuple[str | None, bool]:
        """Create the tick's Execution: (a problem to show, whether to try again later)."""
        namespace, name = key_of(body)
        execution = schedule_name(name, trigger.id, tick)
        try:
            manifest = await self.work.run(
                namespace,
                functools.partial(
                    build_execution,
                    flow,
                    trigger,
                    name=execution,
                    kind=TriggerKind.SCHEDULE,
                    date=local_date(tick, trigger.timezone),
                ),
            )
        except ConditionFalse as exc:
            log.info("Skipped a tick: flow=%s/%s tick=%s %s", namespace, name, iso(tick), exc)
            return None, False
        except TemplateError as exc:
            problem = f"tick {iso(tick)}: spec.triggers[{index}].{exc}"
            await self.kube.emit_event(dict(body), "Warning", "TriggerFailed", problem)
            return problem, False
        try:
            created = await self.kube.create_execution(namespace, manifest)
        except TransientError as exc:
            log.warning("Could not fire a tick, retrying: flow=%s/%s tick=%s error=%s", namespace, name, iso(tick), exc)
            return None, True
        except RejectedError as exc:
            problem = f"tick {iso(tick)}: the Execution was rejected: {exc}"
            await self.kube.emit_event(dict(body), "Warning", "TriggerFailed", problem)
            return problem, False
        delay = (self.clock() - tick).total_seconds()
        if created:
            log.info(
                "Created Execution: execution=%s/%s trigger=%s tick=%s delay=%.3fs",
                namespace,
                execution,
                trigger.id,
                iso(tick),
                delay,
            )
        else:
            log.info("Execution existed already: execution=%s/%s tick=%s", namespace, execution, iso(tick))
        return None, False

    def _queue_write(self, body: Body, entries: list[dict[str, Any]]) -> None:
        version = (*key_of(body), str(body["metadata"].get("uid")))
        stored = (body.get("status") or {}).get("triggers") or []
        if entries != stored and entries != self.written.get(version):
            self.outbox.append((body, entries))

    async def _flush(self) -> None:
        writes, self.outbox = self.outbox, []
        limit = asyncio.Semaphore(WRITERS)

        async def write(body: Body, entries: list[dict[str, Any]]) -> None:
            async with limit:
                await self._write(body, entries)

        await asyncio.gather(*(write(body, entries) for body, entries in writes))

    async def _write(self, body: Body, entries: list[dict[str, Any]]) -> None:
        key = key_of(body)
        version = (*key, str(body["metadata"].get("uid")))
        started = time.perf_counter()
        try:
            await self.kube.patch_status("flows", key[0], key[1], {"triggers": entries})
        except ApiError as exc:
            log.warning("Could not update Flow trigger status: flow=%s/%s error=%s", *key, exc)
            self.dirty.add(key)  # computed again (and written) at the next pass
            return
        self.written[version] = entries
        log.debug("Updated Flow trigger status: flow=%s/%s took=%.3fs", *key, time.perf_counter() - started)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
