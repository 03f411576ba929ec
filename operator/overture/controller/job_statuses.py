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


class JobStatuses:
    def __init__(self, kube: Kube, store: Store) -> None:
        self.kube = kube
        self.store = store
        self._writing: dict[Key, asyncio.Task[None]] = {}

    def after_reconcile(self, namespace: str, jobs: Iterable[str]) -> None:
        """Write the status of those of ``jobs`` (an execution's, just reconciled) that need it."""
        for name in jobs:
            self._write_if_due((namespace, name))

    def catch_up(self) -> int:
        """Write every cached Job's status that is due; how many writes were started."""
        return sum(self._write_if_due(key) for key in list(self.store.jobs))

    def _write_if_due(self, key: Key) -> bool:
        job = self.store.jobs.get(key)
        if job is None or key in self._writing:
            return False
        status = ended_job_status(job, self.store.pod_of(*key))
        if status is None:
            return False
        task = asyncio.create_task(self._write(key, status))
        self._writing[key] = task
        task.add_done_callback(lambda _: self._writing.pop(key, None))
        return True

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
        await asyncio.gather(*self._writing.values(), return_exceptions=True)
