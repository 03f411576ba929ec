"""Why a task's Job has no pod: the Job controller's FailedCreate Event, read into the observation.

A pod refused at creation (a quota, Pod Security, a ServiceAccount that does not exist) leaves
its Job with no pod, no condition and only a Warning Event; the run would wait in silence until
its timeout. A Job seen without a pod for ``GRACE_SECONDS`` has its Events read (at most every
``RECHECK_SECONDS``), and the newest FailedCreate becomes the observation's reason and message,
which the attempt shows (engine/attempts.py ``NOT_STARTING``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from overture.api.times import parse_time
from overture.engine import JobPhase, Observed
from overture.kube.client import Kube
from overture.kube.errors import ApiError
from overture.kube.store import Store

GRACE_SECONDS = 5.0
RECHECK_SECONDS = 10.0


class CreationFailures:
    def __init__(self, kube: Kube, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.store = store
        self.clock = clock
        self._read: dict[tuple[str, str], tuple[float, str | None]] = {}

    async def observed(self, namespace: str, observed: Observed, now: datetime) -> Observed:
        """``observed`` with the FailedCreate reason of each Job that has been waiting for its pod."""
        jobs = dict(observed.jobs)
        for name, job in observed.jobs.items():
            body = self.store.jobs.get((namespace, name))
            created = parse_time((body or {}).get("metadata", {}).get("creationTimestamp"))
            if job.phase != JobPhase.PENDING or job.pod or created is None:
                self._read.pop((namespace, name), None)
                continue
            if (now - created).total_seconds() >= GRACE_SECONDS:
                message = await self._failure(namespace, name)
                if message is not None:
                    jobs[name] = replace(job, reason="FailedCreate", message=message)
        return replace(observed, jobs=jobs)

    async def _failure(self, namespace: str, job: str) -> str | None:
        cached = self._read.get((namespace, job))
        if cached is not None and self.clock() - cached[0] < RECHECK_SECONDS:
            return cached[1]
        try:
            events = await self.kube.list_events(namespace, f"involvedObject.kind=Job,involvedObject.name={job}")
        except ApiError:
            events = []  # no RBAC to read Events, or the API is busy: the run waits as before
        failures = [e for e in events if e.get("reason") == "FailedCreate"]
        newest = max(failures, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", default=None)
        message = str(newest.get("message") or "")[:500] if newest is not None else None
        self._read[(namespace, job)] = (self.clock(), message)
        return message
