"""The ended status of the ``managed-job`` runtime's Jobs (kube/managed_jobs.py), in the background.

The operator is such a Job's controller, so it writes the Job's status, once, when the attempt's
pod ended. The write is off the execution's critical path: the reconcile hands it over after the
Execution's own status write (``after_reconcile``), and it never fails an execution: a refused
write is logged with the API server's words. Idempotent: what is written is decided from the
cache (``ended_job_status``: nothing once the cached Job has ended), and a Job with a write in
flight is not handed over twice. A restart between the Execution's end and the Job's write is
caught up by ``catch_up`` over every cached Job, after the cache is primed (or a shard's Jobs
taken): the reconcile of an ended execution reads nothing of its Jobs. A write that failed (a busy
or unreachable API server) is tried again by the same sweep every resync period (``keep_up``):
else its Job would show Running until its Execution is deleted, and its TTL would never start.

The writes go out ``STATUS_WRITES_AT_ONCE`` at a time, the Jobs due waiting in order: a fan-out's
reconcile ends up to its whole width of attempts at once, and a write each at once held a TLS
connection each in the API client's pool (up to 100: ~50 more at a 50-wide fan-out, ~76 KiB each,
kept open by the next burst) for writes no one waits for (benchmarks/README.md, "Operator RSS,
session 9"). What a Job needs is read from the cache when its turn comes: one deleted or written
meanwhile (its watch event) gets no write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from overture.kube.client import Kube
from overture.kube.errors import ApiError
from overture.kube.managed_jobs import ended_job_status
from overture.kube.store import Key, Store

log = logging.getLogger("overture.controller")
STATUS_WRITES_AT_ONCE = 4  # a write takes ~10-50 ms: 80-400 Jobs a second, above any run's pace measured


class JobStatuses:
    def __init__(self, kube: Kube, store: Store) -> None:
        self.kube = kube
        self.store = store
        self._due: dict[Key, None] = {}  # Jobs whose write waits, in the order they were found due
        self._writing: set[Key] = set()  # Jobs whose write is in flight
        self._writers: set[asyncio.Task[None]] = set()  # at most STATUS_WRITES_AT_ONCE

    def after_reconcile(self, namespace: str, jobs: Iterable[str]) -> None:
        """Write the status of those of ``jobs`` (an execution's, just reconciled) that need it."""
        for name in jobs:
            self._write_if_due((namespace, name))

    def catch_up(self) -> int:
        """Write every cached Job's status that is due; how many writes were started."""
        return sum(self._write_if_due(key) for key in list(self.store.jobs))

    def _write_if_due(self, key: Key) -> bool:
        if key in self._due or key in self._writing or self._status(key) is None:
            return False
        self._due[key] = None
        if sum(not writer.done() for writer in self._writers) < STATUS_WRITES_AT_ONCE:  # a done one reads no more
            writer = asyncio.create_task(self._write_due())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return True

    def _status(self, key: Key) -> dict[str, object] | None:
        """The status the cached Job still needs (None: not cached, not managed, ended, or its pod has not)."""
        job = self.store.jobs.get(key)
        return None if job is None else ended_job_status(job, self.store.pod_of(*key))

    async def _write_due(self) -> None:
        """Write the Jobs due, one after the other, until none is left."""
        while self._due:
            key = next(iter(self._due))
            del self._due[key]
            status = self._status(key)
            if status is None:
                continue  # deleted, or ended, while it waited
            self._writing.add(key)
            try:
                await self._write(key, status)
            finally:
                self._writing.discard(key)

    async def _write(self, key: Key, status: dict[str, object]) -> None:
        namespace, name = key
        try:
            stored = await self.kube.patch_job_status(namespace, name, dict(status))
        except ApiError as exc:  # a deleted Job (404) included: the attempt's run is unaffected
            log.warning("Could not write a managed Job's status: job=%s/%s error=%s", namespace, name, exc)
            return
        self.store.put("job", stored)

    async def keep_up(self, seconds: float, acting: Callable[[], bool]) -> None:
        """``catch_up`` every ``seconds`` while ``acting`` (this replica leads, or holds shards)."""
        while True:
            await asyncio.sleep(seconds)
            if acting():
                self.catch_up()

    async def drain(self) -> None:
        """Wait for the writes in flight (tests; shutting down)."""
        while self._writers:
            await asyncio.gather(*self._writers, return_exceptions=True)
