"""One call of an ``http``, ``sql`` or ``notify`` task, from the engine's rendered request to outputs.

The engine renders a task's templated fields into ``request`` (a mapping keyed by the task's field
names, camelCase as written); a ``{{ secret('name', 'key') }}`` in them renders to ``$(VAR)``, as
for a pod's env. Here, and only here, ``$(VAR)`` becomes the secret's value (``reveal``): just
before the request leaves, never in the status, an Event or a log. Then the adapter for the task's
kind makes the request and its answer becomes the task's outputs, at most ``OUTPUTS_LIMIT`` bytes
of JSON (they are kept in the Execution's status). A ``sql`` task with ``rowsTo: CsvFile`` writes
its rows through ``store_file`` (the attempt's object in the artifact store) instead.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any

from overture.calls import http, smtp, sql
from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard

OUTPUTS_LIMIT = 16 * 1024
_VAR = re.compile(r"\$\((OVERTURE_SECRET_[A-Z0-9_]+)\)")


def reveal(value: Any, secrets: Mapping[str, str]) -> Any:
    """``value`` with every ``$(VAR)`` of a referenced secret replaced by the secret's value."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: secrets.get(m.group(1), m.group(0)), value)
    if isinstance(value, Mapping):
        return {k: reveal(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [reveal(v, secrets) for v in value]
    return value


async def perform(
    kind: str,
    request: Mapping[str, Any],
    guard: AddressGuard,
    timeout: float,
    store_file: sql.StoreFile | None = None,
) -> dict[str, Any]:
    """Make the call; its outputs. CallError (the attempt's message) when it fails or takes longer
    than ``timeout``. ``store_file``: where the attempt's files go; None without an artifact store."""
    try:
        async with asyncio.timeout(timeout):
            if kind == "sql" and request.get("rowsTo") == "CsvFile":
                outputs = await _sql_to_file(request, guard, timeout, store_file)
            else:
                outputs = await _CALLS[kind](request, guard, timeout)
    except TimeoutError:
        raise CallError(f"no answer within {timeout:g}s (the task's timeout)") from None
    size = len(json.dumps(outputs, separators=(",", ":")))
    if size > OUTPUTS_LIMIT:
        raise CallError(f"the outputs are {size} bytes, over the {OUTPUTS_LIMIT} an execution's status keeps")
    return outputs


async def _http(request: Mapping[str, Any], guard: AddressGuard, timeout: float) -> dict[str, Any]:
    headers = tuple((str(h["name"]), str(h["value"])) for h in request.get("headers") or ())
    body: bytes | None = None
    if request.get("json") is not None:
        body = json.dumps(request["json"]).encode()
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers = (*headers, ("Content-Type", "application/json"))
    elif request.get("body") is not None:
        body = str(request["body"]).encode()
    reply = await http.send(
        http.HttpRequest(
            method=str(request.get("method") or "GET"), url=str(request["url"]), headers=headers, body=body,
            expected_status=tuple(int(s) for s in request.get("expectedStatus") or ()), timeout=timeout,
        ),
        guard,
    )  # fmt: skip
    return http.response_outputs(reply)


def _sql_request(request: Mapping[str, Any], timeout: float) -> sql.SqlRequest:
    connection = request["connection"]
    return sql.SqlRequest(
        host=str(connection["host"]), port=int(connection.get("port") or 5432),
        database=str(connection["database"]), user=str(connection["user"]),
        password=connection.get("password"), query=str(request["query"]),
        parameters=tuple(str(p) for p in request.get("parameters") or ()),
        max_rows=int(request.get("maxRows") or 100), timeout=timeout,
    )  # fmt: skip


async def _sql(request: Mapping[str, Any], guard: AddressGuard, timeout: float) -> dict[str, Any]:
    return await sql.run_query(_sql_request(request, timeout), guard)


async def _sql_to_file(
    request: Mapping[str, Any], guard: AddressGuard, timeout: float, store_file: sql.StoreFile | None
) -> dict[str, Any]:
    if store_file is None:
        raise CallError("rowsTo: CsvFile needs an artifact store (chart artifacts.*, OVERTURE_S3_*); none is set")
    return await sql.export_csv(_sql_request(request, timeout), guard, store_file)


async def _notify(request: Mapping[str, Any], guard: AddressGuard, timeout: float) -> dict[str, Any]:
    message = str(request["message"])
    sent: list[str] = []
    if request.get("slack"):
        slack = request["slack"]
        payload: dict[str, Any] = {"text": message}
        if slack.get("channel"):
            payload["channel"] = slack["channel"]
        try:
            await http.send(
                http.HttpRequest("POST", str(slack["url"]), (("Content-Type", "application/json"),),
                                 json.dumps(payload).encode(), timeout=timeout),
                guard,
            )  # fmt: skip
        except CallError as exc:
            raise CallError(f"slack: {_without_url(str(exc), str(slack['url']))}") from None
        sent.append("slack")
    if request.get("email"):
        mail = request["email"]
        server = mail["server"]
        try:
            relay = smtp.SmtpServer(
                host=str(server["host"]), port=int(server.get("port") or 587), tls=str(server.get("tls") or "starttls"),
                username=server.get("username"), password=server.get("password"), timeout=timeout,
            )  # fmt: skip
            subject = str(mail.get("subject") or message[:80])
            await smtp.send_email(relay, smtp.Email(str(mail["from"]), tuple(mail["to"]), subject, message), guard)
        except CallError as exc:
            raise CallError(f"email: {exc}") from None
        sent.append("email")
    return {"sent": sent}


def _without_url(message: str, url: str) -> str:
    """A webhook's URL is its secret (Slack's carries the token in its path): name its host only."""
    host = http.shown_url(url).split("/")[2] if "://" in url else "?"
    return message.replace(http.shown_url(url), f"the webhook at {host}")


_CALLS = {"http": _http, "sql": _sql, "notify": _notify}
