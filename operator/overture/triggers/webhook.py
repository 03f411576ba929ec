"""Webhooks: ``POST /webhooks/{namespace}/{flow}/{trigger-id}`` starts an Execution.

Replies, in the order they are checked:

- 413 when the body is larger than 1 MiB (from Content-Length, or while reading);
- 429 to a client address that sent more than ``FAILED_KEYS_PER_MINUTE`` wrong keys a minute
  (a token bucket per address and replica), until it refills: a key cannot be guessed at
  thousands of tries a second. The address is the peer's, or behind a trusted proxy the one it
  forwarded (``forwarded.py``);
- 429 to every caller of a webhook path that got more than ``FAILED_KEYS_PER_WEBHOOK`` wrong
  keys a minute from all addresses together: many addresses cannot guess one key faster than
  that (a random 32-character key stays out of reach at 86,400 tries a day). An unknown path
  is counted the same way, so the 429 does not tell that a flow exists. The price: someone
  sending wrong keys can hold a webhook's callers at 429 (each refused call is logged with its
  address);
- 401 ``invalid key or unknown webhook`` when the flow, its webhook trigger or the key is wrong:
  the same reply for each, sent ``REFUSAL_SECONDS`` after the request came whatever the reason,
  so a caller without the key cannot learn which flows exist, from the reply or its time; each is
  logged with the client's address. An invalid Flow has no webhooks either (its Ready condition
  says why);
- 409 when the flow is suspended or the trigger disabled (only to a caller with the key);
- 429 with ``Retry-After`` past the trigger's ``rateLimit`` (requests per minute, a token bucket
  per trigger and operator replica, so a burst of ``rateLimit`` is allowed);
- 408 when the body does not arrive within ``BODY_SECONDS`` (slow headers are the HTTP
  server's: it closes a connection that has not sent a whole request within 10 s);
- 400 when the body is not JSON; 422 when the trigger's inputs do not render or do not fit the
  flow's declared inputs, naming the input by its path;
- 201 ``{"execution": name}``; 200 with ``"created": false`` when an ``Idempotency-Key`` was
  seen before (the name is computed from it, so a retried call never starts a second run).

The key is sent as the ``X-Overture-Key`` header (or ``?key=``, for senders that cannot set
headers) and compared with ``hmac.compare_digest`` against the Secret key that ``keySecretRef``
names (surrounding whitespace of the stored value ignored; an empty key matches nothing).
Secrets are read through the kube client and kept ``SECRET_TTL`` seconds, so a rotated key takes
effect within that time and a flood of calls does not become a flood of reads.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from overture.api import Flow, TriggerKind, WebhookTrigger, coerce_inputs, too_deep
from overture.api.times import iso
from overture.calls.guard import Network
from overture.isolation import TenantWork
from overture.kube.errors import ApiError, TransientError
from overture.kube.flow_cache import FlowCache
from overture.templating import TemplateError
from overture.triggers.executions import ConditionFalse, build_execution, execution_name
from overture.triggers.forwarded import FORWARDED_FOR, client_address

log = logging.getLogger("overture.triggers")

MAX_BODY = 1024 * 1024
KEY_HEADER = "X-Overture-Key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
UNAUTHORIZED = "invalid key or unknown webhook"
SECRET_TTL = 10.0
FAILED_KEYS_PER_MINUTE = 10  # per client address: past it, 429 to that client until its bucket refills
FAILED_KEYS_PER_WEBHOOK = 60  # per webhook path, from every address: past it, 429 to all its callers
REFUSAL_SECONDS = 0.25  # every 401 leaves this long after the request came: the same for any reason
BODY_SECONDS = 10.0  # to send the body, once the headers are in (the HTTP server closes slow headers)
MAX_BUCKETS = 10000
ROUTE = "/webhooks/{namespace}/{flow}/{trigger}"

ReadSecret = Callable[[str, str, str], Awaitable[str | None]]
CreateExecution = Callable[[str, dict[str, Any]], Awaitable[bool]]


@dataclass
class TokenBucket:
    """``per_minute`` tokens, refilled continuously; a request takes one."""

    per_minute: int
    tokens: float
    updated: float

    def wait(self, now: float) -> float:
        """0 if a token is there, else the seconds until one is."""
        rate = self.per_minute / 60.0
        self.tokens = min(float(self.per_minute), self.tokens + (now - self.updated) * rate)
        self.updated = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / rate

    def take(self, now: float) -> float:
        """0 if a token was taken, else the seconds until one is available."""
        wait = self.wait(now)
        if wait == 0.0:
            self.tokens -= 1.0
        return wait


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[tuple[str, ...], TokenBucket] = {}

    def take(self, key: tuple[str, ...], per_minute: int) -> float:
        return self._bucket(key, per_minute).take(self.clock())

    def wait(self, key: tuple[str, ...], per_minute: int) -> float:
        """Seconds until ``key`` may take a token (0: now), taking none."""
        return self._bucket(key, per_minute).wait(self.clock()) if key in self.buckets else 0.0

    def _bucket(self, key: tuple[str, ...], per_minute: int) -> TokenBucket:
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None or bucket.per_minute != per_minute:
            if len(self.buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self.buckets[key] = TokenBucket(per_minute, float(per_minute), now)
        return bucket

    def _forget_full(self, now: float) -> None:
        """Many keys (clients): a full bucket is the same as none."""
        for key, bucket in list(self.buckets.items()):
            bucket.wait(now)  # refills it
            if bucket.tokens >= bucket.per_minute:
                del self.buckets[key]


class SecretCache:
    """Secret values for ``SECRET_TTL`` seconds; a missing Secret or key is cached as None too."""

    def __init__(self, read: ReadSecret, ttl: float = SECRET_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.read = read
        self.ttl = ttl
        self.clock = clock
        self.values: dict[tuple[str, str, str], tuple[float, str | None]] = {}

    async def get(self, namespace: str, name: str, key: str) -> str | None:
        now = self.clock()
        cached = self.values.get((namespace, name, key))
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        value = await self.read(namespace, name, key)
        self.values[(namespace, name, key)] = (now, value)
        return value


def _checked_execution(
    flow: Flow, trigger: WebhookTrigger, name: str, date: str, data: Any
) -> tuple[dict[str, Any], list[str]]:
    """The webhook's Execution, and what is wrong with its inputs (none: it may be created)."""
    manifest = build_execution(flow, trigger, name=name, kind=TriggerKind.WEBHOOK, date=date, data=data)
    _, problems = coerce_inputs(flow.spec.inputs, manifest["spec"]["inputs"])
    return manifest, problems


def _reply(status: int, **body: Any) -> web.Response:
    return web.json_response(body, status=status)


class Webhooks:
    def __init__(
        self,
        flows: FlowCache,
        create: CreateExecution,
        secrets: SecretCache,
        limiter: RateLimiter | None = None,
        clock: Callable[[], datetime] | None = None,
        on_fired: Callable[[str, str, str, datetime], None] | None = None,
        work: TenantWork | None = None,
        trusted_proxies: tuple[Network, ...] = (),
    ) -> None:
        self.work = work or TenantWork()
        self.flows = flows
        self.create = create
        self.secrets = secrets
        self.limiter = limiter or RateLimiter()
        self.failures = RateLimiter(self.limiter.clock)  # wrong keys, by ("client", address) and ("path", ...)
        self.trusted_proxies = trusted_proxies
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_fired = on_fired

    def routes(self) -> list[web.RouteDef]:
        return [web.post(ROUTE, self.handle)]

    async def _authorised(self, request: web.Request) -> tuple[Flow, int, WebhookTrigger] | None:
        namespace, name, trigger_id = (request.match_info[k] for k in ("namespace", "flow", "trigger"))
        given = request.headers.get(KEY_HEADER) or request.query.get("key") or ""
        flow = self.flows.get((namespace, name))
        found = next(
            (
                (i, t)
                for i, t in enumerate(flow.spec.triggers if flow else ())
                if isinstance(t, WebhookTrigger) and t.id == trigger_id
            ),
            None,
        )
        if flow is None or found is None:
            hmac.compare_digest(given.encode(), b"-" * 32)  # do the same work as a wrong key
            return None
        index, trigger = found
        try:
            expected = await self.secrets.get(namespace, trigger.key_secret_ref.name, trigger.key_secret_ref.key)
        except ApiError as exc:
            log.warning("Could not read a webhook key: flow=%s/%s error=%s", namespace, name, exc)
            expected = None
        # a key file written with `echo` ends in a newline that no caller sends
        expected = expected.strip() if expected else None
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return flow, index, trigger

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _reply(413, error=f"the body is larger than {MAX_BODY} bytes")
        came = time.monotonic()
        address = client_address(request.remote or "", request.headers.getall(FORWARDED_FOR, []), self.trusted_proxies)
        client = ("client", address)
        path = ("path", *(request.match_info[k] for k in ("namespace", "flow", "trigger")))
        for key, limit, whose in (
            (client, FAILED_KEYS_PER_MINUTE, "this address"),
            (path, FAILED_KEYS_PER_WEBHOOK, "this webhook"),
        ):
            throttled = self.failures.wait(key, limit)
            if throttled > 0:
                return web.json_response(
                    {"error": f"too many wrong keys for {whose}"},
                    status=429,
                    headers={"Retry-After": str(max(1, math.ceil(throttled)))},
                )
        found = await self._authorised(request)
        if found is None:
            return await self._refused(request, address, (client, path), came)
        flow, index, trigger = found
        namespace, name = flow.metadata.namespace or "", flow.metadata.name
        if flow.spec.suspend or trigger.disabled:
            return _reply(409, error="the flow is suspended" if flow.spec.suspend else "the trigger is disabled")
        wait = self.limiter.take((namespace, name, trigger.id), trigger.rate_limit)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            return web.json_response(
                {"error": f"more than {trigger.rate_limit} calls a minute (rateLimit)"},
                status=429,
                headers={"Retry-After": str(seconds)},
            )
        try:
            raw = await asyncio.wait_for(request.read(), BODY_SECONDS)
        except web.HTTPRequestEntityTooLarge:
            return _reply(413, error=f"the body is larger than {MAX_BODY} bytes")
        except TimeoutError:
            return _reply(408, error=f"the body did not arrive within {BODY_SECONDS:g} s")
        if len(raw) > MAX_BODY:
            return _reply(413, error=f"the body is larger than {MAX_BODY} bytes")
        try:
            data = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: [[[[...]]]] too deep
            return _reply(400, error=f"the body is not JSON: {exc!r}"[:500])
        if (problem := too_deep(data, "the body")) is not None:
            return _reply(400, error=problem)
        return await self._start(flow, index, trigger, data, request.headers.get(IDEMPOTENCY_HEADER))

    async def _refused(
        self, request: web.Request, address: str, counted: tuple[tuple[str, ...], tuple[str, ...]], came: float
    ) -> web.Response:
        """401 for a wrong key, an unknown flow or trigger alike: logged, counted against the
        client and the path, and answered ``REFUSAL_SECONDS`` after the request came whatever the
        reason (a known flow's key is a Secret read, an unknown one is nothing: the time would tell)."""
        client, path = counted
        self.failures.take(client, FAILED_KEYS_PER_MINUTE)
        self.failures.take(path, FAILED_KEYS_PER_WEBHOOK)
        log.warning("Refused a webhook call: client=%s peer=%s path=%s", address, request.remote, request.path)
        await asyncio.sleep(max(0.0, REFUSAL_SECONDS - (time.monotonic() - came)))
        return _reply(401, error=UNAUTHORIZED)

    async def _start(
        self, flow: Flow, index: int, trigger: WebhookTrigger, data: Any, idempotency_key: str | None
    ) -> web.Response:
        namespace, name = flow.metadata.namespace or "", flow.metadata.name
        token = idempotency_key if idempotency_key else uuid.uuid4().hex
        execution = execution_name(name, trigger.id, "", f"webhook/{name}/{trigger.id}/{token}")
        now = self.clock()
        try:  # the trigger's templates and the inputs' patterns: tenant code, off the event loop
            manifest, problems = await self.work.run(
                namespace, _checked_execution, flow, trigger, execution, iso(now), data
            )
        except ConditionFalse as exc:
            return _reply(200, skipped=str(exc))
        except TemplateError as exc:
            return _reply(422, error=f"spec.triggers[{index}].{exc}")
        except ValueError as exc:  # pydantic: a body nested deeper than an Execution may hold
            return _reply(400, error=f"the body cannot start an execution: {exc}"[:500])
        if problems:
            return _reply(422, error="; ".join(problems), problems=problems)
        try:
            created = await self.create(namespace, manifest)
        except TransientError as exc:
            return web.json_response(
                {"error": f"the API server is busy: {exc}"}, status=503, headers={"Retry-After": "1"}
            )
        except ApiError as exc:
            return _reply(422, error=f"the Execution was rejected: {exc}")
        if self.on_fired is not None:
            self.on_fired(namespace, name, trigger.id, now)
        if created:
            log.info("Created Execution: execution=%s/%s trigger=%s (webhook)", namespace, execution, trigger.id)
            return _reply(201, execution=execution)
        return _reply(200, execution=execution, created=False)
