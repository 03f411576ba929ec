"""Leader election with a coordination.k8s.io Lease, as controller-runtime does it.

Every replica watches and keeps its cache warm; only the holder of the Lease reconciles and
fires triggers. The holder renews every ``renew_seconds``; a Lease not renewed for
``duration_seconds`` may be taken by another replica, which then reconciles every unfinished
execution from the API server's state. A deposed leader that is still mid-reconcile cannot do
harm: its status write carries a stale resourceVersion (409) and its Job creations are
idempotent.

``decide`` is the pure part (tested without a cluster); ``LeaderElector`` does the I/O.

A renewal is one request: the Lease as our last write left it, written again with a new
renewTime (its resourceVersion makes the write fail with 409 if anyone wrote since; then it is
read and decided again). Read-then-write took two round trips, seconds each on a busy API
server, and 2-replica benchmark runs lost their Leases between renewals. An error on a renewal
(a timeout) keeps the Lease held until it could have expired (``still_ours``), as client-go's
renew deadline does: one slow answer no longer makes the holder let go of its work.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from overture.kube.client import REQUESTS, Kube

log = logging.getLogger("overture.lease")


class Move(StrEnum):
    ACQUIRE = "acquire"  # free or expired: take it
    RENEW = "renew"  # ours: renew it
    WAIT = "wait"  # someone else holds it


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    renewed: datetime | None
    duration_seconds: int


def decide(lease: LeaseView | None, me: str, now: datetime) -> Move:
    if lease is None or not lease.holder:
        return Move.ACQUIRE
    if lease.holder == me:
        return Move.RENEW
    if lease.renewed is None or now - lease.renewed > timedelta(seconds=lease.duration_seconds):
        return Move.ACQUIRE
    return Move.WAIT


def still_ours(leading: bool, renewed_at: float, now: float, duration_seconds: float, margin: float) -> bool:
    """After a failed renewal: whether the Lease cannot have expired yet (monotonic seconds;
    ``renewed_at`` is when our last successful write was sent, ``margin`` allows for clock skew)."""
    return leading and now - renewed_at < duration_seconds - margin


def default_identity(port: int) -> str:
    """Out of a cluster (no pod name): host and HTTP port, so that a process restarted on the same
    port is the same replica and renews its own Lease at once instead of waiting for it to expire."""
    return f"{socket.gethostname()}-{port}"


def _micro(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        identity: str,
        name: str = "overture-operator",
        duration_seconds: int = 15,
        renew_seconds: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.api = client.CoordinationV1Api(kube.api)
        self.labels = labels or {}  # on the Lease when this replica creates it (shard members are listed by label)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration_seconds = duration_seconds
        self.renew_seconds = renew_seconds
        self.clock = clock or (lambda: datetime.now(UTC))
        self.elected = asyncio.Event()
        self.on_elected: list[Callable[[], Any]] = []
        self._ours: client.V1Lease | None = None  # the Lease as our last write left it
        self._renewed_at = 0.0  # time.monotonic() when that write was sent
        self.written: datetime | None = None  # the renewTime of our last successful write

    @property
    def is_leader(self) -> bool:
        return self.elected.is_set()

    async def run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self.renew_seconds)

    async def poll(self) -> bool:
        """One attempt to take or renew the Lease; whether this replica holds it now."""
        try:
            leading = await self._attempt()
        except (TimeoutError, ApiException, OSError) as exc:
            log.warning("Could not reach the Lease: lease=%s/%s error=%s", self.namespace, self.name, exc)
            self._ours = None
            margin = self.renew_seconds
            leading = still_ours(self.is_leader, self._renewed_at, time.monotonic(), self.duration_seconds, margin)
        self._set(leading)
        return leading

    def _set(self, leading: bool) -> None:
        if leading and not self.elected.is_set():
            log.info("Became the leader: lease=%s/%s identity=%s", self.namespace, self.name, self.identity)
            self.elected.set()
            for callback in self.on_elected:
                callback()
        elif not leading and self.elected.is_set():
            log.warning("Lost the leadership: lease=%s/%s identity=%s", self.namespace, self.name, self.identity)
            self.elected.clear()

    async def _attempt(self) -> bool:
        now = self.clock()
        if self._ours is not None and await self._write(self._ours, now):
            return True  # renewed in one request; 409: someone wrote since, read it below
        REQUESTS["lease-get"] += 1
        try:
            lease = await self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return await self._create(now)
        spec = lease.spec
        renewed = spec.renew_time or spec.acquire_time
        if renewed is not None and renewed.tzinfo is None:
            renewed = renewed.replace(tzinfo=UTC)
        view = LeaseView(spec.holder_identity, renewed, spec.lease_duration_seconds or self.duration_seconds)
        move = decide(view, self.identity, now)
        if move == Move.WAIT:
            return False
        if move == Move.ACQUIRE:
            spec.holder_identity = self.identity
            spec.acquire_time = now
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
        return await self._write(lease, now)

    async def _write(self, lease: client.V1Lease, now: datetime) -> bool:
        """Write ``lease`` renewed at ``now``; False if another replica wrote it first (409)."""
        lease.spec.renew_time = now
        lease.spec.lease_duration_seconds = self.duration_seconds
        sent = time.monotonic()
        self._ours = None
        REQUESTS["lease-update"] += 1
        try:
            self._ours = await self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        self._renewed_at, self.written = sent, now
        return True

    async def release(self) -> None:
        """On a clean stop, hand the Lease back so a standby need not wait for it to expire."""
        if not self.is_leader:
            return
        self.elected.clear()
        self._ours = None
        try:
            lease = await self.api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None  # type: ignore[assignment]
                await self.api.replace_namespaced_lease(self.name, self.namespace, lease)
                log.info("Released the Lease: lease=%s/%s", self.namespace, self.name)
        except (ApiException, OSError) as exc:
            log.warning("Could not release the Lease: %s", exc)

    async def _create(self, now: datetime) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.duration_seconds,
                "acquireTime": _micro(now),
                "renewTime": _micro(now),
                "leaseTransitions": 0,
            },
        }
        REQUESTS["lease-create"] += 1
        sent = time.monotonic()
        try:
            self._ours = await self.api.create_namespaced_lease(self.namespace, body)  # type: ignore[arg-type]
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        self._renewed_at, self.written = sent, now
        return True
