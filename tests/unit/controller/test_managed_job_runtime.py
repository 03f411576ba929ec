"""The ``managed-job`` task runtime in a reconcile (controller/executions.py, controller/job_statuses.py
with kube/managed_jobs.py): the Job is made with ``spec.managedBy``, then its pod, owned by it;
the attempt ends with its pod, and the Job's ended status is written once, after the Execution's,
and caught up after a restart. A cluster that drops ``spec.managedBy`` gets no pod from us."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from test_pod_runtime import Kube as PodKube
from test_pod_runtime import Setup as PodSetup

from overture.controller.executions import ExecutionReconciler
from overture.controller.settings import ControllerSettings
from overture.kube.errors import RejectedError
from overture.kube.store import Store


class Kube(PodKube):
    """Jobs are made too (with a uid; ``drops_managed_by``: as an API server without JobManagedBy
    stores them), and their status patches recorded (``refuse_status``: refused)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.jobs: list[str] = []
        self.job_statuses_written: list[tuple[str, dict[str, Any]]] = []
        self.drops_managed_by = False
        self.refuse_status = False

    async def create_job(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        self.jobs.append(manifest["metadata"]["name"])
        spec = dict(manifest["spec"])
        if self.drops_managed_by:
            spec.pop("managedBy")
        meta = {**manifest["metadata"], "uid": "job-uid", "creationTimestamp": "2026-01-31T12:00:01Z"}
        return {**manifest, "metadata": meta, "spec": spec, "status": {}}

    async def patch_job_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        if self.refuse_status:
            raise RejectedError(422, 'Job.batch "x" is invalid: status.conditions: Invalid value')
        self.job_statuses_written.append((name, status))
        job = dict(self.store.jobs[(namespace, name)])
        return {**job, "status": status}


class Setup(PodSetup):
    def __init__(self) -> None:
        super().__init__()
        self.kube = Kube(self.store)
        settings = replace(ControllerSettings(), task_runtime="managed-job", status_debounce=0, observed_debounce=0)
        self.reconciler = ExecutionReconciler(self.kube, self.store, settings, clock=lambda: self.now)  # type: ignore[arg-type]

    def reconcile(self, seconds: float = 0) -> float | None:
        async def reconcile_and_drain() -> float | None:
            result = await self.reconciler.reconcile(("ns", "one-1"))
            await self.reconciler.job_statuses.drain()
            return result.requeue_after

        self.now += timedelta(seconds=seconds)
        return asyncio.run(reconcile_and_drain())

    def restarted(self) -> int:
        """A restarted operator's catch-up over its cached Jobs; how many status writes it started."""

        async def catch_up() -> int:
            started = self.reconciler.job_statuses.catch_up()
            await self.reconciler.job_statuses.drain()
            return started

        return asyncio.run(catch_up())

    def ends_unwritten(self, phase: str, exit_code: int) -> None:
        """The attempt's pod ends, the attempt with it, and its Job's status write is lost (as if
        the operator stopped before it)."""
        self.reconcile()
        self.pod_ends(phase, exit_code)
        self.kube.refuse_status = True
        self.reconcile(1)
        assert self.kube.job_statuses_written == []
        self.kube.refuse_status = False


def test_the_job_is_made_managed_then_its_pod_owned_by_it() -> None:
    setup = Setup()
    setup.reconcile()
    assert setup.kube.jobs == ["one-1-t-1"]
    assert setup.kube.created == ["one-1-t-1"]
    pod = setup.store.pods[("ns", "one-1-t-1")]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == "job-uid"
    assert setup.store.jobs[("ns", "one-1-t-1")]["spec"] == {"managedBy": "overture.dev/operator"}


def test_the_attempt_ends_with_its_pod_and_the_job_gets_its_status_once() -> None:
    setup = Setup()
    setup.reconcile()
    assert setup.kube.job_statuses_written == []  # no write when it starts
    setup.pod_ends("Succeeded", 0)
    setup.reconcile(1)
    status = setup.status()
    assert status["state"] == "SUCCESS", status
    assert status["taskRuns"][0]["outputs"] == {"n": 1}
    [(job, written)] = setup.kube.job_statuses_written
    assert job == "one-1-t-1"
    assert [c["type"] for c in written["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert setup.restarted() == 0  # the cached Job has ended: nothing to write
    assert len(setup.kube.job_statuses_written) == 1


def test_a_restart_before_the_jobs_status_write_is_caught_up() -> None:
    setup = Setup()
    setup.ends_unwritten("Failed", 2)
    assert setup.status()["state"] == "FAILED"
    assert setup.restarted() == 1
    [(_, written)] = setup.kube.job_statuses_written
    assert [c["type"] for c in written["conditions"]] == ["FailureTarget", "Failed"]


def test_a_refused_status_write_is_logged_and_fails_nothing(caplog: pytest.LogCaptureFixture) -> None:
    setup = Setup()
    setup.reconcile()
    setup.pod_ends("Succeeded", 0)
    setup.kube.refuse_status = True
    with caplog.at_level(logging.WARNING, "overture.controller"):
        setup.reconcile(1)
    assert setup.status()["state"] == "SUCCESS"
    assert "Could not write a managed Job's status: job=ns/one-1-t-1 error=" in caplog.text
    assert "status.conditions: Invalid value" in caplog.text


def test_a_cluster_that_drops_managed_by_runs_the_job_itself_and_gets_no_pod(caplog: pytest.LogCaptureFixture) -> None:
    setup = Setup()
    setup.kube.drops_managed_by = True
    with caplog.at_level(logging.WARNING, "overture.controller"):
        setup.reconcile()
    assert setup.kube.jobs == ["one-1-t-1"]
    assert setup.kube.created == []
    assert "JobManagedBy is off" in caplog.text


def test_a_failed_status_write_is_tried_again_every_resync_period() -> None:
    setup = Setup()
    setup.reconcile()
    setup.pod_ends("Succeeded", 0)
    setup.kube.refuse_status = True  # a busy API server
    setup.reconcile(1)
    assert setup.kube.job_statuses_written == []
    setup.kube.refuse_status = False

    async def a_few_periods() -> None:
        keeping_up = asyncio.create_task(setup.reconciler.job_statuses.keep_up(0.01, lambda: True))
        while not setup.kube.job_statuses_written:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # more periods: the Job has ended in the cache, no second write
        keeping_up.cancel()

    asyncio.run(asyncio.wait_for(a_few_periods(), 5))
    assert [job for job, _ in setup.kube.job_statuses_written] == ["one-1-t-1"]


def test_a_pod_deleted_while_it_ran_fails_the_attempt_and_ends_its_job_failed_pod_deleted() -> None:
    setup = Setup()
    setup.reconcile()
    setup.reconcile(1)  # the pod is seen: the attempt records it
    setup.store.put("pod", setup.store.pods[("ns", "one-1-t-1")], deleted=True)  # kubectl delete pod, a drain
    setup.reconcile(1)
    [attempt] = setup.status()["taskRuns"][0]["attempts"]
    assert (attempt["state"], attempt["message"]) == ("FAILED", "its Job or pod was deleted before it ended")
    [(job, written)] = setup.kube.job_statuses_written
    assert job == "one-1-t-1"
    assert [(c["type"], c["reason"]) for c in written["conditions"]] == [
        ("FailureTarget", "PodDeleted"),
        ("Failed", "PodDeleted"),
    ]
    assert written["failed"] == 1
    assert setup.restarted() == 0  # the cached Job has ended: nothing to write again
    setup.reconcile(1)
    assert len(setup.kube.job_statuses_written) == 1


def test_a_pod_gone_before_its_jobs_status_write_is_caught_up_from_the_executions_record() -> None:
    setup = Setup()
    setup.ends_unwritten("Succeeded", 0)
    assert setup.status()["state"] == "SUCCESS"
    setup.store.put("pod", setup.store.pods[("ns", "one-1-t-1")], deleted=True)  # tidied up, or pod GC
    assert setup.restarted() == 1
    [(_, written)] = setup.kube.job_statuses_written
    assert [(c["type"], c["reason"]) for c in written["conditions"]] == [
        ("SuccessCriteriaMet", "CompletionsReached"),
        ("Complete", "CompletionsReached"),
    ]
    assert (written["succeeded"], written["startTime"] <= written["completionTime"]) == (1, True)
    assert setup.restarted() == 0


def test_a_job_without_its_pod_yet_gets_no_status_from_a_catch_up() -> None:
    setup = Setup()
    setup.reconcile()
    setup.store.put("pod", setup.store.pods[("ns", "one-1-t-1")], deleted=True)  # a restart between Job and pod
    assert setup.restarted() == 0  # its attempt has not ended: the engine asks for the pod again
    assert setup.kube.job_statuses_written == []
