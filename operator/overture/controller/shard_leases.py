"""Active-active sharding, the I/O part: one Lease per shard and one membership Lease per replica.

Every ``renew_seconds`` a replica renews its membership Lease, lists the live members (their
membership Leases, by label; ``is_live`` says which count), computes the shards it should
hold (``shards.wanted``), takes or renews those Leases, and hands back the ones it holds but no
longer wants. It stops reconciling a shard before it hands the shard's Lease back, and waits for
that shard's reconciles in flight to finish, so two replicas never reconcile one execution at once
on a hand-over; on a crash, the Lease expires before anyone else takes it, and a deposed holder
still mid-reconcile is refused by the resourceVersion of its status write (409), as with leader
election (``kube/lease.py``, whose ``LeaderElector`` holds each Lease here).

``leading`` (shard 0 held) gates schedules, triggers and housekeeping; ``active`` (any shard held)
gates the work queue, which skips keys of shards not held (``owns``). Before shards count as
taken, ``taking`` runs (the shards' Jobs and pods listed into the cache, ``shard_cache.py``; if it
fails, they are taken at a later poll); once a shard is no longer held and its reconciles in
flight have ended, ``dropped`` runs (its Jobs and pods leave the cache). Whenever a shard is
taken, ``on_taken`` callbacks run (the controller's resync: every unfinished execution queued again).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from overture.controller.shards import shard_of, wanted
from overture.kube.client import REQUESTS, Kube
from overture.kube.errors import ApiError
from overture.kube.lease import LeaderElector
from overture.kube.store import Key

log = logging.getLogger("overture.shards")

LABEL_SET = "overture.dev/lease-set"
LABEL_ROLE = "overture.dev/lease-role"
HANDOVER_WAIT_SECONDS = 30.0  # a reconcile in flight longer than this is cut off by the 409 anyway
SILENT_RENEWALS = 3  # a member expired is dead once this replica has renewed its own membership so often since


def is_live(renewed: datetime, duration: timedelta, now: datetime, mine: Iterable[datetime]) -> bool:
    """Whether a member whose membership Lease was last renewed at ``renewed`` is alive.

    Renewed within ``duration``; or expired, but this replica has not itself renewed its own
    membership (``mine``: its last renewals) ``SILENT_RENEWALS`` times since: it may have been
    stalled along with the other. On the busy benchmark machine the API server answered nobody
    for over 10 s at a time, and after each such stall both replicas found the other expired and
    took its shards. A replica that really died is found dead as soon as its Lease expires,
    since the live ones renew every ``renew_seconds``, well within the Lease duration.
    """
    if now - renewed <= duration:
        return True
    return sum(1 for renewal in mine if renewal > renewed) < SILENT_RENEWALS


class ShardElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        identity: str,
        base: str,
        count: int,
        # + a poll: a dead replica's shards are taken within ~12 s. 8 s was lost between renewals
        # on a busy machine (benchmarks/README.md, session 5)
        duration_seconds: int = 10,
        renew_seconds: float = 2.0,
        busy: Callable[[], set[Key]] | None = None,
        taking: Callable[[set[int]], Awaitable[None]] | None = None,
        dropped: Callable[[set[int]], None] | None = None,
    ) -> None:
        self.api = client.CoordinationV1Api(kube.api)
        self.namespace = namespace
        self.identity = identity
        self.base = base
        self.count = count
        self.duration_seconds = duration_seconds
        self.renew_seconds = renew_seconds
        self.busy = busy or set
        self.taking = taking
        self.dropped = dropped
        member_name = f"{base}-member-{hashlib.sha256(identity.encode()).hexdigest()[:10]}"
        self.member = self._lease(kube, member_name, {LABEL_SET: base, LABEL_ROLE: "member"})
        self.shards = [
            self._lease(kube, f"{base}-shard-{i}", {LABEL_SET: base, LABEL_ROLE: "shard"}) for i in range(count)
        ]
        self.held: set[int] = set()
        self.renewals: deque[datetime] = deque(maxlen=SILENT_RENEWALS)  # of our membership (is_live)
        self.leading = asyncio.Event()  # shard 0 held: schedules, triggers, housekeeping
        self.active = asyncio.Event()  # some shard held: the work queue runs
        self.on_taken: list[Callable[[], Any]] = []

    def _lease(self, kube: Kube, name: str, labels: dict[str, str]) -> LeaderElector:
        return LeaderElector(
            kube,
            namespace=self.namespace,
            identity=self.identity,
            name=name,
            duration_seconds=self.duration_seconds,
            renew_seconds=self.renew_seconds,
            labels=labels,
        )

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    def owns(self, key: Key) -> bool:
        return shard_of(key, self.count) in self.held

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
            except (TimeoutError, ApiException, ApiError, OSError) as exc:
                log.warning("Could not reach the shard Leases: set=%s/%s error=%s", self.namespace, self.base, exc)
            await asyncio.sleep(self.renew_seconds)

    async def poll(self) -> None:
        """Renew, take and hand over. The renewals (membership and every shard held) and the
        membership list go out at once, then the other wanted shards' at once: one after the
        other, a poll took longer than the Lease duration on a busy API server (seconds a request),
        and two replicas each found the other's membership expired and took its shards."""
        held = sorted(self.held)
        renewing = asyncio.gather(*(self.shards[shard].poll() for shard in held))
        renewed, members, kept = await asyncio.gather(self.member.poll(), self._members(), renewing)
        if not renewed:
            return  # our own membership Lease is unreachable: the shards' own polls will fail as well
        if self.member.written is not None and self.member.written not in self.renewals:
            self.renewals.append(self.member.written)
        want = wanted(self.count, members, self.identity)
        others = sorted(want - self.held)
        acquired = await asyncio.gather(*(self.shards[shard].poll() for shard in others))
        taken = {shard for shard, holding in zip(others, acquired, strict=True) if holding}
        lost = {shard for shard, holding in zip(held, kept, strict=True) if not holding}
        given = self.held - want - lost
        for shard in sorted(lost):
            log.warning("Lost a shard: shard=%d/%d identity=%s", shard, self.count, self.identity)
        if lost or given:  # waits for their reconciles in flight
            await self._renewing(self._let_go(lost, given), set())
        if taken and self.taking is not None:
            # listing their Jobs and pods takes seconds on a busy API server. It raises: not taken
            # now, the next poll tries again
            await self._renewing(self.taking(taken), taken)
        for shard in sorted(taken):
            log.info("Took a shard: shard=%d/%d identity=%s", shard, self.count, self.identity)
        self.held |= taken
        self._signal()
        if taken:
            for callback in self.on_taken:
                callback()

    async def _renewing(self, work: Awaitable[None], shards: set[int]) -> None:
        """Await ``work`` with the Leases held and those of ``shards`` renewed meanwhile, so that none expires."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.renew_seconds)
                leases = (self.member, *(self.shards[shard] for shard in sorted(self.held | shards)))
                await asyncio.gather(*(lease.poll() for lease in leases))  # one lost: the next poll lets it go

        renewing = asyncio.create_task(renew())
        try:
            await work
        finally:
            renewing.cancel()

    async def _let_go(self, lost: set[int], given: set[int]) -> None:
        await asyncio.gather(*(self._stop(shard) for shard in lost), *(self._hand_over(shard) for shard in given))

    async def _hand_over(self, shard: int) -> None:
        """Stop reconciling ``shard``, let its reconciles in flight end, then give its Lease back."""
        await self._stop(shard)
        await self.shards[shard].release()
        log.info("Handed a shard over: shard=%d/%d identity=%s", shard, self.count, self.identity)

    async def _stop(self, shard: int) -> None:
        """Reconcile ``shard`` no more; once its reconciles in flight have ended, forget its objects."""
        self.held.discard(shard)
        self._signal()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANDOVER_WAIT_SECONDS
        while any(shard_of(key, self.count) == shard for key in self.busy()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.dropped is not None:
            self.dropped({shard})

    def _signal(self) -> None:
        for event, on in ((self.leading, 0 in self.held), (self.active, bool(self.held))):
            if on:
                event.set()
            else:
                event.clear()

    async def _members(self) -> set[str]:
        REQUESTS["lease-list"] += 1
        leases = await self.api.list_namespaced_lease(
            self.namespace, label_selector=f"{LABEL_SET}={self.base},{LABEL_ROLE}=member"
        )
        now = datetime.now(UTC)
        live = {self.identity}
        for lease in leases.items:
            spec = lease.spec
            renewed = spec.renew_time or spec.acquire_time
            if not spec.holder_identity or renewed is None:
                continue
            if renewed.tzinfo is None:
                renewed = renewed.replace(tzinfo=UTC)
            duration = timedelta(seconds=spec.lease_duration_seconds or self.duration_seconds)
            if is_live(renewed, duration, now, self.renewals):
                live.add(spec.holder_identity)
        return live

    async def release(self) -> None:
        """On a clean stop: stop reconciling, hand every shard and the membership back."""
        for shard in sorted(self.held):
            await self._hand_over(shard)
        await self.member.release()
