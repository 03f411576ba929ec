"""Webhook bodies found by tests/e2e/test_fuzz.py: nested too deep for the JSON parser or for an
Execution. Each must be a 400 naming the problem, never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.triggerdocs import FakeKube, flow_body, store_with

from overture.kube.flow_cache import FlowCache
from overture.server import Metrics, build_app
from overture.triggers.webhook import SecretCache, Webhooks

HOOK = {"id": "on-call", "type": "webhook", "keySecretRef": {"name": "hooks", "key": "k"}}
PATH = "/webhooks/ns/deep/on-call"


def post(body: bytes) -> tuple[int, dict[str, Any]]:
    store = store_with(flow_body("deep", [HOOK]))
    kube = FakeKube(secrets={("ns", "hooks", "k"): "s3cret"})
    hooks = Webhooks(FlowCache(store), kube.create_execution, SecretCache(kube.read_secret_value))
    app = build_app(Metrics(store, lambda: 0, lambda: True), lambda: True, routes=hooks.routes())

    async def main() -> tuple[int, dict[str, Any]]:
        async with TestClient(TestServer(app)) as http:
            reply = await http.post(PATH, data=body, headers={"X-Overture-Key": "s3cret"})
            return reply.status, await reply.json()

    return asyncio.run(main())


@pytest.mark.parametrize("depth", [300, 5000], ids=["deeper-than-an-execution", "deeper-than-the-parser"])
def test_deeply_nested_bodies_are_a_400(depth: int) -> None:
    status, reply = post(b"[" * depth + b"]" * depth)
    assert status == 400, reply
    assert "body" in reply["error"]


def test_a_shallow_body_still_starts_a_run() -> None:
    status, reply = post(b"[[[1]]]")
    assert status == 201, reply
