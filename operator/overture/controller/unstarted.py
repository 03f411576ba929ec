"""Why a task's Job has no pod: the Job controller's FailedCreate Event, read into the observation.

A pod refused at creation (a quota, Pod Security, a ServiceAccount that does not exist) leaves
its Job with no pod, no condition and only a Warning Event; the run would wait in silence until
its timeout. When Jobs have been seen without a pod for ``GRACE_SECONDS``, the namespace's
FailedCreate Events on Jobs are read in one list (at most every ``RECHECK_SECONDS``), and each
such Job's newest one becomes its observation's reason and message, which the attempt shows
(engine/attempts.py ``NOT_STARTING``). One list, not one per Job: in a fan-out the Job
controller can take half a minute to make 200 pods on a busy cluster, and a list per waiting Job
made each reconcile wait for 200 round trips (~30 s; the 10,000-item soak, benchmarks/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from overture.api.times import parse_time
from overture.engine import JobObservation, JobPhase, Observed
from overture.kube.client import Kube
from overture.kube.errors import ApiError
from overture.kube.store import Store

GRACE_SECONDS = 5.0
RECHECK_SECONDS = 10.0
FAILED_CREATE = "involvedObject.kind=Job,reason=FailedCreate"


class CreationFailures:
    def __init__(self, kube: Kube, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.store = store
        self.clock = clock
        self._read: dict[str, tuple[float, dict[str, str]]] = {}  # namespace -> (when, job -> message)

    async def observed(self, namespace: str, observed: Observed, now: datetime) -> Observed:
        """``observed`` with the FailedCreate reason of each Job that has been waiting for its pod."""
        waiting = [name for name, job in observed.jobs.items() if self._waiting(namespace, name, job, now)]
        if not waiting:
            return observed
        failures = await self._failures(namespace)
        jobs = dict(observed.jobs)
        for name in waiting:
            if name in failures:
                jobs[name] = replace(jobs[name], reason="FailedCreate", message=failures[name])
        return replace(observed, jobs=jobs)

    def _waiting(self, namespace: str, name: str, job: JobObservation, now: datetime) -> bool:
        """Whether Job ``name`` has been without a pod for ``GRACE_SECONDS``."""
        if job.phase != JobPhase.PENDING or job.pod:
            return False
        body = self.store.jobs.get((namespace, name))
        created = parse_time((body or {}).get("metadata", {}).get("creationTimestamp"))
        return created is not None and (now - created).total_seconds() >= GRACE_SECONDS

    async def _failures(self, namespace: str) -> dict[str, str]:
        """The newest FailedCreate message of each Job of ``namespace`` that has one."""
        cached = self._read.get(namespace)
        if cached is not None and self.clock() - cached[0] < RECHECK_SECONDS:
            return cached[1]
        try:
            events = await self.kube.list_events(namespace, FAILED_CREATE)
        except ApiError:
            events = []  # no RBAC to read Events, or the API is busy: the runs wait as before
        newest: dict[str, dict[str, Any]] = {}
        for event in events:
            job = str((event.get("involvedObject") or {}).get("name") or "")
            if event.get("reason") == "FailedCreate" and job and _stamp(event) >= _stamp(newest.get(job, {})):
                newest[job] = event
        failures = {job: str(event.get("message") or "")[:500] for job, event in newest.items()}
        now = self.clock()
        self._read = {ns: read for ns, read in self._read.items() if now - read[0] < RECHECK_SECONDS}
        self._read[namespace] = (now, failures)
        return failures


def _stamp(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")
