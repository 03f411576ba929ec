"""A scripted API server for a kube.watch.ListWatch of one path: LIST answers and watch streams
in order, and what was asked of it (the resourceVersion each watch started from, how many LISTs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


class ScriptedApi:
    """A watch step is a list of (type, object) events (then the server ends the watch) or an
    exception to raise. A LIST of more than one object comes in two pages; its resourceVersion is
    the first page's (the highest of its objects'). ``done`` is set when the script has run out."""

    def __init__(self, path: str, label_selector: str, lists: list[list[dict[str, Any]]], watches: list[Any]) -> None:
        self.path = path
        self.label_selector = label_selector
        self.lists = lists
        self.watches = watches
        self.watched_from: list[str] = []
        self.list_calls = 0
        self.metadata_only: set[bool] = set()  # as each LIST and watch asked
        self.done = asyncio.Event()

    async def list_page(
        self, path: str, label_selector: str = "", token: str = "", metadata_only: bool = False
    ) -> dict[str, Any]:
        assert (path, label_selector) == (self.path, self.label_selector)
        self.metadata_only.add(metadata_only)
        if not token:
            self.list_calls += 1
        items = self.lists[self.list_calls - 1]
        version = max((int(i["metadata"]["resourceVersion"]) for i in items), default=1)
        if not token and len(items) > 1:  # two pages: the resourceVersion is the first page's
            return {"items": [dict(items[0])], "metadata": {"continue": "next", "resourceVersion": str(version)}}
        rest = items[1:] if token else items
        return {"items": [dict(i) for i in rest], "metadata": {"resourceVersion": "999" if token else str(version)}}

    async def watch(
        self, path: str, resource_version: str, label_selector: str = "", **options: Any
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """``options``: ``metadata_only`` and ``timeout_seconds``, as Kube.watch takes them."""
        assert (path, label_selector) == (self.path, self.label_selector)
        self.metadata_only.add(bool(options.get("metadata_only")))
        self.watched_from.append(resource_version)
        if not self.watches:
            self.done.set()
            await asyncio.sleep(3600)
        step = self.watches.pop(0)
        if isinstance(step, Exception):
            raise step
        for event in step:
            yield event
