"""HTTP requests made by the operator (``http`` tasks, ``notify`` webhooks), behind the address guard.

The connection goes to an address the guard checked (``_GuardedResolver``; an IP literal is
checked before the request, since aiohttp resolves nothing for it). Redirects are not followed: a
3xx is the answer, judged by ``expectedStatus`` (a redirect to an internal address would otherwise
need a second check, and most APIs a flow calls answer without one). The response body is read up
to ``MAX_RESPONSE_BYTES``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard

MAX_RESPONSE_BYTES = 1 << 20


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    expected_status: tuple[int, ...] = ()  # empty: any 2xx
    timeout: float = 30.0


@dataclass(frozen=True)
class HttpResponse:
    status: int
    content_type: str
    body: bytes


def shown_url(url: str) -> str:
    """The URL for a message: without its query or credentials (they may hold keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _GuardedResolver(AbstractResolver):
    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await asyncio.to_thread(self._guard.resolve, host, port)
        return [
            ResolveResult(
                hostname=host, host=address, port=port, family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0, flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]  # fmt: skip

    async def close(self) -> None:
        return None


def _check_url(url: str, guard: AddressGuard) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallError(f"{shown_url(url)!r} is not an http(s) URL")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    guard.check(parts.hostname, [str(literal)])


async def send(request: HttpRequest, guard: AddressGuard) -> HttpResponse:
    """Make ``request``; CallError when it cannot be made or its status is not the expected one."""
    _check_url(request.url, guard)
    where = f"{request.method} {shown_url(request.url)}"
    connector = aiohttp.TCPConnector(resolver=_GuardedResolver(guard), use_dns_cache=False, force_close=True)
    timeout = aiohttp.ClientTimeout(total=request.timeout)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.request(
                request.method, request.url, headers=list(request.headers), data=request.body, allow_redirects=False
            ) as reply,
        ):
            body = await reply.content.read(MAX_RESPONSE_BYTES + 1)
            if len(body) > MAX_RESPONSE_BYTES:
                raise CallError(f"{where}: the response is over {MAX_RESPONSE_BYTES} bytes")
            response = HttpResponse(reply.status, reply.headers.get("Content-Type", ""), body)
    except CallError:
        raise
    except TimeoutError:
        raise CallError(f"{where}: no answer within {request.timeout:g}s") from None
    except aiohttp.ClientConnectorError as exc:
        cause = exc.os_error.strerror or str(exc.os_error)
        raise CallError(f"{where}: cannot connect: {cause}") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise CallError(f"{where}: {type(exc).__name__}: {exc}") from None
    if not is_expected(response.status, request.expected_status):
        wanted = ", ".join(map(str, request.expected_status)) or "2xx"
        raise CallError(f"{where} answered {response.status}, expected {wanted}: {preview(response.body)}")
    return response


def is_expected(status: int, expected: tuple[int, ...]) -> bool:
    return status in expected if expected else 200 <= status < 300


def preview(body: bytes, limit: int = 300) -> str:
    text = body[:limit].decode("utf-8", "replace").strip()
    return text + ("..." if len(body) > limit else "") if text else "(empty body)"


def response_outputs(response: HttpResponse) -> dict[str, Any]:
    """A task's outputs: ``status``, and ``json`` (parsed) for a JSON answer, else ``body`` (text)."""
    outputs: dict[str, Any] = {"status": response.status}
    if "json" in response.content_type.lower():
        try:
            outputs["json"] = json.loads(response.body) if response.body else None
            return outputs
        except ValueError:
            pass
    outputs["body"] = response.body.decode("utf-8", "replace")
    return outputs
