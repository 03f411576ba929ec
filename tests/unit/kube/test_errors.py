"""The kube client turns an unreachable API server into a TransientError, as it does a 503.

Callers retry TransientError (the reconcile queue in 2 s, trigger creations with backoff, webhooks
answer 503 with Retry-After); anything else is a bug report with a traceback. A restarted
kube-apiserver refuses connections for a few seconds: that must read as "try again".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from overture.kube.client import Kube
from overture.kube.errors import ConflictError, RejectedError, TransientError


def call(kube: Kube, error: BaseException) -> Awaitable[Any]:
    async def failing() -> Any:
        raise error

    return kube._call("create", failing())


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 16443)"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("response ended early"),
        TimeoutError(),
    ],
    ids=["refused", "disconnected", "payload", "timeout"],
)
def test_connection_errors_are_transient(error: BaseException) -> None:
    kube = Kube.__new__(Kube)
    with pytest.raises(TransientError, match="unreachable"):
        asyncio.run(call(kube, error))


@pytest.mark.parametrize(("status", "kind"), [(503, TransientError), (409, ConflictError), (422, RejectedError)])
def test_api_statuses_keep_their_meaning(status: int, kind: type[Exception]) -> None:
    kube = Kube.__new__(Kube)
    with pytest.raises(kind):
        asyncio.run(call(kube, ApiException(status=status, reason="x")))


def test_programming_errors_are_not_hidden() -> None:
    kube = Kube.__new__(Kube)
    with pytest.raises(KeyError):
        asyncio.run(call(kube, KeyError("spec")))
