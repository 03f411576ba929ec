"""Which replica reconciles which execution: the pure part of active-active sharding.

Executions are split into ``count`` shards by a stable hash of their key (namespace/name), the
same on every replica and across restarts. Each shard has one Lease; only its holder reconciles
the shard's executions. With ``count == 1`` this is today's leader election: one Lease, held by one
replica, which reconciles everything.

Which shards a replica *wants* is rendezvous (highest-random-weight) hashing over the live
replicas with bounded load: every replica computes the same assignment from the same member
list, and with R live replicas and S shards each holds floor(S/R) or ceil(S/R) of them. Plain
rendezvous hashing split 8 shards 2 + 6 over 2 replicas in a benchmark run (and 2 shards 2 + 0
1 time in 2); the bound costs a little of its stability: a replica joining or leaving moves the
shards it wins or held, and a few more to even the load out. A replica takes a wanted shard when
its Lease is free or expired, and hands back a shard it no longer wants (a new member won it) so
that member can take it at its next poll. A dead replica stops renewing: its shards' Leases
expire after the Lease duration and their new owners take them then.

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


def _preference(shard: int, members: Iterable[str]) -> list[str]:
    """``members`` in the order ``shard`` prefers them (rendezvous hashing: highest weight first)."""
    return sorted(members, key=lambda member: (_weight(str(shard), member), member), reverse=True)


def assignment(count: int, members: Iterable[str]) -> dict[int, str]:
    """Every shard's owner among ``members``: each holds floor or ceil of count / len(members).

    Shards in order, each to the member it prefers most that still has room. Every member has
    room for floor(count / R) shards, and the first (count mod R) members to reach that bound
    get one more; the rooms add up to ``count`` exactly, so every member ends with its floor or
    its ceil. The same members give the same assignment on every replica.
    """
    live = sorted(set(members))
    if not live:
        return {}
    floor, extra = divmod(count, len(live))
    load = dict.fromkeys(live, 0)
    owners: dict[int, str] = {}
    for shard in range(count):
        for member in _preference(shard, live):
            if load[member] < floor or (load[member] == floor and extra > 0):
                if load[member] == floor:
                    extra -= 1
                load[member] += 1
                owners[shard] = member
                break
    return owners


def wanted(count: int, members: Iterable[str], me: str) -> frozenset[int]:
    """The shards ``me`` should hold when ``members`` (``me`` included) are alive."""
    owners = assignment(count, set(members) | {me})
    return frozenset(shard for shard, member in owners.items() if member == me)
