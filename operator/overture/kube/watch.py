"""List, then watch: the operator's own watch of one kind (its Executions, task Jobs and pods,
and what resource triggers name: triggers/resource.py), without kopf.

kopf's per-event machinery (its per-object workers, body wrappers, handler selection) cost
about a quarter of the event loop's busy time under load (benchmarks/README.md), for handlers
that only fill the cache and queue a reconcile. These watches hand each event's object, as the
API server sent it, to a plain function.

How no event is lost:
- The first LIST (``relist``, before any reconcile starts) gives the resourceVersion the watch
  starts from; every event, BOOKMARKs included, moves it on.
- A watch that ends (its ``timeoutSeconds``, or the server closing it quietly) or breaks
  (connection errors, 5xx) is started again from the last resourceVersion seen.
- 410 Gone (that resourceVersion is older than the server keeps): LIST again. Objects listed
  are handed over as ``MODIFIED`` (the handler compares them with what it has), and objects the
  cache holds that the LIST no longer shows, unless cached after it was taken (a create's
  answer), as ``DELETED``: deletions in between are not lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from overture.kube.client import Kube
from overture.kube.errors import ApiError

log = logging.getLogger("overture.kube")

Body = Mapping[str, Any]
Key = tuple[str, str]  # (namespace, name)
# (event type, object). A plain function must not block; a coroutine function (resource triggers,
# which create Executions) is awaited before the next event is read: a slow one holds the stream
# back, as the API server's own flow control would, rather than pile events up in memory.
Handler = Callable[[str, dict[str, Any]], Awaitable[None] | None]
RETRY_SECONDS = 1.0  # after a broken watch or a failed LIST; at most MAX_RETRY_SECONDS when it keeps failing
MAX_RETRY_SECONDS = 30.0
WATCH_SECONDS = 300  # the server ends each watch after this long; it is started again at once


def vanished(cached: Mapping[Key, Body], listed: Iterable[Key], version: str) -> list[Body]:
    """Cached objects a fresh LIST (at resourceVersion ``version``) does not show: deleted while no
    watch ran. One cached after the LIST was taken (the answer of our own create) is newer than the
    LIST, not gone. Only the candidates' values are read."""
    seen = set(listed)
    gone = (cached.get(key) for key in list(cached) if key not in seen)
    return [body for body in gone if body is not None and not _newer(body, version)]


def _newer(body: Body, version: str) -> bool:
    """Whether ``body``'s resourceVersion is after ``version`` (compared as etcd's revisions, as the cache does)."""
    try:
        return int(body["metadata"]["resourceVersion"]) > int(version)
    except (KeyError, TypeError, ValueError):
        return False


class InNamespace(Mapping[Key, Body]):
    """The part of a cache table (keyed by (namespace, name)) in one namespace; all of it for None.
    Values are read only when asked for (a packed execution is decoded only if it vanished)."""

    def __init__(self, table: Mapping[Key, Body], namespace: str | None) -> None:
        self.table = table
        self.namespace = namespace

    def __getitem__(self, key: Key) -> Body:
        if self.namespace is not None and key[0] != self.namespace:
            raise KeyError(key)
        return self.table[key]

    def __iter__(self) -> Iterator[Key]:
        return (key for key in list(self.table) if self.namespace is None or key[0] == self.namespace)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(eq=False)
class ListWatch:
    """LIST ``path`` (objects matching ``label_selector``), then watch it from there, for good.

    ``cached`` is what the handler has kept of this watch's objects, by (namespace, name) (for a
    LIST after 410 Gone: what is missing from it was deleted). ``kind`` and ``api_version`` are set on listed
    objects (a LIST's items carry neither; watch events do). ``listed``, if given, gets the listed
    objects instead of ``handler`` (resource triggers: a listed object is no event, only a creation
    the watch may have missed). ``metadata_only`` lists and watches PartialObjectMetadata (a
    Secret's data never reaches the operator).
    """

    kube: Kube
    path: str
    label_selector: str
    kind: str
    api_version: str
    handler: Handler
    cached: Mapping[Key, Body]
    listed: Handler | None = None
    metadata_only: bool = False
    version: str = field(default="", init=False)  # the resourceVersion the next watch starts from; "" until listed
    lists: int = field(default=0, init=False)

    async def pages(self) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
        """LIST ``path`` as it is now, a page at a time: (the page's resourceVersion, its objects,
        with ``kind`` and ``apiVersion`` set). The watch's resume point does not move."""
        token = ""
        while True:
            page = await self.kube.list_page(self.path, self.label_selector, token, metadata_only=self.metadata_only)
            metadata = page.get("metadata") or {}
            items = page.get("items") or []
            for item in items:
                item.setdefault("kind", self.kind)
                item.setdefault("apiVersion", self.api_version)
            yield str(metadata.get("resourceVersion") or ""), items
            token = str(metadata.get("continue") or "")
            if not token:
                return

    async def relist(self, handler: Handler | None = None) -> None:
        """LIST every page; hand each object to ``handler`` (``listed``, or the watch's own, if None)
        and each vanished one as DELETED; the watch then goes on from the LIST's resourceVersion."""
        handle = handler or self.listed or self.handler
        listed: list[Key] = []
        version = ""
        async for page_version, items in self.pages():
            version = version or page_version  # the first page's: the list's snapshot
            for item in items:
                meta = item.get("metadata") or {}
                listed.append((meta.get("namespace") or "", meta.get("name") or ""))
                await self._hand(handle, "ADDED" if self.lists == 0 else "MODIFIED", item)
        if self.lists:
            for body in vanished(self.cached, listed, version):
                await self._hand(handle, "DELETED", dict(body))
        self.lists += 1
        self.version = version

    async def run(self) -> None:
        """Watch from the last LIST (``relist`` first if none) until cancelled."""
        delay = RETRY_SECONDS
        while True:
            try:
                if not self.version:
                    await self.relist()
                await self.watch_once()
                delay = RETRY_SECONDS
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status == 410:
                    log.info("Listing again (the watch's resourceVersion is gone): %s", self.path)
                    self.version = ""
                    continue
                log.warning("Watch of %s failed, starting it again in %.0f s: %s", self.path, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
            except Exception as exc:  # a bug or an undecodable line: never stop watching for good
                log.exception("Watch of %s failed, starting it again in %.0f s: %r", self.path, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)

    async def watch_once(self) -> None:
        """One watch request, from ``self.version`` until the server ends it."""
        async for event_type, obj in self.kube.watch(
            self.path,
            self.version,
            self.label_selector,
            metadata_only=self.metadata_only,
            timeout_seconds=WATCH_SECONDS,
        ):
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if event_type != "BOOKMARK":
                await self._hand(self.handler, event_type, obj)
            if version:
                self.version = str(version)

    async def _hand(self, handler: Handler, event_type: str, obj: dict[str, Any]) -> None:
        try:
            handled = handler(event_type, obj)
            if handled is not None:
                await handled
        except Exception:  # one object's bug must not stop every other object's events
            log.exception("Handling a %s event of %s failed", event_type, self.path)
