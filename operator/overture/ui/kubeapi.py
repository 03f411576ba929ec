"""Requests to the Kubernetes API server on behalf of one caller.

The UI acts as the person using it: each ``UserApi`` holds a ``kubernetes_asyncio`` ApiClient
whose credentials are the caller's bearer token (or, for ``overture ui`` on a workstation, the
user's kubeconfig; or, opt-in, the server's own credentials with ``Impersonate-*`` headers).
Requests are raw JSON (``call_api`` with a path): the UI needs a handful of paths, and the
generated models would only be converted back to JSON for the browser.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from kubernetes_asyncio import client

from overture.api import (
    API_GROUP,
    API_VERSION,
    SELF_SUBJECT_REVIEW,
    SELF_SUBJECT_REVIEW_PATH,
    with_requester,
)

CONNECTION_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
REQUEST_TIMEOUT = 30
GROUP_PATH = f"/apis/{API_GROUP}/{API_VERSION}"
OVERTURE_PLURALS = frozenset({"flows", "executions", "tasktemplates", "clustertasktemplates"})


class KubeError(Exception):
    """The API server refused or could not be reached: ``status`` (0 = unreachable) and its message."""

    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None) -> None:
        self.status = status
        self.message = message
        self.details = details or {}
        super().__init__(f"{status}: {message}")


def objects_path(plural: str, namespace: str | None, name: str | None = None) -> str:
    """The REST path of Overture objects (``flows``, ``executions``, templates), or of core ones (``pods``)."""
    base = GROUP_PATH if plural in OVERTURE_PLURALS else "/api/v1"
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    return f"{path}/{name}" if name else path


@dataclass
class UserApi:
    """One caller's way to the API server."""

    api: client.ApiClient
    extra_headers: dict[str, str]
    _username: str | None = field(default=None, init=False)

    async def close(self) -> None:
        await self.api.close()

    async def identity(self) -> tuple[str, list[str]] | None:
        """(user, groups) the API server sees for these credentials (a SelfSubjectReview: the
        caller's token, or the user impersonated); None if it refuses them (401)."""
        try:
            result = await self.request("POST", SELF_SUBJECT_REVIEW_PATH, body=SELF_SUBJECT_REVIEW)
        except KubeError as exc:
            if exc.status == 401:
                return None
            raise
        info = (result.get("status") or {}).get("userInfo") or {}
        self._username = str(info.get("username") or "")
        return self._username, [str(g) for g in info.get("groups") or []]

    async def username(self) -> str:
        """The caller's user name, from ``identity`` (asked once); "" when the server will not say
        (no SelfSubjectReview before Kubernetes 1.28)."""
        if self._username is None:
            try:
                await self.identity()
            except KubeError as exc:
                if exc.status not in (403, 404):
                    raise
            if self._username is None:
                self._username = ""
        return self._username

    async def create_execution(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """POST an Execution stamped with the caller's user name (``spec.requestedBy``): the UI starts
        runs as the person using it, and the chart's admission policy checks that it says so."""
        username = await self.username()
        body = with_requester(manifest, username) if username else manifest
        return await self.request("POST", objects_path("executions", namespace), body=body)

    async def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = REQUEST_TIMEOUT,
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type, **self.extra_headers}
        try:
            return await self.api.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except client.exceptions.ApiException as exc:
            raise _error(exc.status or 0, exc.body) from None
        except CONNECTION_ERRORS as exc:
            raise KubeError(0, f"the API server is unreachable: {exc!r}") from None

    async def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """The JSON answer of one request; ``KubeError`` unless it is 2xx."""
        response = await self._send(method, path, query, body, content_type)
        try:
            raw = await response.read()
        except CONNECTION_ERRORS as exc:
            raise KubeError(0, f"the API server is unreachable: {exc!r}") from None
        finally:
            response.release()
        if response.status >= 300:
            raise _error(response.status, raw)
        result: dict[str, Any] = json.loads(raw) if raw else {}
        return result

    async def text(self, path: str, query: list[tuple[str, str]]) -> str:
        """A plain-text answer (pod logs)."""
        response = await self._send("GET", path, query)
        try:
            raw = await response.read()
        finally:
            response.release()
        if response.status >= 300:
            raise _error(response.status, raw)
        return bytes(raw).decode("utf-8", "replace")

    async def lines(self, path: str, query: list[tuple[str, str]], timeout: float) -> AsyncIterator[bytes]:
        """The lines of a streamed answer (a watch, a followed log) until the server ends it."""
        response = await self._send("GET", path, query, timeout=timeout)
        try:
            if response.status >= 300:
                raise _error(response.status, await response.read())
            async for line in response.content:
                yield line
        except CONNECTION_ERRORS as exc:
            raise KubeError(0, f"the stream from the API server broke: {exc!r}") from None
        finally:
            response.release()

    async def watch(
        self, path: str, query: list[tuple[str, str]], timeout_seconds: int = 300
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(type, object) events of a watch; an ERROR event raises KubeError (410: list again)."""
        query = [*query, ("watch", "true"), ("timeoutSeconds", str(timeout_seconds))]
        async for line in self.lines(path, query, timeout_seconds + 30):
            if not line.strip():
                continue
            event = json.loads(line)
            obj = dict(event.get("object") or {})
            if event.get("type") == "ERROR":
                raise KubeError(int(obj.get("code") or 500), str(obj.get("message")))
            yield str(event.get("type")), obj


def _error(status: int, raw: Any) -> KubeError:
    """The API server's Status as a KubeError: its message, and its details (causes with field paths)."""
    try:
        body = json.loads(raw or b"{}")
    except (TypeError, ValueError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    return KubeError(status, str(body.get("message") or text[:300] or f"HTTP {status}"), body.get("details"))
