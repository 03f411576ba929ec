"""Leader election decisions, without a cluster."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from overture.kube.lease import LeaderElector, LeaseView, Move, decide, still_ours

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lease", "expected"),
    [
        (None, Move.ACQUIRE),
        (LeaseView(None, None, 15), Move.ACQUIRE),
        (LeaseView("me", NOW - timedelta(seconds=100), 15), Move.RENEW),
        (LeaseView("other", NOW - timedelta(seconds=5), 15), Move.WAIT),
        (LeaseView("other", NOW - timedelta(seconds=15), 15), Move.WAIT),
        (LeaseView("other", NOW - timedelta(seconds=16), 15), Move.ACQUIRE),
        (LeaseView("other", None, 15), Move.ACQUIRE),
    ],
)
def test_decide(lease: LeaseView | None, expected: Move) -> None:
    assert decide(lease, "me", NOW) == expected


def test_a_failed_renewal_keeps_the_lease_until_it_could_have_expired() -> None:
    assert still_ours(True, renewed_at=100.0, now=105.0, duration_seconds=10, margin=2)
    assert not still_ours(True, renewed_at=100.0, now=109.0, duration_seconds=10, margin=2)
    assert not still_ours(False, renewed_at=100.0, now=101.0, duration_seconds=10, margin=2)


class Leases:
    """The Lease API: one Lease, a resourceVersion that grows with each write, 409 on a stale one."""

    def __init__(self) -> None:
        self.lease: client.V1Lease | None = None
        self.calls: list[str] = []

    async def read_namespaced_lease(self, name: str, namespace: str) -> client.V1Lease:
        self.calls.append("get")
        if self.lease is None:
            raise ApiException(status=404)
        return copy.deepcopy(self.lease)

    async def create_namespaced_lease(self, namespace: str, body: dict[str, Any]) -> client.V1Lease:
        self.calls.append("create")
        spec = body["spec"]
        self.lease = client.V1Lease(
            metadata=client.V1ObjectMeta(name=body["metadata"]["name"], resource_version="1"),
            spec=client.V1LeaseSpec(holder_identity=spec["holderIdentity"], lease_duration_seconds=10),
        )
        return copy.deepcopy(self.lease)

    async def replace_namespaced_lease(self, name: str, namespace: str, body: client.V1Lease) -> client.V1Lease:
        self.calls.append("put")
        assert self.lease is not None
        if body.metadata.resource_version != self.lease.metadata.resource_version:
            raise ApiException(status=409)
        self.lease = copy.deepcopy(body)
        self.lease.metadata.resource_version = str(int(body.metadata.resource_version) + 1)
        return copy.deepcopy(self.lease)


def elector(leases: Leases, identity: str) -> LeaderElector:
    made = LeaderElector(SimpleNamespace(api=object()), "ns", identity, duration_seconds=10)  # type: ignore[arg-type]
    made.api = leases  # type: ignore[assignment]
    return made


def test_a_renewal_is_one_write_and_a_stale_one_reads_the_lease_again() -> None:
    """Read-then-write took two round trips (seconds each on a busy API server): Leases expired."""
    leases = Leases()
    me, other = elector(leases, "me"), elector(leases, "other")

    async def main() -> None:
        assert await me.poll()
        assert leases.calls == ["get", "create"]
        leases.calls.clear()
        assert await me.poll()
        assert await me.poll()
        assert leases.calls == ["put", "put"]  # no read before each renewal
        assert leases.lease is not None
        leases.lease.spec.holder_identity = "other"  # taken over (as after an expiry)
        leases.lease.metadata.resource_version = "99"
        leases.calls.clear()
        assert not await me.poll()
        assert leases.calls == ["put", "get"]  # 409: read, and another holds it
        leases.calls.clear()
        assert await other.poll()  # the holder the Lease names: it reads first (no write of its own yet)
        assert leases.calls == ["get", "put"]

    asyncio.run(main())
