"""kube/watch.ListWatch against a scripted API server: no event is lost when a watch ends
quietly, breaks, or finds its resourceVersion gone (410), and bookmarks move it on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.scripted_api import ScriptedApi

from overture.kube import watch as watch_module
from overture.kube.errors import TransientError
from overture.kube.watch import InNamespace, ListWatch, vanished

PATH = "/apis/batch/v1/namespaces/ns/jobs"


def job(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": version}}


def scripted(lists: list[list[dict[str, Any]]], watches: list[Any]) -> ScriptedApi:
    return ScriptedApi(PATH, "overture.dev/execution", lists, watches)


def run(api: ScriptedApi, cached: list[dict[str, Any]] | None = None) -> tuple[list[tuple[str, str]], ListWatch]:
    seen: list[tuple[str, str]] = []
    store = {("ns", b["metadata"]["name"]): b for b in cached or []}

    def handle(event_type: str, body: dict[str, Any]) -> None:
        seen.append((event_type, body["metadata"]["name"]))
        if event_type == "DELETED":
            store.pop(("ns", body["metadata"]["name"]), None)
        else:
            store[("ns", body["metadata"]["name"])] = body

    async def main() -> ListWatch:
        lw = ListWatch(api, PATH, "overture.dev/execution", "Job", "batch/v1", handle, store)  # type: ignore[arg-type]
        await lw.relist()
        task = asyncio.create_task(lw.run())
        await asyncio.wait_for(api.done.wait(), 5)
        task.cancel()
        return lw

    return seen, asyncio.run(main())


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_module, "RETRY_SECONDS", 0.0)


def test_the_first_list_is_added_and_the_watch_starts_from_its_version() -> None:
    api = scripted([[job("a", "5"), job("b", "7")]], [[("MODIFIED", job("a", "8"))]])
    seen, lw = run(api)
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a")]
    assert api.watched_from == ["7", "8"]  # the LIST's (first page's) version, then the last event's
    assert lw.version == "8"


def test_a_quiet_end_and_a_broken_watch_resume_from_the_last_version_a_bookmark_included() -> None:
    api = scripted(
        [[job("a", "5")]],
        [
            [("ADDED", job("b", "6"))],  # then the server ends it (timeoutSeconds)
            [("BOOKMARK", {"metadata": {"resourceVersion": "9"}})],
            TransientError(0, "connection reset"),
            [("DELETED", job("a", "10"))],
        ],
    )
    seen, _ = run(api)
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]  # no bookmark handed over
    assert api.watched_from == ["5", "6", "9", "9", "10"]
    assert api.list_calls == 1  # none of these needs a LIST


def test_gone_lists_again_and_what_vanished_meanwhile_is_deleted() -> None:
    api = scripted(
        [[job("a", "5"), job("b", "6")], [job("b", "20"), job("c", "21")]],
        [TransientError(410, "too old resource version")],
    )
    seen, _ = run(api)
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "b"), ("MODIFIED", "c"), ("DELETED", "a")]
    assert api.watched_from == ["6", "21"]


def test_an_object_cached_after_the_list_was_taken_is_not_gone() -> None:
    cached = {("ns", "old"): job("old", "4"), ("ns", "created"): job("created", "12")}  # our create's answer
    assert vanished(cached, [], "10") == [job("old", "4")]


def test_a_failing_handler_does_not_stop_the_watch() -> None:
    api = scripted([[]], [[("ADDED", job("bad", "2")), ("ADDED", job("good", "3"))]])
    seen: list[str] = []

    def handle(event_type: str, body: dict[str, Any]) -> None:
        if body["metadata"]["name"] == "bad":
            raise KeyError("labels")
        seen.append(body["metadata"]["name"])

    async def main() -> None:
        lw = ListWatch(api, PATH, "overture.dev/execution", "Job", "batch/v1", handle, {})  # type: ignore[arg-type]
        task = asyncio.create_task(lw.run())
        await asyncio.wait_for(api.done.wait(), 5)
        task.cancel()

    asyncio.run(main())
    assert seen == ["good"]
    assert api.watched_from == ["1", "3"]


def test_vanished_compares_namespace_and_name_within_the_watched_namespace() -> None:
    table = {
        ("ns", "a"): job("a", "1"),
        ("other", "b"): {"x": 1},
        ("ns", "b"): job("b", "1"),
        ("ns", "c"): job("c", "1"),
    }
    assert vanished(InNamespace(table, "ns"), [("ns", "a"), ("other", "c")], "5") == [job("b", "1"), job("c", "1")]
    assert vanished(InNamespace(table, None), [("ns", "a"), ("ns", "b"), ("ns", "c")], "5") == [{"x": 1}]
    assert len(InNamespace(table, "other")) == 1
    assert ("ns", "a") not in InNamespace(table, "other")


def test_pages_list_every_page_with_kind_set_and_leave_the_watch_where_it_was() -> None:
    """What a shard takeover lists (handlers.task_pages): the same LIST as relist's, page by page,
    without handing anything over or moving the point the watch resumes from."""
    api = scripted([[job("a", "5"), job("b", "7")]], [])
    handed: list[str] = []
    lw = ListWatch(api, PATH, "overture.dev/execution", "Job", "batch/v1", lambda t, b: handed.append(t), {})  # type: ignore[arg-type]
    lw.version = "3"

    async def collect() -> list[tuple[str, list[dict[str, Any]]]]:
        return [page async for page in lw.pages()]

    pages = asyncio.run(collect())
    assert [(version, [i["metadata"]["name"] for i in items]) for version, items in pages] == [
        ("7", ["a"]),
        ("999", ["b"]),
    ]
    assert all(i["kind"] == "Job" and i["apiVersion"] == "batch/v1" for _, items in pages for i in items)
    assert handed == []
    assert (lw.version, lw.lists) == ("3", 0)
