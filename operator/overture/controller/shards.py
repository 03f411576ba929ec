"""Which replica reconciles which execution: the pure part of active-active sharding.

Executions are split into ``count`` shards by a stable hash of their key (namespace/name), the
same on every replica and across restarts. Each shard has one Lease; only its holder reconciles
the shard's executions. With ``count == 1`` this is today's leader election: one Lease, held by one
replica, which reconciles everything.

Which shards a replica *wants* is rendezvous (highest-random-weight) hashing over the live
replicas: every replica computes the same owner for every shard from the same member list, and a
replica joining or leaving moves only the shards it wins or held (about 1/N of them). A replica
takes a wanted shard when its Lease is free or expired, and hands back a shard it no longer wants
(a new member won it) so that member can take it at its next poll. A dead replica stops renewing:
its shards' Leases expire after the Lease duration and their new owners take them then.

Schedules and housekeeping (retention, the Flows' last run) run on the holder of shard 0 only, so
a tick still fires once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from overture.kube.store import Key


def _weight(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:8], "big")


def shard_of(key: Key, count: int) -> int:
    """The shard of the execution ``key``: stable across processes (no ``hash()``, which is salted)."""
    if count <= 1:
        return 0
    return _weight(*key) % count


def owner(shard: int, members: Iterable[str]) -> str | None:
    """The live replica that should hold ``shard`` (rendezvous hashing); None without members."""
    return max(members, key=lambda member: (_weight(str(shard), member), member), default=None)


def wanted(count: int, members: Iterable[str], me: str) -> frozenset[int]:
    """The shards ``me`` should hold when ``members`` (``me`` included) are alive."""
    live = set(members) | {me}
    return frozenset(shard for shard in range(count) if owner(shard, live) == me)
