"""Sharding decisions, without a cluster: the stable hash and which replica wants which shard."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from overture.controller.shard_leases import is_live
from overture.controller.shards import assignment, shard_of, wanted

KEYS = [("team-a", f"run-{i}") for i in range(2000)] + [("team-b", f"run-{i}") for i in range(2000)]


def test_one_shard_is_everything() -> None:
    assert {shard_of(key, 1) for key in KEYS} == {0}
    assert wanted(1, ["a", "b"], "a") | wanted(1, ["a", "b"], "b") == frozenset({0})


def test_the_hash_is_the_same_in_another_process() -> None:
    """Python's hash() of a str changes per process; every replica must compute the same shard."""
    here = [shard_of(key, 16) for key in KEYS[:50]]
    code = (
        "from overture.controller.shards import shard_of;"
        "print([shard_of(('team-a', f'run-{i}'), 16) for i in range(50)])"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert there.strip() == str(here)


def test_executions_spread_over_the_shards() -> None:
    counts = Counter(shard_of(key, 8) for key in KEYS)
    assert set(counts) == set(range(8))
    assert max(counts.values()) < 1.25 * len(KEYS) / 8


def test_the_namespace_is_part_of_the_key() -> None:
    moved = sum(shard_of(("team-a", f"run-{i}"), 8) != shard_of(("team-b", f"run-{i}"), 8) for i in range(2000))
    assert moved > 1500


@pytest.mark.parametrize("members", [["a"], ["a", "b"], ["a", "b", "c"], ["r0", "r1", "r2", "r3", "r4"]])
def test_every_shard_is_wanted_by_exactly_one_member(members: list[str]) -> None:
    count = 16
    claims = Counter(shard for me in members for shard in wanted(count, members, me))
    assert set(claims) == set(range(count))
    assert set(claims.values()) == {1}


def test_a_replica_counts_itself_even_before_its_membership_shows() -> None:
    assert wanted(4, [], "a") == frozenset(range(4))
    assert wanted(4, ["b"], "a") | wanted(4, ["a", "b"], "b") == frozenset(range(4))


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 16, 64])
@pytest.mark.parametrize("replicas", [1, 2, 3, 5, 9])
def test_every_replica_holds_the_floor_or_the_ceiling_of_its_share(count: int, replicas: int) -> None:
    """Plain rendezvous hashing split 8 shards 2 + 6 over 2 replicas in a benchmark run."""
    for seed in range(20):
        members = [f"overture-{seed}-{i}" for i in range(replicas)]
        loads = Counter(assignment(count, members).values())
        held = [loads[member] for member in members]
        assert sorted(set(held)) in ([count // replicas], [count // replicas, -(-count // replicas)])
        assert sum(held) == count


def test_two_shards_over_two_replicas_are_always_split() -> None:
    for seed in range(50):
        members = [f"a-{seed}", f"b-{seed}"]
        assert len(wanted(2, members, members[0])) == 1


def test_the_assignment_does_not_depend_on_the_order_of_the_members() -> None:
    members = ["r3", "r1", "r0", "r2"]
    assert assignment(16, members) == assignment(16, sorted(members)) == assignment(16, [*members, "r1"])


def test_a_dead_replica_hands_its_shards_to_the_live_ones_and_few_others_move() -> None:
    count = 32
    before = assignment(count, ["a", "b", "c"])
    after = assignment(count, ["a", "c"])
    moved = {shard for shard in range(count) if before[shard] != after[shard]}
    of_the_dead = {shard for shard in range(count) if before[shard] == "b"}
    assert of_the_dead <= moved
    assert len(moved - of_the_dead) <= 3  # evening the load out moves a few more, not a reshuffle
    assert set(after.values()) == {"a", "c"}


def test_a_joining_replica_takes_its_share() -> None:
    count = 32
    share = wanted(count, ["a", "b", "c"], "c")
    assert len(share) in (10, 11)
    assert share.isdisjoint(wanted(count, ["a", "b", "c"], "a"))


def test_no_members_no_owner() -> None:
    assert assignment(4, []) == {}


def test_an_expired_member_is_dead_only_once_this_replica_has_renewed_its_own_since() -> None:
    """After a stall of the API server both replicas found the other expired and took its shards."""
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    duration = timedelta(seconds=10)
    renewed = t0
    now = t0 + timedelta(seconds=25)  # both stalled from t0 + 1 s to t0 + 24 s
    before_the_stall = [t0 - timedelta(seconds=4), t0 - timedelta(seconds=2), t0 + timedelta(seconds=1)]
    assert is_live(renewed, duration, t0 + timedelta(seconds=9), [])
    assert is_live(renewed, duration, now, before_the_stall)
    assert is_live(renewed, duration, now, [*before_the_stall[1:], t0 + timedelta(seconds=24)])
    # dead for real: this replica went on renewing every 2 s, so the expiry alone decides
    going_on = [t0 + timedelta(seconds=s) for s in (6, 8, 10)]
    assert not is_live(renewed, duration, t0 + timedelta(seconds=11), going_on)
