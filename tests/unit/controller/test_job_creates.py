"""A decision's Job creations go out ``JOB_CREATES_AT_ONCE`` at a time (``ExecutionReconciler._act``),
each attempted even when another fails.

One by one, a fan-out's reconcile that starts 50 iterations waits 50 round trips to the API
server; concurrent creation cut that wait but was no faster end to end on the benchmark machine,
so the constant is 1 (benchmarks/README.md, fan-out trace). The bound is tested at 4.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.fake_kube import StatusKube

from overture.controller import executions
from overture.controller.executions import ExecutionReconciler
from overture.controller.settings import ControllerSettings
from overture.kube.errors import TransientError
from overture.kube.pods import JOB  # these fakes make Jobs only: the built-in Job runtime
from overture.kube.store import Store

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
ITEMS = 40
FLOW = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Flow",
    "metadata": {"name": "fan", "namespace": "ns", "uid": "f1", "generation": 1, "resourceVersion": "1"},
    "spec": {
        "tasks": [
            {
                "id": "items",
                "type": "each",
                "items": f"{{{{ range({ITEMS}) | list | json }}}}",
                "concurrencyLimit": ITEMS,
                "tasks": [{"id": "t", "type": "shell", "commands": ["true"]}],
            }
        ],
    },
}
EXECUTION = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Execution",
    "metadata": {
        "name": "fan-1",
        "namespace": "ns",
        "uid": "e1",
        "resourceVersion": "1",
        "creationTimestamp": "2026-01-31T12:00:00Z",
    },
    "spec": {"flowRef": {"name": "fan"}},
}


class Kube(StatusKube):
    """Job creation as a round trip: it yields to the loop before answering, and counts how many
    are in flight at once; ``fail`` names a Job the API server is too busy to create."""

    def __init__(self, store: Store, fail: str | None = None) -> None:
        super().__init__(store)
        self.fail = fail
        self.in_flight = 0
        self.most_in_flight = 0
        self.created: list[str] = []

    async def create_job(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        name = manifest["metadata"]["name"]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        self.in_flight -= 1
        if name == self.fail:
            raise TransientError(503, "busy")
        self.created.append(name)
        return {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}


def reconciler(fail: str | None = None) -> tuple[Kube, Store, ExecutionReconciler]:
    store = Store()
    store.put("flow", FLOW)
    store.put("execution", EXECUTION)
    kube = Kube(store, fail)
    return kube, store, ExecutionReconciler(kube, store, ControllerSettings(task_runtime=JOB), clock=lambda: NOW)  # type: ignore[arg-type]


def test_a_decisions_jobs_are_created_at_most_so_many_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executions, "JOB_CREATES_AT_ONCE", 4)
    kube, _, controller = reconciler()
    asyncio.run(controller.reconcile(("ns", "fan-1")))
    assert len(kube.created) == ITEMS
    assert kube.most_in_flight == 4


def test_a_failed_creation_lets_the_others_be_made_and_leaves_the_status_unwritten() -> None:
    kube, store, controller = reconciler(fail="fan-1-t-3-1")
    with pytest.raises(TransientError):
        asyncio.run(controller.reconcile(("ns", "fan-1")))
    assert len(kube.created) == ITEMS - 1  # every other Job made: the next reconcile adopts them (AlreadyExists)
    assert kube.statuses == []
    assert "status" not in store.executions[("ns", "fan-1")]


def test_a_job_created_but_not_yet_shown_by_the_watch_is_not_created_again() -> None:
    """The create's answer is cached: a watch slower than ``UNSEEN_JOB_GRACE`` (15 s; seen with two
    replicas on a busy API server) no longer has the engine ask for every Job a second time."""
    store = Store()
    store.put("flow", FLOW)
    store.put("execution", EXECUTION)
    kube = Kube(store)
    now = [NOW]
    controller = ExecutionReconciler(kube, store, ControllerSettings(task_runtime=JOB), clock=lambda: now[0])  # type: ignore[arg-type]
    asyncio.run(controller.reconcile(("ns", "fan-1")))
    assert len(kube.created) == ITEMS
    now[0] = NOW + timedelta(seconds=60)
    asyncio.run(controller.reconcile(("ns", "fan-1")))
    assert len(kube.created) == ITEMS
    assert len(store.jobs_of("ns", "fan-1")) == ITEMS
