"""Triggers in the operator: the schedule loop, webhooks, flow and resource triggers, wired once.

``handlers`` builds one ``Triggers`` at startup and calls:

- ``routes()`` for the HTTP server (webhooks answer on every replica);
- ``run()`` as a task: the schedule loop and the resource watches, both only while this replica
  leads (``gate``); deterministic names keep a tick or an event to one run even if two replicas
  overlap during a hand-over;
- ``flow_changed()`` from the Flow watch, so a new or edited schedule is looked at at once;
- ``execution_finished(body)`` from the controller's ``on_finished`` callbacks. At startup the
  executions that ended in the last ``LOOKBACK`` are looked at again: the end of one seen by a
  replica that crashed before firing its downstream flows still starts them (once, by name).

``TriggerSettings`` (read from the environment by ``controller.settings``): flow triggers across
namespaces. Flows come from the operator's ``FlowCache``, shared with the controller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from overture.api import AnyTrigger, Flow, FlowTrigger, Require, ResourceEvent, is_terminal
from overture.api.times import iso, parse_time
from overture.calls.guard import Network
from overture.isolation import TenantWork
from overture.kube.client import Kube
from overture.kube.errors import ApiError, TransientError
from overture.kube.flow_cache import FlowCache
from overture.kube.store import Body, Store
from overture.templating import TemplateError
from overture.triggers.chain import DEFAULT_LIMIT, behind_object, extended, loop_problem, with_chain
from overture.triggers.executions import ConditionFalse
from overture.triggers.resource import (
    LOOKBACK,
    ResourceWatches,
    WatchKey,
    build_resource_execution,
    is_new_enough,
    watch_keys,
)
from overture.triggers.resource import (
    matching_triggers as resource_triggers,
)
from overture.triggers.scheduler import Scheduler
from overture.triggers.upstream import all_ended, build_downstream
from overture.triggers.upstream import matching_triggers as flow_triggers
from overture.triggers.webhook import RateLimiter, SecretCache, Webhooks

log = logging.getLogger("overture.triggers")

CREATE_ATTEMPTS = 5


@dataclass(frozen=True)
class TriggerSettings:
    allow_cross_namespace_flow_triggers: bool = False
    resource_rate: int = 60  # executions a resource trigger may start a minute (OVERTURE_RESOURCE_TRIGGER_RATE)
    chain_limit: int = DEFAULT_LIMIT  # flows a chain of triggers may hold (OVERTURE_TRIGGER_CHAIN_LIMIT, chain.py)
    # proxies whose X-Forwarded-For names a webhook's caller (OVERTURE_WEBHOOK_TRUSTED_PROXIES, forwarded.py)
    trusted_proxies: tuple[Network, ...] = ()


class Triggers:
    def __init__(
        self,
        kube: Kube,
        store: Store,
        flows: FlowCache,
        settings: TriggerSettings,
        clock: Callable[[], datetime] | None = None,
        gate: asyncio.Event | None = None,
        work: TenantWork | None = None,
    ) -> None:
        self.kube = kube
        self.store = store
        self.work = work or TenantWork()
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.gate = gate
        self.flows = flows
        self.scheduler = Scheduler(kube, self.flows, self.clock, gate, work=self.work)
        self.webhooks = Webhooks(
            self.flows,
            kube.create_execution,
            SecretCache(kube.read_secret_value),
            on_fired=self.scheduler.note_fired,
            work=self.work,
            trusted_proxies=settings.trusted_proxies,
        )
        self.watches = ResourceWatches(kube, self.object_event)
        self.resource_rates = RateLimiter()
        self.capped: set[tuple[str, str, str]] = set()  # resource triggers dropping events now
        self.loop_warnings = RateLimiter()  # TriggerLoop Events, by (flow, trigger, chain)
        self.changed = asyncio.Event()
        self.background: set[asyncio.Task[Any]] = set()

    def routes(self) -> list[web.RouteDef]:
        return self.webhooks.routes()

    def flow_changed(self) -> None:
        self.scheduler.poke()
        self.changed.set()

    async def run(self) -> None:
        schedule = asyncio.create_task(self.scheduler.run(), name="overture-schedules")
        replayed = False
        try:
            while True:
                leading = self.gate is None or self.gate.is_set()
                if leading and not replayed:
                    replayed = True
                    await self._replay_recent_endings()
                self.changed.clear()
                self.watches.ensure(watch_keys(f for _, f in self.flows.items()) if leading else set())
                waits = [asyncio.create_task(self.changed.wait())]
                if self.gate is not None and not leading:
                    waits.append(asyncio.create_task(self.gate.wait()))
                _, pending = await asyncio.wait(waits, timeout=10.0, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
        finally:
            schedule.cancel()
            self.watches.stop()

    # --- flow triggers ------------------------------------------------------------------

    async def execution_finished(self, body: Body) -> None:
        flows = [f for _, f in self.flows.items()]
        for flow, trigger in flow_triggers(flows, body, self.settings.allow_cross_namespace_flow_triggers):
            group: list[Body] = []
            if trigger.require == Require.ALL:
                group = all_ended(flow, trigger, [*self._runs_around(flow, trigger), body], self.clock()) or []
                if not group:
                    continue  # another listed flow has not ended (in the window) yet
            chain = extended(group or [body])
            if await self._looping(flow, trigger, chain):
                continue
            try:
                manifest = await self.work.run(
                    flow.metadata.namespace or "", build_downstream, flow, trigger, body, group
                )
            except ConditionFalse:
                continue
            except TemplateError as exc:
                await self._trigger_failed(flow, trigger, str(exc))
                continue
            self._create_soon(flow, trigger, with_chain(manifest, chain))

    def _runs_around(self, flow: Flow, trigger: FlowTrigger) -> list[Body]:
        """The executions of the trigger's upstream flows and of ``flow`` itself (by the cache's index,
        so only those are decoded); the ending just seen is added by the caller, if the cache lags."""
        own = flow.metadata.namespace or ""
        keys = {((u.namespace or own), u.name) for u in trigger.flows} | {(own, flow.metadata.name)}
        found = []
        for namespace, name in sorted(keys):
            for execution in sorted(self.store.executions_by_flow.get((namespace, name), ())):
                body = self.store.executions.get((namespace, execution))
                if body is not None:
                    found.append(body)
        return found

    async def _replay_recent_endings(self) -> None:
        now = self.clock()
        for body in list(self.store.executions.values()):
            status = body.get("status") or {}
            ended = parse_time(status.get("endDate"))
            state = status.get("state")
            if ended is None or not is_terminal(state):
                continue
            if now - ended <= LOOKBACK:
                await self.execution_finished(body)

    # --- resource triggers --------------------------------------------------------------

    async def object_event(self, key: WatchKey, event: ResourceEvent, obj: dict[str, Any], listed: bool) -> None:
        now = self.clock()
        flows = [f for _, f in self.flows.items()]
        chain = behind_object(obj, lambda namespace, name: self.store.executions.get((namespace, name)))
        for flow, trigger in resource_triggers(flows, key, event, obj):
            if listed and not is_new_enough(flow, obj, now):
                continue
            if await self._looping(flow, trigger, chain):
                continue
            try:
                manifest = await self.work.run(
                    key.namespace, build_resource_execution, flow, trigger, key, event, obj, iso(now)
                )
            except ConditionFalse:
                continue
            except TemplateError as exc:
                await self._trigger_failed(flow, trigger, str(exc))
                continue
            if await self._within_rate(flow, trigger):
                self._create_soon(flow, trigger, with_chain(manifest, chain))

    async def _looping(self, flow: Flow, trigger: AnyTrigger, chain: tuple[str, ...]) -> bool:
        """Whether firing would start ``flow`` again in ``chain`` (or make it too long); if so a
        ``TriggerLoop`` Warning on the Flow names the chain."""
        namespace = flow.metadata.namespace or ""
        problem = loop_problem(namespace, flow.metadata.name, chain, self.settings.chain_limit)
        if problem is None:
            return False
        # one Event a minute per loop: a pod of the loop changes many times, each a refusal
        warned = (namespace, flow.metadata.name, trigger.id, ",".join(chain))
        if self.loop_warnings.take(warned, 1) == 0.0:
            await self._trigger_failed(flow, trigger, problem, reason="TriggerLoop")
        return True

    async def _within_rate(self, flow: Flow, trigger: AnyTrigger) -> bool:
        """Whether the trigger may fire now; the first event it drops posts a ``TriggerCapped`` Event."""
        key = (flow.metadata.namespace or "", flow.metadata.name, trigger.id)
        if self.resource_rates.take(key, self.settings.resource_rate) == 0.0:
            self.capped.discard(key)
            return True
        if key not in self.capped:
            self.capped.add(key)
            problem = f"more than {self.settings.resource_rate} events a minute; events are dropped until it slows"
            await self._trigger_failed(flow, trigger, problem, reason="TriggerCapped")
        return False

    # --- shared -------------------------------------------------------------------------

    def _create_soon(self, flow: Flow, trigger: AnyTrigger, manifest: dict[str, Any]) -> None:
        """Create in the background, retrying transient errors: never block a reconcile or a watch."""
        task = asyncio.create_task(self._create(flow, trigger, manifest))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _create(self, flow: Flow, trigger: AnyTrigger, manifest: dict[str, Any]) -> None:
        namespace, name = flow.metadata.namespace or "", manifest["metadata"]["name"]
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                created = await self.kube.create_execution(namespace, manifest)
            except TransientError as exc:
                if attempt == CREATE_ATTEMPTS:
                    await self._trigger_failed(flow, trigger, f"could not create Execution {name}: {exc}")
                    return
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            except ApiError as exc:
                await self._trigger_failed(flow, trigger, f"Execution {name} was rejected: {exc}")
                return
            if created:
                log.info(
                    "Created Execution: execution=%s/%s trigger=%s (%s)", namespace, name, trigger.id, trigger.type
                )
                self.scheduler.note_fired(namespace, flow.metadata.name, trigger.id, self.clock())
            return

    async def _trigger_failed(
        self, flow: Flow, trigger: AnyTrigger, problem: str, reason: str = "TriggerFailed"
    ) -> None:
        index = next((i for i, t in enumerate(flow.spec.triggers) if t.id == trigger.id), 0)
        message = f"spec.triggers[{index}] ({trigger.id}): {problem}"
        log.warning("Trigger failed: flow=%s/%s %s", flow.metadata.namespace, flow.metadata.name, message)
        body = self.store.flows.get((flow.metadata.namespace or "", flow.metadata.name))
        if body is not None:
            await self.kube.emit_event(dict(body), "Warning", reason, message)
