"""Webhooks through aiohttp's test server: keys, the same 401 for unknown flows, sizes, rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.triggerdocs import FakeKube, flow_body, store_with

from overture.calls.guard import parse_networks
from overture.kube.flow_cache import FlowCache
from overture.server import Metrics, build_app
from overture.triggers import webhook
from overture.triggers.webhook import (
    FAILED_KEYS_PER_MINUTE,
    FAILED_KEYS_PER_WEBHOOK,
    MAX_BODY,
    REFUSAL_SECONDS,
    RateLimiter,
    SecretCache,
    TokenBucket,
    Webhooks,
)

HOOK = {
    "id": "on-upload",
    "type": "webhook",
    "keySecretRef": {"name": "hooks", "key": "ingest"},
    "rateLimit": 3,
    "inputs": {"files": "{{ trigger.body.files }}"},
}
INPUTS = [{"id": "files", "type": "INT", "min": 1}]
PATH = "/webhooks/ns/ingest/on-upload"
KEY = {"X-Overture-Key": "s3cret"}


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def serve(
    test: Callable[[TestClient[Any, Any], FakeKube, Ticker], Awaitable[None]],
    hook: dict[str, Any] = HOOK,
    trusted_proxies: str = "",
    **spec: Any,
) -> None:
    store = store_with(flow_body("ingest", [hook], inputs=INPUTS, **spec))
    kube = FakeKube(secrets={("ns", "hooks", "ingest"): "s3cret"})
    ticker = Ticker()
    hooks = Webhooks(
        FlowCache(store),
        kube.create_execution,
        SecretCache(kube.read_secret_value, clock=ticker),
        RateLimiter(clock=ticker),
        trusted_proxies=parse_networks(trusted_proxies),
    )
    app = build_app(Metrics(store, lambda: 0, lambda: True), lambda: True, routes=hooks.routes())

    async def main() -> None:
        async with TestClient(TestServer(app)) as http:
            await test(http, kube, ticker)

    asyncio.run(main())


def test_the_right_key_starts_an_execution_with_the_body() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        reply = await http.post(PATH, json={"files": 3}, headers=KEY)
        assert reply.status == 201
        name = (await reply.json())["execution"]
        manifest = kube.created[name]
        assert manifest["spec"]["trigger"]["data"] == {"files": 3}
        assert manifest["spec"]["trigger"]["type"] == "webhook"
        assert manifest["spec"]["inputs"] == {"files": "3"}
        assert (await http.post(f"{PATH}?key=s3cret", json={"files": 1})).status == 201

    serve(test)


def test_wrong_key_unknown_flow_and_unknown_trigger_answer_the_same() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        replies = [
            await http.post(PATH, json={}, headers={"X-Overture-Key": "s3creT"}),
            await http.post(PATH, json={}),
            await http.post("/webhooks/ns/nope/on-upload", json={}, headers=KEY),
            await http.post("/webhooks/other/ingest/on-upload", json={}, headers=KEY),
            await http.post("/webhooks/ns/ingest/nope", json={}, headers=KEY),
        ]
        assert {r.status for r in replies} == {401}
        assert {await r.text() for r in replies} == {'{"error": "invalid key or unknown webhook"}'}
        assert kube.created == {}

    serve(test)


def test_wrong_keys_from_one_address_are_throttled_until_its_bucket_refills() -> None:
    """Wrong keys were unlimited (~2,100 a second) and never logged (issue 14)."""

    async def test(http: TestClient[Any, Any], kube: FakeKube, ticker: Ticker) -> None:
        wrong = {"X-Overture-Key": "guess"}
        statuses = [(await http.post(PATH, json={}, headers=wrong)).status for _ in range(FAILED_KEYS_PER_MINUTE)]
        assert statuses == [401] * FAILED_KEYS_PER_MINUTE
        throttled = await http.post(PATH, json={"files": 1}, headers=KEY)
        assert throttled.status == 429
        assert throttled.headers["Retry-After"] == "6"
        ticker.now += 6
        assert (await http.post(PATH, json={"files": 1}, headers=KEY)).status == 201

    serve(test)


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() -> None:
    """Behind a proxy every call came from its address: one client's wrong keys throttled all."""

    async def test(http: TestClient[Any, Any], kube: FakeKube, ticker: Ticker) -> None:
        for _ in range(FAILED_KEYS_PER_MINUTE):
            wrong = {"X-Overture-Key": "guess", "X-Forwarded-For": "198.51.100.1"}
            assert (await http.post(PATH, json={}, headers=wrong)).status == 401
        guesser = {**KEY, "X-Forwarded-For": "198.51.100.1"}
        assert (await http.post(PATH, json={"files": 1}, headers=guesser)).status == 429
        other = {**KEY, "X-Forwarded-For": "198.51.100.2"}
        assert (await http.post(PATH, json={"files": 1}, headers=other)).status == 201

    serve(test, trusted_proxies="127.0.0.0/8")


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, ticker: Ticker) -> None:
        for n in range(FAILED_KEYS_PER_MINUTE):  # a new made-up address each time: still one client
            wrong = {"X-Overture-Key": "guess", "X-Forwarded-For": f"198.51.100.{n}"}
            assert (await http.post(PATH, json={}, headers=wrong)).status == 401
        assert (await http.post(PATH, json={"files": 1}, headers={**KEY, "X-Forwarded-For": "192.0.2.1"})).status == 429

    serve(test)


def test_wrong_keys_from_many_addresses_throttle_the_webhook_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A distributed guesser: FAILED_KEYS_PER_WEBHOOK wrong keys a minute for one path in all."""
    monkeypatch.setattr(webhook, "REFUSAL_SECONDS", 0.0)  # 120 refusals: their pace is not the point here

    async def test(http: TestClient[Any, Any], kube: FakeKube, ticker: Ticker) -> None:
        unknown = "/webhooks/ns/nope/on-upload"
        for n in range(FAILED_KEYS_PER_WEBHOOK):
            sender = {"X-Overture-Key": "guess", "X-Forwarded-For": f"198.51.{n // 250}.{n % 250}"}
            assert (await http.post(PATH, json={}, headers=sender)).status == 401
            assert (await http.post(unknown, json={}, headers=sender)).status == 401
            ticker.now += 0.01
        fresh = {**KEY, "X-Forwarded-For": "192.0.2.1"}
        throttled = await http.post(PATH, json={"files": 1}, headers=fresh)
        assert throttled.status == 429
        assert "this webhook" in (await throttled.json())["error"]
        # an unknown path answers alike, so the 429 does not tell which flows exist
        assert (await http.post(unknown, json={}, headers=fresh)).status == 429
        assert (await http.post("/webhooks/ns/ingest/other", json={}, headers=fresh)).status == 401
        ticker.now += 2
        assert (await http.post(PATH, json={"files": 1}, headers=fresh)).status == 201

    serve(test, trusted_proxies="127.0.0.1/32")


def test_a_refusal_takes_as_long_for_a_missing_flow_as_for_a_wrong_key() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        for path, headers in ((PATH, {"X-Overture-Key": "guess"}), ("/webhooks/ns/nope/on-upload", KEY)):
            started = asyncio.get_running_loop().time()
            assert (await http.post(path, json={}, headers=headers)).status == 401
            assert asyncio.get_running_loop().time() - started >= REFUSAL_SECONDS

    serve(test)


def test_a_missing_secret_rejects_every_key() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        kube.secrets.clear()
        assert (await http.post(PATH, json={"files": 1}, headers={"X-Overture-Key": ""})).status == 401
        assert (await http.post(PATH, json={"files": 1}, headers=KEY)).status == 401

    serve(test)


def test_secrets_are_cached_briefly() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, ticker: Ticker) -> None:
        for _ in range(3):
            await http.post(PATH, json={"files": 1}, headers={"X-Overture-Key": "wrong"})
        assert kube.secret_reads == 1
        ticker.now += 11
        kube.secrets[("ns", "hooks", "ingest")] = "rotated"
        assert (await http.post(PATH, json={"files": 1}, headers={"X-Overture-Key": "rotated"})).status == 201
        assert kube.secret_reads == 2

    serve(test)


def test_bodies_over_1_mib_get_413_with_or_without_content_length() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        big = b"[" + b"1," * (MAX_BODY // 2) + b"1]"
        assert (await http.post(PATH, data=big, headers=KEY)).status == 413

        async def chunks() -> Any:
            for _ in range(20):
                yield b" " * 65536

        assert (await http.post(PATH, data=chunks(), headers=KEY)).status == 413
        assert kube.created == {}

    serve(test)


def test_rate_limit_answers_429_with_retry_after_and_refills() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, ticker: Ticker) -> None:
        statuses = [(await http.post(PATH, json={"files": 1}, headers=KEY)).status for _ in range(4)]
        assert statuses == [201, 201, 201, 429]
        limited = await http.post(PATH, json={"files": 1}, headers=KEY)
        assert limited.headers["Retry-After"] == "20"
        ticker.now += 20
        assert (await http.post(PATH, json={"files": 1}, headers=KEY)).status == 201

    serve(test)


def test_inputs_that_do_not_fit_get_422_naming_the_input_and_bad_json_400() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        reply = await http.post(PATH, json={"files": 0}, headers=KEY)
        assert reply.status == 422
        assert "spec.inputs.files: value 0 is below the minimum 1" in (await reply.json())["error"]
        reply = await http.post(PATH, json={"other": 1}, headers=KEY)
        assert reply.status == 422
        assert "spec.triggers[0].inputs" in (await reply.json())["error"]
        assert (await http.post(PATH, data=b"{not json", headers=KEY)).status == 400
        assert kube.created == {}

    serve(test)


def test_an_idempotency_key_starts_one_execution() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        headers = {**KEY, "Idempotency-Key": "upload-7"}
        first = await http.post(PATH, json={"files": 2}, headers=headers)
        second = await http.post(PATH, json={"files": 2}, headers=headers)
        other = await http.post(PATH, json={"files": 2}, headers={**KEY, "Idempotency-Key": "upload-8"})
        name = (await first.json())["execution"]
        assert first.status == 201
        assert (second.status, await second.json()) == (200, {"execution": name, "created": False})
        assert (await other.json())["execution"] != name
        assert len(kube.created) == 2

    serve(test)


def test_a_suspended_flow_answers_409_to_a_caller_with_the_key() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        assert (await http.post(PATH, json={"files": 1}, headers=KEY)).status == 409
        assert (await http.post(PATH, json={"files": 1})).status == 401

    serve(test, suspend=True)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(per_minute=60, tokens=60.0, updated=0.0)
    assert all(bucket.take(0.0) == 0.0 for _ in range(60))
    assert bucket.take(0.0) == 1.0
    assert bucket.take(1.0) == 0.0
    assert bucket.take(1.5) == 0.5


def test_a_condition_filters_calls_by_their_body() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        reply = await http.post(PATH, json={"files": 3, "action": "closed"}, headers=KEY)
        assert reply.status == 200
        assert (await reply.json()) == {"skipped": "trigger 'on-upload': condition rendered 'False'"}
        assert kube.created == {}
        reply = await http.post(PATH, json={"files": 3, "action": "opened"}, headers=KEY)
        assert reply.status == 201

    serve(test, hook={**HOOK, "condition": "{{ trigger.body.action == 'opened' }}"})


def test_a_condition_that_does_not_render_is_a_422_naming_it() -> None:
    async def test(http: TestClient[Any, Any], kube: FakeKube, _: Ticker) -> None:
        reply = await http.post(PATH, json={"files": 3}, headers=KEY)
        assert reply.status == 422
        assert (await reply.json())["error"].startswith("spec.triggers[0].condition: undefined key 'action'")

    serve(test, hook={**HOOK, "condition": "{{ trigger.body.action == 'opened' }}"})
