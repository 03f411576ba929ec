"""The ``pod`` task runtime in a reconcile (controller/executions.py with kube/pods.py): the
operator creates each attempt's pod itself, reads it back as the attempt, deletes it to kill, and
a pod the API server refuses with 403 (a quota) waits with the refusal shown, as a Job's
FailedCreate does, and is asked for again until it is made."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from support.fake_kube import StatusKube

from overture.controller.executions import ExecutionReconciler
from overture.controller.settings import ControllerSettings
from overture.controller.unstarted import RETRY_SECONDS
from overture.kube.errors import RejectedError
from overture.kube.store import Store

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
FLOW = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Flow",
    "metadata": {"name": "one", "namespace": "ns", "uid": "f1", "generation": 1, "resourceVersion": "1"},
    "spec": {"tasks": [{"id": "t", "type": "shell", "commands": ["true"], "timeout": "10m"}]},
}
EXECUTION = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Execution",
    "metadata": {
        "name": "one-1",
        "namespace": "ns",
        "uid": "e1",
        "resourceVersion": "1",
        "creationTimestamp": "2026-01-31T12:00:00Z",
    },
    "spec": {"flowRef": {"name": "one"}},
}
QUOTA = 'pods "one-1-t-1" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1'
INVALID = (
    'Pod "one-1-t-1" is invalid: spec.containers[0].resources.requests: Invalid value: "64Mi": must be at least 128Mi'
)


class Kube(StatusKube):
    """Pods are made (the reconcile caches the answer: no watch here), unless ``full``: then
    refused as a quota does; or ``invalid``: then rejected as a LimitRange does."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.full = False
        self.invalid = False
        self.created: list[str] = []
        self.refused: list[str] = []
        self.deleted: list[str] = []

    async def create_pod(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        name = manifest["metadata"]["name"]
        if self.full:
            self.refused.append(name)
            raise RejectedError(403, QUOTA)
        if self.invalid:
            self.refused.append(name)
            raise RejectedError(422, INVALID)
        self.created.append(name)
        meta = {**manifest["metadata"], "creationTimestamp": "2026-01-31T12:00:01Z"}
        return {**manifest, "metadata": meta, "status": {"phase": "Pending"}}

    async def create_job(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        raise AssertionError("the pod runtime makes no Job")

    async def delete_pod(self, namespace: str, name: str) -> None:
        self.deleted.append(name)

    async def delete_job(self, namespace: str, name: str) -> None:
        raise AssertionError("the pod runtime deletes no Job")


class Setup:
    def __init__(self) -> None:
        self.store = Store()
        self.store.put("flow", FLOW)
        self.store.put("execution", EXECUTION)
        self.kube = Kube(self.store)
        self.now = NOW
        self.ticks = 0.0
        settings = replace(ControllerSettings(), task_runtime="pod", status_debounce=0, observed_debounce=0)
        self.reconciler = ExecutionReconciler(self.kube, self.store, settings, clock=lambda: self.now)  # type: ignore[arg-type]
        self.reconciler.refused_pods.clock = lambda: self.ticks

    def reconcile(self, seconds: float = 0) -> float | None:
        self.now += timedelta(seconds=seconds)
        self.ticks += seconds
        result = asyncio.run(self.reconciler.reconcile(("ns", "one-1")))
        return result.requeue_after

    def status(self) -> dict[str, Any]:
        return dict(self.store.executions[("ns", "one-1")]).get("status") or {}

    def pod_ends(self, phase: str, exit_code: int) -> None:
        body = dict(self.store.pods[("ns", "one-1-t-1")])
        container = {"name": "task", "state": {"terminated": {"exitCode": exit_code, "message": '{"n": 1}'}}}
        self.store.put("pod", {**body, "status": {"phase": phase, "containerStatuses": [container]}})


def test_a_task_runs_as_its_own_pod_and_its_end_is_the_attempts() -> None:
    setup = Setup()
    setup.reconcile()
    assert setup.kube.created == ["one-1-t-1"]
    setup.pod_ends("Succeeded", 0)
    setup.reconcile(1)
    status = setup.status()
    assert status["state"] == "SUCCESS", status
    assert status["taskRuns"][0]["outputs"] == {"n": 1}
    assert status["taskRuns"][0]["attempts"][0]["pod"] == "one-1-t-1"


def test_a_kill_deletes_the_pod() -> None:
    setup = Setup()
    setup.reconcile()
    body = dict(setup.store.executions[("ns", "one-1")])
    setup.store.put("execution", {**body, "spec": {**body["spec"], "kill": True}})
    setup.reconcile(1)
    assert setup.kube.deleted == ["one-1-t-1"]


def test_a_pod_refused_by_a_quota_waits_with_the_reason_and_is_made_when_there_is_room() -> None:
    setup = Setup()
    setup.kube.full = True
    assert setup.reconcile() == 0  # observed at once, as waiting
    assert setup.reconcile() is not None  # the refused pod is asked for again
    run = setup.status()["taskRuns"][0]
    assert run["state"] == "RUNNING", run  # waiting, not failed
    assert run["attempts"][0]["message"] == f"not started: FailedCreate: 403: {QUOTA}"
    setup.reconcile(1)
    assert setup.kube.refused == ["one-1-t-1"]  # not before RETRY_SECONDS
    setup.reconcile(RETRY_SECONDS)
    assert setup.kube.refused == ["one-1-t-1"] * 2
    setup.kube.full = False
    setup.reconcile(RETRY_SECONDS)
    assert setup.kube.created == ["one-1-t-1"]
    assert not setup.reconciler.refused_pods.waiting(("ns", "one-1"))
    setup.pod_ends("Succeeded", 0)
    setup.reconcile(1)
    assert setup.status()["state"] == "SUCCESS"
    assert "message" not in setup.status()["taskRuns"][0]["attempts"][0]  # it started after all: no stale reason


def test_a_waiting_pod_that_is_invalid_when_asked_for_again_fails_its_attempt() -> None:
    setup = Setup()
    setup.kube.full = True
    setup.reconcile()
    setup.kube.full, setup.kube.invalid = False, True  # a LimitRange added while it waited
    setup.reconcile(RETRY_SECONDS)  # asked for again and rejected: not an error of the reconcile
    assert setup.kube.refused == ["one-1-t-1"] * 2
    status = setup.status()
    assert status["state"] == "FAILED", status
    assert f"the API server rejected the pod: 422: {INVALID}" in status["taskRuns"][0]["attempts"][0]["message"]
    assert not setup.reconciler.refused_pods.waiting(("ns", "one-1"))  # asked for no more


def test_a_pod_waiting_on_a_quota_times_out_as_a_job_would() -> None:
    setup = Setup()
    setup.kube.full = True
    setup.reconcile()
    setup.reconcile(601)
    status = setup.status()
    assert status["state"] == "FAILED", status
    assert "timed out after 10m" in status["taskRuns"][0]["message"]
    assert not setup.reconciler.refused_pods.waiting(("ns", "one-1"))  # forgotten
