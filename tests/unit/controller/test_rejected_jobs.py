"""A Job the API server refuses as invalid (found by tests/e2e/test_fuzz.py: a task whose resources
say ``cpu: lots``, which the Flow's schema lets through) fails its task attempt with the server's
reason; retries and ``errors`` apply as for any failed attempt.

Before, the Job creation raised on every reconcile, the status was never written and the
execution stayed CREATED forever, with a traceback in the log every 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from support.fake_kube import StatusKube

from overture.controller.executions import ExecutionReconciler
from overture.controller.settings import ControllerSettings
from overture.kube.errors import RejectedError, TransientError
from overture.kube.pods import JOB  # these fakes make Jobs only: the built-in Job runtime
from overture.kube.store import Store

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
FLOW = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Flow",
    "metadata": {"name": "greedy", "namespace": "ns", "uid": "f1", "generation": 1, "resourceVersion": "1"},
    "spec": {
        "tasks": [
            {
                "id": "hog",
                "type": "shell",
                "commands": ["true"],
                "resources": {"limits": {"cpu": "lots"}},
                "retry": {"maxAttempts": 2, "interval": "1s"},
            }
        ],
    },
}
EXECUTION = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Execution",
    "metadata": {
        "name": "greedy-1",
        "namespace": "ns",
        "uid": "e1",
        "resourceVersion": "1",
        "creationTimestamp": "2026-01-31T12:00:00Z",
    },
    "spec": {"flowRef": {"name": "greedy"}},
}


class Kube(StatusKube):
    """The API server's answers: every Job is invalid (or, with ``status=503``, the server is busy)."""

    def __init__(self, store: Store, status: int = 400) -> None:
        super().__init__(store)
        self.status = status
        self.job_creates: list[str] = []

    async def create_job(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        self.job_creates.append(manifest["metadata"]["name"])
        if self.status == 503:
            raise TransientError(503, "busy")
        raise RejectedError(self.status, 'Job in version "v1" cannot be handled as a Job: quantities must match')


def run(status: int, reconciles: int, clock: list[datetime]) -> tuple[Kube, dict[str, Any], ExecutionReconciler]:
    store = Store()
    store.put("flow", FLOW)
    store.put("execution", EXECUTION)
    kube = Kube(store, status)
    reconciler = ExecutionReconciler(kube, store, ControllerSettings(task_runtime=JOB), clock=lambda: clock[0])  # type: ignore[arg-type]

    async def main() -> None:
        for _ in range(reconciles):
            with contextlib.suppress(TransientError):
                await reconciler.reconcile(("ns", "greedy-1"))
            clock[0] = clock[0].replace(second=clock[0].second + 2)

    asyncio.run(main())
    return kube, dict(store.executions[("ns", "greedy-1")]), reconciler


def test_an_invalid_job_fails_its_attempts_and_the_run_with_the_reason() -> None:
    kube, execution, reconciler = run(400, 6, [NOW])
    status = execution["status"]
    assert status["state"] == "FAILED", status
    run_ = status["taskRuns"][0]
    assert [a["state"] for a in run_["attempts"]] == ["FAILED", "FAILED"]  # retried once, as declared
    assert "rejected the Job" in run_["message"]
    assert "quantities" in run_["message"]
    assert kube.job_creates == [a["job"] for a in run_["attempts"]]  # each attempt's Job asked for once
    assert reconciler.rejected_jobs == {}  # forgotten once the run ended


def test_a_busy_server_is_not_a_rejection() -> None:
    kube, execution, reconciler = run(503, 3, [NOW])
    assert "status" not in execution  # nothing decided: tried again later
    assert reconciler.rejected_jobs == {}
    assert len(kube.job_creates) == 3
