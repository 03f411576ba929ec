"""A task pod that cannot start says why in its attempt at once (issue 14): the scheduler's
reason, an image that cannot be pulled, or the Job controller's FailedCreate (quota, Pod
Security) read from the Job's Events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from overture.api import Attempt, State
from overture.controller.unstarted import CreationFailures
from overture.engine import JobObservation, JobPhase, Observed
from overture.engine.attempts import observe_attempt
from overture.kube.jobs import observe_job
from overture.kube.store import Store

NOW = datetime(2026, 1, 31, 12, 0, 30, tzinfo=UTC)
JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "run-1-a-1", "namespace": "ns", "creationTimestamp": "2026-01-31T12:00:00Z"},
}
REFUSED = 'pods "run-1-a-1-x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true'


def job(name: str) -> dict[str, Any]:
    return {**JOB, "metadata": {**JOB["metadata"], "name": name}}


def event(job: str, reason: str, message: str, stamp: str) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Job", "name": job},
        "reason": reason,
        "message": message,
        "lastTimestamp": stamp,
    }


class Kube:
    def __init__(self) -> None:
        self.reads = 0

    async def list_events(self, namespace: str, field_selector: str) -> list[dict[str, Any]]:
        self.reads += 1
        assert field_selector == "involvedObject.kind=Job,reason=FailedCreate"
        return [
            event("run-1-a-1", "FailedCreate", "older", "2026-01-31T12:00:01Z"),
            event("run-1-a-1", "FailedCreate", REFUSED, "2026-01-31T12:00:02Z"),
            event("run-1-b-1", "FailedCreate", "quota", "2026-01-31T12:00:02Z"),
        ]


def test_a_refused_pod_is_the_attempts_message() -> None:
    store = Store()
    store.put("job", JOB)
    kube = Kube()
    failures = CreationFailures(kube, store, clock=lambda: 0.0)  # type: ignore[arg-type]
    observed = Observed(jobs={"run-1-a-1": observe_job(JOB, None)})
    seen = asyncio.run(failures.observed("ns", observed, NOW))
    asyncio.run(failures.observed("ns", observed, NOW))
    assert kube.reads == 1  # read again only after RECHECK_SECONDS
    attempt, _ = observe_attempt(Attempt(attempt=1, job="run-1-a-1", state=State.CREATED), seen.jobs["run-1-a-1"])
    assert attempt.message == f"not started: FailedCreate: {REFUSED}"


def test_many_jobs_waiting_for_their_pods_cost_one_read() -> None:
    """A fan-out's 200 Jobs the Job controller has not made pods for yet: one list of the
    namespace's FailedCreate Events, not one per Job (each reconcile waited for 200 of them)."""
    store = Store()
    names = [f"run-1-{i}-1" for i in range(200)] + ["run-1-a-1", "run-1-b-1"]
    for name in names:
        store.put("job", job(name))
    kube = Kube()
    failures = CreationFailures(kube, store, clock=lambda: 0.0)  # type: ignore[arg-type]
    observed = Observed(jobs={name: observe_job(job(name), None) for name in names})

    seen = asyncio.run(failures.observed("ns", observed, NOW))

    assert kube.reads == 1
    assert {n: j.message for n, j in seen.jobs.items() if j.reason == "FailedCreate"} == {
        "run-1-a-1": REFUSED,
        "run-1-b-1": "quota",
    }


class SlowKube(Kube):
    """A busy API server: each list answers only once ``answer`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()

    async def list_events(self, namespace: str, field_selector: str) -> list[dict[str, Any]]:
        self.reads += 1
        await self.answer.wait()
        return [event("run-1-a-1", "FailedCreate", REFUSED, "2026-01-31T12:00:02Z")]


def slow_read() -> tuple[SlowKube, CreationFailures, Observed]:
    """A Job waiting for its pod, and FailedCreate reads from a busy API server."""
    store = Store()
    store.put("job", JOB)
    kube = SlowKube()
    return kube, CreationFailures(kube, store, clock=lambda: 0.0), Observed(jobs={"run-1-a-1": observe_job(JOB, None)})  # type: ignore[arg-type]


def test_reconciles_waiting_at_once_share_one_read() -> None:
    """Many workers reconciling executions whose Jobs wait for pods, while the first list is
    still out: they await that list instead of each sending their own (203 reads in a 2-replica
    benchmark run on a busy API server, against 67 for one replica)."""
    kube, failures, observed = slow_read()

    async def many() -> list[Observed]:
        reconciles = [asyncio.ensure_future(failures.observed("ns", observed, NOW)) for _ in range(20)]
        await asyncio.sleep(0)
        kube.answer.set()
        return list(await asyncio.gather(*reconciles))

    seen = asyncio.run(many())

    assert kube.reads == 1
    assert {s.jobs["run-1-a-1"].message for s in seen} == {REFUSED}


def test_a_cancelled_reconcile_leaves_the_shared_read_to_the_others() -> None:
    kube, failures, observed = slow_read()

    async def one_cancelled() -> Observed:
        first = asyncio.ensure_future(failures.observed("ns", observed, NOW))
        second = asyncio.ensure_future(failures.observed("ns", observed, NOW))
        await asyncio.sleep(0)
        first.cancel()
        kube.answer.set()
        return await second

    seen = asyncio.run(one_cancelled())

    assert kube.reads == 1
    assert seen.jobs["run-1-a-1"].message == REFUSED


def test_jobs_within_the_grace_period_or_with_a_pod_read_nothing() -> None:
    store = Store()
    store.put("job", JOB)
    kube = Kube()
    failures = CreationFailures(kube, store, clock=lambda: 0.0)  # type: ignore[arg-type]
    early = datetime(2026, 1, 31, 12, 0, 2, tzinfo=UTC)
    observed = Observed(jobs={"run-1-a-1": observe_job(JOB, None)})

    assert asyncio.run(failures.observed("ns", observed, early)) == observed
    assert kube.reads == 0


def test_an_unschedulable_pod_says_so_and_a_running_one_clears_it() -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes: cpu"}
            ],
        },
    }
    job = observe_job(JOB, pod)
    assert (job.phase, job.reason, job.message) == (JobPhase.PENDING, "Unschedulable", "0/1 nodes: cpu")
    attempt, _ = observe_attempt(Attempt(attempt=1, job="run-1-a-1", state=State.CREATED), job)
    assert attempt.message == "not started: Unschedulable: 0/1 nodes: cpu"
    running = JobObservation("run-1-a-1", JobPhase.RUNNING, pod="p")
    assert observe_attempt(attempt, running)[0].message is None


def test_a_pod_on_its_way_is_no_message() -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"name": "task", "state": {"waiting": {"reason": "ContainerCreating"}}}],
        },
    }
    attempt, _ = observe_attempt(Attempt(attempt=1, job="run-1-a-1", state=State.CREATED), observe_job(JOB, pod))
    assert attempt.message is None


def test_a_namespace_read_long_ago_is_forgotten_at_the_next_read() -> None:
    """One entry per namespace that ever had a Job waiting would grow with the tenants."""
    store = Store()
    other = {**JOB, "metadata": {**JOB["metadata"], "namespace": "other"}}
    store.put("job", JOB)
    store.put("job", other)
    clock = [0.0]
    failures = CreationFailures(Kube(), store, clock=lambda: clock[0])  # type: ignore[arg-type]
    asyncio.run(failures.observed("ns", Observed(jobs={"run-1-a-1": observe_job(JOB, None)}), NOW))
    clock[0] = 60.0
    asyncio.run(failures.observed("other", Observed(jobs={"run-1-a-1": observe_job(other, None)}), NOW))
    assert set(failures._read) == {"other"}
