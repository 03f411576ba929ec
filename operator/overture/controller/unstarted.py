"""Why a task has no pod: a Job's FailedCreate Event, or a pod the API server refused.

``CreationFailures`` (the ``job`` task runtime):
A pod refused at creation (a quota, Pod Security, a ServiceAccount that does not exist) leaves
its Job with no pod, no condition and only a Warning Event; the run would wait in silence until
its timeout. When Jobs have been seen without a pod for ``GRACE_SECONDS``, the namespace's
FailedCreate Events on Jobs are read in one list (at most every ``RECHECK_SECONDS``), and each
such Job's newest one becomes its observation's reason and message, which the attempt shows
(engine/attempts.py ``NOT_STARTING``). One list, not one per Job: in a fan-out the Job
controller can take half a minute to make 200 pods on a busy cluster, and a list per waiting Job
made each reconcile wait for 200 round trips (~30 s; the 10,000-item soak, benchmarks/README.md).
Reconciles that need it while that list is out share it (kube/kept_reads.py): each worker
starting its own made dozens of concurrent lists per namespace on a busy API server (2 replicas,
N=300: 203 reads where 1 replica made 67; benchmarks/README.md, two replicas, session 6).

``RefusedPods`` (the ``pod`` task runtime, kube/pods.py): the operator creates the pod, and the
API server's 403 (a quota's "exceeded quota", Pod Security, a missing ServiceAccount) is what
the Job controller's FailedCreate was. The task waits, as with a Job: its attempt is observed
PENDING with reason FailedCreate and the API server's words (since the first refusal, which
starts its timeout), and the pod is asked for again every ``RETRY_SECONDS``, one per execution
at a time (the oldest first: when it is still refused the others would be too). Refused then as
invalid (400/422: a LimitRange added while it waited), its attempt fails, as at a first create.
Kept in memory: after a restart the engine asks for the unseen pod again (``UNSEEN_JOB_GRACE``),
and is refused again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from overture.api.times import parse_time
from overture.engine import JobObservation, JobPhase, Observed
from overture.kube.client import Kube
from overture.kube.errors import ApiError, RejectedError
from overture.kube.kept_reads import KeptReads
from overture.kube.store import Key, Store

GRACE_SECONDS = 5.0
RECHECK_SECONDS = 10.0
FAILED_CREATE = "involvedObject.kind=Job,reason=FailedCreate"
RETRY_SECONDS = 10.0
REFUSED = 403  # Forbidden: a quota, an admission policy, RBAC, a missing ServiceAccount


class CreationFailures:
    def __init__(self, kube: Kube, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.store = store
        # namespace -> {job: its newest FailedCreate message}, listed at most every RECHECK_SECONDS
        self._read: KeptReads[str, dict[str, str]] = KeptReads(RECHECK_SECONDS, self._list, clock)

    async def observed(self, namespace: str, observed: Observed, now: datetime) -> Observed:
        """``observed`` with the FailedCreate reason of each Job that has been waiting for its pod."""
        waiting = [
            name for name, job in observed.jobs.items() if is_waiting_long(self.store, namespace, name, job, now)
        ]
        if not waiting:
            return observed
        failures = await self._read.get(namespace)
        jobs = dict(observed.jobs)
        for name in waiting:
            if name in failures:
                jobs[name] = replace(jobs[name], reason="FailedCreate", message=failures[name])
        return replace(observed, jobs=jobs)

    async def _list(self, namespace: str) -> dict[str, str]:
        """The newest FailedCreate message of each Job of ``namespace`` that has one."""
        try:
            events = await self.kube.list_events(namespace, FAILED_CREATE)
        except ApiError:
            events = []  # no RBAC to read Events, or the API is busy: the runs wait as before
        newest: dict[str, dict[str, Any]] = {}
        for event in events:
            job = str((event.get("involvedObject") or {}).get("name") or "")
            if event.get("reason") == "FailedCreate" and job and _stamp(event) >= _stamp(newest.get(job, {})):
                newest[job] = event
        return {job: str(event.get("message") or "")[:500] for job, event in newest.items()}


def is_waiting_long(store: Store, namespace: str, name: str, job: JobObservation, now: datetime) -> bool:
    """Whether Job ``name`` has been without a pod for ``GRACE_SECONDS``: its reconciles read the
    namespace's FailedCreate Events, which no watch brings, so each of its events is a reason to
    reconcile (handlers.py) even when the Job's observation is the same."""
    if job.phase != JobPhase.PENDING or job.pod:
        return False
    body = store.jobs.get((namespace, name))
    created = parse_time((body or {}).get("metadata", {}).get("creationTimestamp"))
    return created is not None and (now - created).total_seconds() >= GRACE_SECONDS


def _stamp(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")


@dataclass
class RefusedPod:
    manifest: dict[str, Any]
    message: str
    since: datetime  # the first refusal: the attempt's start, as a Job's startTime would be
    tried: float  # the clock when it was last asked for


class RefusedPods:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._refused: dict[Key, dict[str, RefusedPod]] = {}

    def refused(self, key: Key, manifest: dict[str, Any], error: ApiError, now: datetime) -> bool:
        """Whether ``error`` (creating ``manifest``) makes the pod wait; if so, it is kept."""
        if not isinstance(error, RejectedError) or error.status != REFUSED:
            return False
        name = manifest["metadata"]["name"]
        known = self._refused.setdefault(key, {}).get(name)
        since = known.since if known is not None else now
        self._refused[key][name] = RefusedPod(manifest, str(error)[:500], since, self.clock())
        return True

    def observed(self, key: Key, observed: Observed) -> Observed:
        """``observed`` with each refused pod of ``key`` that is not seen as PENDING FailedCreate."""
        refused = self._refused.get(key)
        if not refused:
            return observed
        jobs = dict(observed.jobs)
        for name, pod in refused.items():
            jobs.setdefault(
                name,
                JobObservation(name, JobPhase.PENDING, start=pod.since, reason="FailedCreate", message=pod.message),
            )
        return replace(observed, jobs=jobs)

    def waiting(self, key: Key) -> bool:
        return bool(self._refused.get(key))

    async def retry(
        self,
        key: Key,
        create: Callable[[dict[str, Any]], Awaitable[object]],
        refusal: Callable[[Key, dict[str, Any], ApiError], bool],
    ) -> None:
        """Ask again for the oldest refused pod of ``key`` if ``RETRY_SECONDS`` have passed, then
        for the next while they are made. ``refusal`` (the reconciler's, as for a first create)
        says whether an error is a refusal, and keeps it: a 403 again (the pod waits on), or the
        pod now invalid (its attempt fails, the pod is forgotten); any other error is raised."""
        refused = self._refused.get(key) or {}
        for name, pod in sorted(refused.items(), key=lambda item: (item[1].since, item[0])):
            if self.clock() - pod.tried < RETRY_SECONDS:
                return
            try:
                await create(pod.manifest)
            except ApiError as exc:
                if not refusal(key, pod.manifest, exc):
                    raise
                return
            self.forget(key, name)

    def forget(self, key: Key, name: str | None = None) -> None:
        """Drop one refused pod of ``key`` (made, or its attempt ended), or all of them."""
        if name is None:
            self._refused.pop(key, None)
            return
        refused = self._refused.get(key)
        if refused is not None:
            refused.pop(name, None)
            if not refused:
                del self._refused[key]
