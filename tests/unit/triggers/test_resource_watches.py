"""triggers/resource.ResourceWatches against a scripted API server: a resource trigger's watch is a
kube.watch.ListWatch, so a watch whose resourceVersion is gone (410) lists again at once, and
what that LIST shows counts as listed (a creation the watch may have missed), not as events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.scripted_api import ScriptedApi

from overture.api import ResourceEvent
from overture.kube import watch as watch_module
from overture.kube.errors import translate
from overture.triggers.resource import ResourceWatches, WatchKey


def obj(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": version}}


class DiscoveringApi(ScriptedApi):
    async def resource_plural(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        return {("v1", "ConfigMap"): ("configmaps", True), ("v1", "Secret"): ("secrets", True)}.get((api_version, kind))


def watch(key: WatchKey, api: ScriptedApi) -> list[tuple[ResourceEvent, str, bool]]:
    """What the trigger handler is handed, until the script has run out."""
    handed: list[tuple[ResourceEvent, str, bool]] = []

    async def handler(key: WatchKey, event: ResourceEvent, body: dict[str, Any], listed: bool) -> None:
        assert (body["kind"], body["apiVersion"]) == (key.kind, key.api_version)
        handed.append((event, body["metadata"]["name"], listed))

    async def main() -> None:
        watches = ResourceWatches(api, handler)  # type: ignore[arg-type]
        watches.ensure({key})
        await asyncio.wait_for(api.done.wait(), 5)
        watches.stop()

    asyncio.run(main())
    return handed


@pytest.fixture(autouse=True)
def no_second_chance(monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch that failed would wait an hour before trying again: the test would time out."""
    monkeypatch.setattr(watch_module, "RETRY_SECONDS", 3600.0)


def test_a_gone_resource_version_lists_again_at_once_and_the_listed_count_as_listed() -> None:
    key = WatchKey("v1", "ConfigMap", "ns")
    event = {**obj("b", "6"), "kind": "ConfigMap", "apiVersion": "v1"}
    api = DiscoveringApi(
        "/api/v1/namespaces/ns/configmaps",
        "",
        [[obj("a", "5")], [obj("a", "5"), obj("b", "6"), obj("c", "12")]],
        [[("ADDED", event), ("BOOKMARK", {"metadata": {"resourceVersion": "8"}})], translate(410, "too old")],
    )
    handed = watch(key, api)
    created = ResourceEvent.CREATED
    assert handed == [
        (created, "a", True),
        (created, "b", False),
        (created, "a", True),
        (created, "b", True),
        (created, "c", True),
    ]
    assert api.watched_from == ["5", "8", "12"]  # the first LIST's, the bookmark's, the second LIST's
    assert api.metadata_only == {False}


def test_secrets_are_listed_and_watched_as_metadata_only() -> None:
    key = WatchKey("v1", "Secret", "ns")
    api = DiscoveringApi("/api/v1/namespaces/ns/secrets", "", [[obj("s", "3")]], [])
    assert watch(key, api) == [(ResourceEvent.CREATED, "s", True)]
    assert api.metadata_only == {True}
