"""A call's file (a sql task's rows.csv) as the controller stores it: the attempt's first file slot,
bounded by the store's file limit (controller/calls.py ``CallRunner._file_store``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard
from overture.controller.calls import CallRunner
from overture.engine import StartCall


class FakeArtifacts:
    """An artifact store that keeps what it is sent; ``write_stream`` reads every chunk, as obstore does."""

    def __init__(self, max_file_bytes: int) -> None:
        self.settings = SimpleNamespace(max_file_bytes=max_file_bytes, uri=lambda key: f"s3://b/{key}")
        self.objects: dict[str, bytes] = {}

    async def write_stream(self, key: str, chunks: AsyncIterator[bytes]) -> None:
        self.objects[key] = b"".join([chunk async for chunk in chunks])


def _store_file(artifacts: FakeArtifacts) -> Any:
    call = StartCall(
        key="ex-export-1", task_run="export", attempt=1, kind="sql", request={}, secrets={}, timeout_seconds=5
    )
    runner = CallRunner(kube=None, guard=AddressGuard(), artifacts=artifacts)  # type: ignore[arg-type]
    return runner._file_store(("ns", "ex"), call)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_a_calls_file_goes_to_its_attempts_first_slot() -> None:
    artifacts = FakeArtifacts(max_file_bytes=100)
    uri = asyncio.run(_store_file(artifacts)("rows.csv", _chunks(b"a,b\n", b"1,2\n")))
    assert uri == "s3://b/ns/ex/ex-export-1/files/0"
    assert artifacts.objects == {"ns/ex/ex-export-1/files/0": b"a,b\n1,2\n"}


def test_a_calls_file_over_the_limit_fails_naming_it() -> None:
    artifacts = FakeArtifacts(max_file_bytes=5)
    with pytest.raises(CallError, match=r"rows.csv is over the limit of 5 bytes a file \(OVERTURE_MAX_FILE_BYTES\)"):
        asyncio.run(_store_file(artifacts)("rows.csv", _chunks(b"a,b\n", b"1,2\n")))
    assert artifacts.objects == {}
