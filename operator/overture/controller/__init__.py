"""The controller: Executions reconciled from a work queue, Flows' status, housekeeping, Events.

The loop, in the order a change travels (``handlers`` feeds it from kopf's watches):

1. ``queue``: an execution's key is queued when it, one of its Jobs or pods, or a child changes;
   workers take keys one at a time (``WorkQueue``);
2. ``executions``: a reconcile reads the cache (``observe``), calls ``engine.step``, creates and
   deletes what the decision asks, writes the status once (or holds a routine change, ``held``),
   and returns when it wants to be called again (``Result``);
3. ``events``: Events go out in the background, in order per execution;
   ``calls``: the http, sql and notify attempts the engine asks for, made in the background;
4. ``housekeeping``: retention, the Flows' LAST RUN, and resyncs, batched off the reconcile path;
5. ``flows``: a Flow's own status (Ready or Invalid, with every problem named).

``settings`` holds the operator's settings as objects, read from the environment once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from overture.controller.calls import CallRunner
from overture.controller.events import EventPoster
from overture.controller.executions import ExecutionReconciler
from overture.controller.housekeeping import Housekeeping
from overture.controller.queue import WorkQueue
from overture.controller.settings import ControllerSettings
from overture.isolation import TenantWork
from overture.kube.artifacts import ArtifactStore
from overture.kube.client import Kube
from overture.kube.flow_cache import FlowCache
from overture.kube.store import Body, Key, Store

__all__ = ["Controller"]


class Controller:
    """The execution controller as the operator runs it: one queue, its reconcile, housekeeping, Events."""

    def __init__(
        self,
        kube: Kube,
        store: Store,
        settings: ControllerSettings,
        flows: FlowCache,
        gate: asyncio.Event | None = None,
        clock: Callable[[], datetime] | None = None,
        owns: Callable[[Key], bool] | None = None,
        leading: asyncio.Event | None = None,
        work: TenantWork | None = None,
    ) -> None:
        """``gate``: set while the queue may run; ``owns``: the keys it may reconcile (sharding);
        ``leading``: set while housekeeping (and the triggers) may act, ``gate`` if not given."""
        self.settings = settings
        clock = clock or (lambda: datetime.now(UTC))
        self.events = EventPoster(kube)
        artifacts = ArtifactStore(settings.artifacts) if settings.artifacts else None
        self.housekeeping = Housekeeping(kube, store, clock, artifacts)
        self.housekeeping.gate = leading or gate
        self.calls = CallRunner(kube, settings.calls, artifacts)
        self.executions = ExecutionReconciler(
            kube,
            store,
            settings,
            clock,
            self.events,
            self.housekeeping,
            flows,
            work,
            artifacts=artifacts,
            calls=self.calls,
        )
        self.queue = WorkQueue(self.executions.reconcile, settings.workers, gate, owns)
        self.calls.wake = self.queue.enqueue
        self.executions.own_writes.wake = self.queue.enqueue

    def enqueue(self, key: Key) -> None:
        self.queue.enqueue(key)

    def owns(self, key: Key) -> bool:
        """Whether this replica reconciles ``key`` (sharded: holds its shard; else always)."""
        return self.queue.owns is None or self.queue.owns(key)

    def set_aside(self, key: Key, resource_version: str) -> bool:
        """Whether a watch event of ``key`` waits for the answer of our status write in flight
        (``own_writes``): then it queues ``key`` only if it was not that write's echo."""
        return self.executions.own_writes.set_aside(key, resource_version)

    def resync(self) -> None:
        """Every unfinished execution reconciled again, every flow's retention checked, every managed
        Job's ended status written that a restart left unwritten (a new leader's first act)."""
        self.housekeeping.resync(self.queue.enqueue)
        self.executions.job_statuses.catch_up()

    def on_finished(self, callback: Callable[[Body], Awaitable[Any]]) -> None:
        """``callback(body)`` for each execution that ends (flow triggers)."""
        self.executions.on_finished.append(callback)

    async def run(self) -> None:
        gate = self.queue.gate
        if gate is None:  # no election to wait for: the cache is primed, this replica acts now
            self.executions.job_statuses.catch_up()
        acting = (lambda: True) if gate is None else gate.is_set
        tasks = [
            asyncio.create_task(self.queue.run()),
            asyncio.create_task(self.housekeeping.run(self.queue.enqueue, self.settings.resync_seconds)),
            asyncio.create_task(self.events.run()),
            asyncio.create_task(self.executions.job_statuses.keep_up(self.settings.resync_seconds, acting)),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
