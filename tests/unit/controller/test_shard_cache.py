"""A sharded replica caches the task Jobs and pods of its own shards only (controller/shard_cache.py):
listed in as it takes a shard, never over what the watch showed meanwhile, forgotten as it lets go."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from overture.api import LABEL_EXECUTION
from overture.controller.shard_cache import ShardCache
from overture.controller.shards import shard_of
from overture.kube.store import Store

COUNT = 4


def execution_in(shard: int, skip: int = 0) -> str:
    """The name of an execution of namespace "ns" in ``shard`` (the ``skip``-th found)."""
    names = (f"run-{i}" for i in range(10_000) if shard_of(("ns", f"run-{i}"), COUNT) == shard)
    for _ in range(skip):
        next(names)
    return next(names)


def job(execution: str, version: str = "1", attempt: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{execution}-a-{attempt}",
            "namespace": "ns",
            "resourceVersion": version,
            "labels": {LABEL_EXECUTION: execution},
        },
        "status": {},
    }


def pod(execution: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{execution}-a-1-xyz",
            "namespace": "ns",
            "resourceVersion": "1",
            "labels": {LABEL_EXECUTION: execution, "job-name": f"{execution}-a-1"},
        },
        "status": {"phase": "Running"},
    }


def listing(*pages: tuple[str, list[dict[str, Any]]], fail: bool = False, during: Any = None) -> Any:
    async def pages_() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
        if during is not None:
            during()  # what the watch delivers while the LIST is on its way
        for page in pages:
            yield page
        if fail:
            raise OSError("connection reset")

    return pages_


def test_only_the_shards_taken_are_listed_into_the_cache() -> None:
    store = Store()
    cache = ShardCache(store, COUNT)
    mine, theirs = execution_in(1), execution_in(2)
    asyncio.run(cache.take({1}, listing(("job", [job(mine), job(theirs)]), ("pod", [pod(mine), pod(theirs)]))))
    assert set(store.jobs) == {("ns", f"{mine}-a-1")}
    assert set(store.pods) == {("ns", f"{mine}-a-1-xyz")}
    assert cache.wants(job(mine))
    assert not cache.wants(job(theirs))


def test_a_long_execution_label_may_be_cut_so_its_objects_are_cached_everywhere() -> None:
    cache = ShardCache(Store(), COUNT)
    assert cache.wants(job("x" * 63))
    assert cache.wants({"metadata": {"name": "no-label", "namespace": "ns"}})


def test_what_the_watch_showed_during_the_listing_wins_over_the_listing() -> None:
    store = Store()
    cache = ShardCache(store, COUNT)
    running, gone = execution_in(1), execution_in(1, skip=1)

    def watch_meanwhile() -> None:
        store.put("job", {**job(running, version="9"), "status": {"succeeded": 1}})  # newer than the LIST's
        cache.deleted("job", job(gone))  # the Job the LIST still shows was deleted meanwhile

    asyncio.run(cache.take({1}, listing(("job", [job(running, version="5"), job(gone)]), during=watch_meanwhile)))
    assert store.jobs[("ns", f"{running}-a-1")]["metadata"]["resourceVersion"] == "9"
    assert ("ns", f"{gone}-a-1") not in store.jobs


def test_a_failed_listing_leaves_nothing_of_the_shards_behind() -> None:
    store = Store()
    cache = ShardCache(store, COUNT)
    mine = execution_in(3)
    with pytest.raises(OSError, match="connection reset"):
        asyncio.run(cache.take({3}, listing(("job", [job(mine)]), fail=True)))
    assert store.jobs == {}
    assert not cache.wants(job(mine))


def test_a_shard_let_go_leaves_the_cache_and_the_others_stay() -> None:
    store = Store()
    cache = ShardCache(store, COUNT)
    kept, dropped = execution_in(0), execution_in(2)
    asyncio.run(cache.take({0, 2}, listing(("job", [job(kept), job(dropped)]), ("pod", [pod(dropped)]))))
    cache.drop({2})
    assert set(store.jobs) == {("ns", f"{kept}-a-1")}
    assert store.pods == {}
    assert store.jobs_of("ns", dropped) == []
