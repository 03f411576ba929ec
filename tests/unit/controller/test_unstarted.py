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


class Kube:
    def __init__(self) -> None:
        self.reads = 0

    async def list_events(self, namespace: str, field_selector: str) -> list[dict[str, Any]]:
        self.reads += 1
        assert field_selector == "involvedObject.kind=Job,involvedObject.name=run-1-a-1"
        return [
            {"reason": "SuccessfulCreate", "message": "no", "lastTimestamp": "2026-01-31T12:00:01Z"},
            {"reason": "FailedCreate", "message": REFUSED, "lastTimestamp": "2026-01-31T12:00:02Z"},
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
