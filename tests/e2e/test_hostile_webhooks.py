"""Webhooks against a key guesser and a slow client (issue 14, part 5), on the local cluster.

Probes, each with what it did before the fix:

- wrong keys were unlimited (~2,100 a second) and never logged; now 10 a minute per client
  address, then 429 (each refusal logged with the address), and 60 a minute per webhook path
  from all addresses together, so many addresses cannot guess one key either;
- behind a proxy every caller had the proxy's address, so one guesser throttled all of them; now a
  peer listed in ``OVERTURE_WEBHOOK_TRUSTED_PROXIES`` names the client in ``X-Forwarded-For``,
  and anyone else's header is ignored;
- the answer time told a real flow from a missing one; now every 401 leaves 0.25 s after the
  request came (the elapsed times are asserted to be at least that, and printed);
- half-sent headers or a body that never comes held a connection open forever; now the server
  closes one without whole headers after 10 s, and answers 408 to a body that is not there
  10 s after its headers.

Each test calls from its own loopback address (127.0.0.0/8 all reaches the operator), so the
buckets it fills are its own and the session's other webhook tests are not throttled.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from faults import operator_with_env
from harness import GROUP, VERSION, OperatorProcess, poll
from kubernetes import client
from tenancy import Tenant, Tenants, flow, helm, tenants

from overture.triggers.webhook import FAILED_KEYS_PER_MINUTE, FAILED_KEYS_PER_WEBHOOK, REFUSAL_SECONDS

pytestmark = pytest.mark.e2e

__all__ = ["helm", "tenants"]  # fixtures


def _hook(tenant: Tenant, name: str) -> str:
    """A flow of ``tenant`` with a webhook trigger ``hook`` (its key Secret made by the admin); the key."""
    key = uuid.uuid4().hex
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name=f"{name}-key"), string_data={"key": key})
    tenant.admin.core.create_namespaced_secret(tenant.namespace, secret)
    hook = {"id": "hook", "type": "webhook", "keySecretRef": {"name": f"{name}-key", "key": "key"}, "rateLimit": 600}
    tenant.custom.create_namespaced_custom_object(
        GROUP, VERSION, tenant.namespace, "flows", flow(name, triggers=[hook])
    )
    poll(lambda: (tenant.admin.get("flows", name).get("status") or {}).get("conditions"), 30, f"flow {name} judged")
    return key


def _post(port: int, source: str, path: str, key: str, forwarded_for: str = "") -> tuple[int, str, float]:
    """POST ``{}`` from the local address ``source`` (as a proxy for ``forwarded_for``): status, body, seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    headers = {"X-Overture-Key": key, "Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    started = time.monotonic()
    try:
        connection.request("POST", path, body=b"{}", headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.read().decode(), time.monotonic() - started
    finally:
        connection.close()


def test_wrong_keys_are_logged_and_throttled_per_address(tenants: Tenants, operator_process: OperatorProcess) -> None:
    a = tenants.a
    key = _hook(a, "guessed")
    path = f"/webhooks/{a.namespace}/guessed/hook"
    guesser, other = "127.0.0.2", "127.0.0.3"
    statuses = [_post(operator_process.port, guesser, path, f"guess-{n}")[0] for n in range(FAILED_KEYS_PER_MINUTE)]
    throttled, reply, _ = _post(operator_process.port, guesser, path, key)
    fine = _post(operator_process.port, other, path, key)[0]
    logged = operator_process.log_path.read_text(errors="replace").count(f"Refused a webhook call: client={guesser} ")
    print(
        f"\n[hostile] {FAILED_KEYS_PER_MINUTE} wrong keys from {guesser}: {statuses}; then the right key: {throttled} "
        f"{reply}; from {other}: {fine}; {logged} refusals logged"
    )
    assert statuses == [401] * FAILED_KEYS_PER_MINUTE
    assert throttled == 429, reply
    assert "too many wrong keys" in reply
    assert fine == 201
    assert logged >= FAILED_KEYS_PER_MINUTE


def test_behind_a_trusted_proxy_each_forwarded_client_is_throttled_alone(
    tenants: Tenants, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    """Behind a proxy every caller had the proxy's address: one guesser throttled them all. Only a
    peer in OVERTURE_WEBHOOK_TRUSTED_PROXIES may say who it forwards; anyone else's header is ignored."""
    a = tenants.a
    key = _hook(a, "proxied")
    path = f"/webhooks/{a.namespace}/proxied/hook"
    proxy, stranger = "127.0.0.7", "127.0.0.8"
    env = {**operator_process.env, "OVERTURE_WEBHOOK_TRUSTED_PROXIES": f"{proxy}/32"}
    with operator_with_env(operator_process, tmp_path / "proxied.log", env) as proxied:
        port = proxied.port
        poll(lambda: _post(port, "127.0.0.9", path, key)[0] == 201, 30, "the webhook served")
        guesses = [_post(port, proxy, path, "guess", "198.51.100.1")[0] for _ in range(FAILED_KEYS_PER_MINUTE)]
        guesser = _post(port, proxy, path, key, "198.51.100.1")[0]
        neighbour = _post(port, proxy, path, key, "198.51.100.2")[0]
        # a peer that is no trusted proxy: a new X-Forwarded-For each time is still the one peer
        claims = [_post(port, stranger, path, "guess", f"203.0.113.{n}")[0] for n in range(FAILED_KEYS_PER_MINUTE)]
        stranger_after = _post(port, stranger, path, key, "203.0.113.200")[0]
        logged = proxied.log_path.read_text(errors="replace")
    print(
        f"\n[hostile] behind trusted proxy {proxy}: 198.51.100.1's {len(guesses)} wrong keys {sorted(set(guesses))}, "
        f"then its right key {guesser}, 198.51.100.2's right key {neighbour}; untrusted {stranger} claiming "
        f"new addresses: {sorted(set(claims))} then {stranger_after}"
    )
    assert guesses == [401] * FAILED_KEYS_PER_MINUTE
    assert (guesser, neighbour) == (429, 201)
    assert claims == [401] * FAILED_KEYS_PER_MINUTE
    assert stranger_after == 429
    assert f"client=198.51.100.1 peer={proxy} " in logged
    assert f"client={stranger} peer={stranger} " in logged


def test_many_addresses_together_are_throttled_per_webhook(tenants: Tenants, operator_process: OperatorProcess) -> None:
    a = tenants.a
    _hook(a, "spread")
    path = f"/webhooks/{a.namespace}/spread/hook"
    # one wrong key from each address (none reaches its own limit), more than the path's budget
    guessers = [f"127.0.1.{n + 1}" for n in range(FAILED_KEYS_PER_WEBHOOK + 30)]
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda source: _post(operator_process.port, source, path, "guess")[:2], guessers))
    statuses = [status for status, _ in replies]
    throttled = {body for status, body in replies if status == 429}
    print(
        f"\n[hostile] {len(guessers)} addresses, one wrong key each: {statuses.count(401)} x 401, "
        f"{statuses.count(429)} x 429 {sorted(throttled)}"
    )
    assert set(statuses) == {401, 429}
    assert statuses.count(401) >= FAILED_KEYS_PER_WEBHOOK  # the budget (it refills by one a second meanwhile)
    assert throttled == {'{"error": "too many wrong keys for this webhook"}'}


def test_a_missing_flow_and_a_wrong_key_answer_alike_at_the_same_time(
    tenants: Tenants, operator_process: OperatorProcess
) -> None:
    a = tenants.a
    key = _hook(a, "timed")
    source = "127.0.0.4"
    wrong_key = _post(operator_process.port, source, f"/webhooks/{a.namespace}/timed/hook", "guess")
    missing = _post(operator_process.port, source, f"/webhooks/{a.namespace}/no-such-flow/hook", key)
    print(f"\n[hostile] 401 for a wrong key after {wrong_key[2]:.3f}s, for a missing flow after {missing[2]:.3f}s")
    assert wrong_key[:2] == missing[:2]
    assert wrong_key[0] == 401
    assert wrong_key[2] >= REFUSAL_SECONDS
    assert missing[2] >= REFUSAL_SECONDS


def _closed_after(sock: socket.socket) -> tuple[bytes, float]:
    """What the server sends before it closes ``sock`` (b"": nothing), and after how long."""
    started = time.monotonic()
    sock.settimeout(60)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received, time.monotonic() - started


def test_half_sent_headers_and_a_body_that_never_comes_are_cut_off(
    tenants: Tenants, operator_process: OperatorProcess
) -> None:
    a = tenants.a
    key = _hook(a, "slow")
    path = f"/webhooks/{a.namespace}/slow/hook"
    results: dict[str, tuple[bytes, float]] = {}

    def slow_headers() -> None:
        with socket.create_connection(("127.0.0.1", operator_process.port), source_address=("127.0.0.5", 0)) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: overture\r\n".encode())  # no blank line: headers go on
            results["headers"] = _closed_after(sock)

    def slow_body() -> None:
        with socket.create_connection(("127.0.0.1", operator_process.port), source_address=("127.0.0.6", 0)) as sock:
            head = f"POST {path} HTTP/1.1\r\nHost: overture\r\nX-Overture-Key: {key}\r\nContent-Length: 1000\r\n\r\n"
            sock.sendall(head.encode() + b'{"a": ')  # 6 of 1,000 bytes
            results["body"] = _closed_after(sock)

    threads = [threading.Thread(target=slow_headers), threading.Thread(target=slow_body)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    (headers_sent, headers_after), (body_sent, body_after) = results["headers"], results["body"]
    status_line = body_sent.split(b"\r\n", 1)[0]
    print(
        f"\n[hostile] half-sent headers: closed after {headers_after:.1f}s ({headers_sent[:40]!r}); "
        f"a missing body: {status_line!r}, the connection closed after {body_after:.1f}s"
    )
    assert headers_after < 59, "a half-sent request was never closed"
    assert b" 408 " in status_line, body_sent[:200]
