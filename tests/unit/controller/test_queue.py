"""The work queue's answer to each kind of error a reconcile raises."""

from __future__ import annotations

import asyncio
import logging

import pytest

from overture.controller.queue import Result, WorkQueue
from overture.kube.errors import ApiError, RejectedError, TransientError
from overture.kube.store import Key

KEY: Key = ("tenant", "run-1")


def reconcile_once_raising(error: ApiError) -> tuple[WorkQueue, list[Key]]:
    """Run one worker over one key whose reconcile raises ``error``; the queue and its calls."""
    calls: list[Key] = []

    async def reconcile(key: Key) -> Result:
        calls.append(key)
        raise error

    async def main() -> WorkQueue:
        queue = WorkQueue(reconcile, workers=1)
        queue.enqueue(KEY)
        worker = asyncio.create_task(queue.run())
        while not calls or queue.busy:
            await asyncio.sleep(0.01)
        worker.cancel()
        return queue

    return asyncio.run(main()), calls


def test_an_execution_deleted_while_reconciled_is_not_retried_nor_logged_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="overture.controller"):
        queue, calls = reconcile_once_raising(RejectedError(404, "executions 'run-1' not found"))
    assert calls == [KEY]
    assert KEY not in queue.timers
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "deleted while reconciled" in caplog.text


def test_a_refused_request_is_logged_and_retried_later(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="overture.controller"):
        queue, _ = reconcile_once_raising(RejectedError(422, "status.taskRuns: Invalid value"))
    assert KEY in queue.timers
    assert [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_transient_error_is_retried_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="overture.controller"):
        queue, _ = reconcile_once_raising(TransientError(503, "etcd leader changed"))
    assert KEY in queue.timers
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_another_replicas_keys_are_not_queued_at_all() -> None:
    """With two replicas about half of all watch events are of the other's shards."""

    async def reconcile(key: Key) -> Result:
        return Result()

    async def main() -> WorkQueue:
        queue = WorkQueue(reconcile, workers=1, owns=lambda key: key[1] == "mine")
        queue.enqueue(("tenant", "theirs"))
        queue.enqueue(("tenant", "theirs"), delay=5.0)
        queue.enqueue(("tenant", "mine"))
        return queue

    queue = asyncio.run(main())
    assert queue.queued == {("tenant", "mine")}
    assert queue.timers == {}
