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

A Job whose pod is gone is decided from the Execution's record of its attempt (``recorded_job_status``):
the reconcile hands over the Jobs whose attempt it just ended without a pod (``podless``, with the
attempts from its decision: ``recorded_attempts``), and the sweep reads the cached Execution of each
such Job that still has no ended status (a pod deleted while the operator was down, or after a
write failed). Nothing is read from the API server for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping

from overture.api import LABEL_EXECUTION, Attempt, SpecError, TaskRun, parse_execution
from overture.kube.client import Kube
from overture.kube.errors import ApiError
from overture.kube.jobs import LABEL_VALUE_MAX
from overture.kube.managed_jobs import ended_job_status, needs_status
from overture.kube.store import Body, Key, Store

log = logging.getLogger("overture.controller")
STATUS_WRITES_AT_ONCE = 4  # a write takes ~10-50 ms: 80-400 Jobs a second, above any run's pace measured


class JobStatuses:
    def __init__(self, kube: Kube, store: Store) -> None:
        self.kube = kube
        self.store = store
        # Jobs whose write waits, in the order they were found due; with the recorded attempt of a Job whose pod is gone
        self._due: dict[Key, Attempt | None] = {}
        self._writing: set[Key] = set()  # Jobs whose write is in flight
        self._writers: set[asyncio.Task[None]] = set()  # at most STATUS_WRITES_AT_ONCE

    def after_reconcile(self, namespace: str, jobs: Iterable[str], recorded: Mapping[str, Attempt] = {}) -> None:
        """Write the status of those of ``jobs`` (an execution's, just reconciled) that need it;
        ``recorded``: the attempts it records now of its Jobs whose pod is gone (``podless``)."""
        for name in jobs:
            self._write_if_due((namespace, name))
        for name, attempt in recorded.items():
            self._write_if_due((namespace, name), attempt)

    def podless(self, namespace: str, jobs: Iterable[str]) -> set[str]:
        """Those of ``jobs`` that are cached managed Jobs still without their ended status and
        without a pod: their status can only come from the Execution's record of their attempt."""
        return {name for name in jobs if self._is_podless((namespace, name))}

    def catch_up(self) -> int:
        """Write every cached Job's status that is due; how many writes were started. A Job whose
        pod is gone is decided from its Execution's record (each such Execution decoded once)."""
        podless = [key for key in list(self.store.jobs) if self._is_podless(key)]
        recorded = self._recorded(podless) if podless else {}
        return sum(self._write_if_due(key, recorded.get(key)) for key in list(self.store.jobs))

    def _is_podless(self, key: Key) -> bool:
        job = self.store.jobs.get(key)
        return job is not None and needs_status(job) and self.store.pod_of(*key) is None

    def _recorded(self, keys: Iterable[Key]) -> dict[Key, Attempt]:
        """The recorded attempts of the Jobs ``keys``, from their Executions in the cache."""
        by_execution: dict[Key, set[str]] = defaultdict(set)
        for key in keys:
            label = (self.store.jobs[key]["metadata"].get("labels") or {}).get(LABEL_EXECUTION)
            if label:
                by_execution[(key[0], label)].add(key[1])
        found: dict[Key, Attempt] = {}
        for (namespace, label), names in by_execution.items():
            for body in self._executions_labelled(namespace, label):
                try:
                    status = parse_execution(dict(body)).status
                except SpecError:  # an invalid one runs nothing: it has no attempts
                    continue
                runs = status.task_runs if status is not None else ()
                found |= {(namespace, job): attempt for job, attempt in recorded_attempts(runs, names).items()}
        return found

    def _executions_labelled(self, namespace: str, label: str) -> list[Body]:
        """The cached Executions a Job's execution label names: the label is the name cut to 63
        characters (a label value's limit), so a label that long may name any of several."""
        if len(label) < LABEL_VALUE_MAX:
            exact = self.store.executions.get((namespace, label))
            return [exact] if exact is not None else []
        keys = [k for k in list(self.store.executions) if k[0] == namespace and k[1][:LABEL_VALUE_MAX] == label]
        return [self.store.executions[k] for k in keys]

    def _write_if_due(self, key: Key, attempt: Attempt | None = None) -> bool:
        if key in self._due or key in self._writing or self._status(key, attempt) is None:
            return False
        self._due[key] = attempt
        if sum(not writer.done() for writer in self._writers) < STATUS_WRITES_AT_ONCE:  # a done one reads no more
            writer = asyncio.create_task(self._write_due())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return True

    def _status(self, key: Key, attempt: Attempt | None) -> dict[str, object] | None:
        """The status the cached Job still needs (None: not cached, not managed, ended, or its pod
        has not; its pod gone: ``attempt``, its Execution's record, has not)."""
        job = self.store.jobs.get(key)
        return None if job is None else ended_job_status(job, self.store.pod_of(*key), attempt)

    async def _write_due(self) -> None:
        """Write the Jobs due, one after the other, until none is left."""
        while self._due:
            key = next(iter(self._due))
            status = self._status(key, self._due.pop(key))
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


def recorded_attempts(runs: Iterable[TaskRun], jobs: Collection[str]) -> dict[str, Attempt]:
    """The attempts of ``jobs`` (Job names) that ``runs`` record as ended, by Job name."""
    if not jobs:
        return {}
    return {
        attempt.job: attempt
        for run in runs
        for attempt in run.attempts
        if attempt.job in jobs and attempt.state.is_terminal
    }
