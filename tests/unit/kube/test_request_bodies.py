"""The operator's request bodies reach the wire as built, without kubernetes_asyncio's copy (``WireJson``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kubernetes_asyncio import client

from overture.kube.client import JsonApiClient, Kube, WireJson


class Sent:
    """Stands in for ``ApiClient.request``: keeps each body and answers 200 with ``{}``."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []

    async def __call__(self, method: str, url: str, body: Any = None, **_: Any) -> Any:
        self.bodies.append(body)
        return Answer()


class Answer:
    status = 200
    data = b"{}"

    async def read(self) -> bytes:
        return self.data

    def release(self) -> None:
        pass

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return "application/json" if name.lower() == "content-type" else default


def kube_sending(api: client.ApiClient) -> tuple[Kube, Sent]:
    sent = Sent()
    api.request = sent  # type: ignore[method-assign]
    return Kube(api), sent


def test_a_wire_json_body_is_sent_as_it_is() -> None:
    asyncio.run(wire_json_as_it_is())


async def wire_json_as_it_is() -> None:
    api = JsonApiClient()
    body = WireJson(spec={"containers": [{"command": ["sh", "-c", "true"]}]})
    assert api.sanitize_for_serialization(body) is body
    plain = {"spec": {"containers": [{"command": ["sh"]}]}}
    copied = api.sanitize_for_serialization(plain)
    assert copied == plain
    assert copied is not plain  # anything else: as kubernetes_asyncio does
    await api.close()


def test_job_creates_and_status_patches_are_not_copied_on_the_way() -> None:
    asyncio.run(creates_and_patches())


async def creates_and_patches() -> None:
    kube, sent = kube_sending(JsonApiClient())
    manifest = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "a-t1-1"}, "spec": {"x": [1, 2]}}
    await kube.create_job("team", manifest)
    status = {"state": "RUNNING", "taskRuns": [{"id": "t1"}]}
    await kube.patch_status("executions", "team", "a", status, resource_version="7")
    created, patched = sent.bodies
    assert isinstance(created, WireJson)
    assert created == manifest
    assert isinstance(patched, WireJson)
    assert patched["status"] is status
    assert json.loads(json.dumps(patched)) == {"status": status, "metadata": {"resourceVersion": "7"}}
    await kube.close()
