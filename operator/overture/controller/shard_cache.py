"""Which task Jobs and pods a sharded replica caches: those of the executions in its own shards.

Only a reconcile reads a task's Job and pod, and only the holder of the execution's shard
reconciles it; the other replicas skip those watch events (no copy, no index, no comparison),
about half of all watch events with two replicas. Executions themselves stay cached everywhere
(concurrency limits count a flow's runs across shards, housekeeping and /metrics read them all).

Taking a shard (``take``): its Jobs and pods are listed into the cache before the shard counts
as held, so no reconcile of it runs on a cache without them (it would take a running Job for a
deleted one). Watch events for the shard are kept from the moment the take starts; a listed
object the watch has shown meanwhile is not replaced (the watch's copy is as new or newer), nor
one whose deletion it has shown. Handing a shard over or losing it (``drop``): its objects leave
the cache, since no watch event keeps them current any more.

A Job's execution label holds at most 63 characters: a label that long may be a cut name whose
shard cannot be told, and is cached on every replica (kept current by the watch like any other).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from overture.api import LABEL_EXECUTION
from overture.controller.shards import shard_of
from overture.kube.jobs import LABEL_VALUE_MAX
from overture.kube.store import Body, Key, Store, key_of

TASK_KINDS = ("job", "pod")  # as Store.put names them
Listing = Callable[[], AsyncIterator[tuple[str, list[dict[str, Any]]]]]  # (kind, a page of objects)


class ShardCache:
    def __init__(self, store: Store, count: int) -> None:
        self.store = store
        self.count = count
        self.shards: set[int] = set()  # held, or being taken
        self._deleted: set[tuple[str, Key]] | None = None  # while listing: deletions the watch showed

    def wants(self, body: Body) -> bool:
        """Whether a task's Job or pod belongs in this replica's cache."""
        meta = body["metadata"]
        execution = (meta.get("labels") or {}).get(LABEL_EXECUTION)
        if not execution or len(execution) >= LABEL_VALUE_MAX:
            return True
        return shard_of((meta.get("namespace") or "", execution), self.count) in self.shards

    def deleted(self, kind: str, body: Body) -> None:
        """The watch showed ``body`` deleted: a listing under way must not bring it back."""
        if self._deleted is not None:
            self._deleted.add((kind, key_of(body)))

    async def take(self, shards: Iterable[int], listing: Listing) -> None:
        """Cache the Jobs and pods of ``shards`` (from ``listing``); on an error, none of them."""
        shards = set(shards)
        self.shards |= shards
        self._deleted = set()
        try:
            async for kind, page in listing():
                table = self.store.jobs if kind == "job" else self.store.pods
                for body in page:
                    if self.wants(body) and key_of(body) not in table and (kind, key_of(body)) not in self._deleted:
                        self.store.put(kind, body)
        except BaseException:
            self.drop(shards)
            raise
        finally:
            self._deleted = None

    def drop(self, shards: Iterable[int]) -> None:
        """Forget the Jobs and pods of ``shards``: no longer held, so no longer kept current."""
        self.shards -= set(shards)
        for kind, table in (("job", self.store.jobs), ("pod", self.store.pods)):
            for body in [body for body in table.values() if not self.wants(body)]:
                self.store.put(kind, body, deleted=True)
