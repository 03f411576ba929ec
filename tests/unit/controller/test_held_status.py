"""Batched status writes: a routine change (a task ended, the next one started) is held in memory
and written with the next change, or after ``status_debounce`` seconds.

A held status must never cost a second Job for an attempt (a new reconciler, as after a crash,
starts again from what the API server has), nor hold back a start, an end or a failure.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from support.fake_kube import StatusKube

from overture.controller.executions import ExecutionReconciler
from overture.controller.settings import ControllerSettings
from overture.kube.pods import JOB  # these fakes make Jobs only: the built-in Job runtime
from overture.kube.store import Store

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
KEY = ("ns", "abc-1")
FLOW = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Flow",
    "metadata": {"name": "abc", "namespace": "ns", "uid": "f1", "generation": 1, "resourceVersion": "1"},
    "spec": {"tasks": [{"id": task, "type": "shell", "commands": ["true"]} for task in ("a", "b", "c")]},
}
EXECUTION = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Execution",
    "metadata": {
        "name": "abc-1",
        "namespace": "ns",
        "uid": "e1",
        "resourceVersion": "1",
        "creationTimestamp": "2026-01-31T12:00:00Z",
    },
    "spec": {"flowRef": {"name": "abc"}},
}


class Kube(StatusKube):
    """Jobs and status writes as the API server takes them (into the store, as the watch would)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.job_creates: list[str] = []
        self.status_writes = self.statuses

    async def create_job(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        name = manifest["metadata"]["name"]
        if (namespace, name) in self.store.jobs:
            return None  # AlreadyExists: adopted
        self.job_creates.append(name)
        return {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}

    async def emit_event(self, *_: Any) -> None:
        return None

    async def read_namespace(self, name: str) -> dict[str, Any]:
        return {"metadata": {"name": name}}


def complete(store: Store, job: str) -> None:
    body = dict(store.jobs[("ns", job)])
    body["status"] = {
        "startTime": "2026-01-31T12:00:01Z",
        "completionTime": "2026-01-31T12:00:02Z",
        "conditions": [{"type": "Complete", "status": "True"}],
    }
    store.put("job", body)


def setup(debounce: float) -> tuple[Store, Kube, ExecutionReconciler]:
    store = Store()
    store.put("flow", FLOW)
    store.put("execution", EXECUTION)
    kube = Kube(store)
    settings = ControllerSettings(task_runtime=JOB, status_debounce=debounce)
    reconciler = ExecutionReconciler(kube, store, settings, clock=lambda: NOW)  # type: ignore[arg-type]
    return store, kube, reconciler


def state_of(status: dict[str, Any]) -> dict[str, str]:
    return {run["id"]: run["state"] for run in status.get("taskRuns") or []}


def test_a_sequential_run_writes_its_start_and_its_end_and_holds_the_steps_between() -> None:
    async def scenario() -> tuple[Kube, Store]:
        store, kube, reconciler = setup(debounce=60.0)
        await reconciler.reconcile(KEY)  # starts: written at once
        for job in ("abc-1-a-1", "abc-1-b-1", "abc-1-c-1"):
            complete(store, job)
            await reconciler.reconcile(KEY)
        return kube, store

    kube, store = asyncio.run(scenario())
    assert kube.job_creates == ["abc-1-a-1", "abc-1-b-1", "abc-1-c-1"]
    assert [w["state"] for w in kube.status_writes] == ["RUNNING", "SUCCESS"]
    assert state_of(kube.status_writes[0]) == {"a": "RUNNING"}
    assert state_of(kube.status_writes[-1]) == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    assert store.executions[KEY]["status"]["state"] == "SUCCESS"


def test_without_debounce_every_step_is_written() -> None:
    async def scenario() -> Kube:
        store, kube, reconciler = setup(debounce=0.0)
        await reconciler.reconcile(KEY)
        for job in ("abc-1-a-1", "abc-1-b-1", "abc-1-c-1"):
            complete(store, job)
            await reconciler.reconcile(KEY)
        return kube

    kube = asyncio.run(scenario())
    assert [state_of(w) for w in kube.status_writes] == [
        {"a": "RUNNING"},
        {"a": "SUCCESS", "b": "RUNNING"},
        {"a": "SUCCESS", "b": "SUCCESS", "c": "RUNNING"},
        {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"},
    ]


def test_a_status_write_sends_what_changed_only() -> None:
    """The flow's snapshot goes out with the first write; later writes are merge patches without it."""

    async def scenario() -> Kube:
        store, kube, reconciler = setup(debounce=0.0)
        await reconciler.reconcile(KEY)
        complete(store, "abc-1-a-1")
        await reconciler.reconcile(KEY)
        return kube

    kube = asyncio.run(scenario())
    assert "flowSpec" in kube.patches[0]
    assert "flowSpec" not in kube.patches[1]
    assert state_of(kube.patches[1]) == {"a": "SUCCESS", "b": "RUNNING"}
    assert kube.status_writes[1]["flowSpec"] == kube.status_writes[0]["flowSpec"]


def test_a_held_status_is_written_once_it_has_waited_the_debounce() -> None:
    async def scenario() -> Kube:
        store, kube, reconciler = setup(debounce=0.05)
        await reconciler.reconcile(KEY)
        complete(store, "abc-1-a-1")
        await reconciler.reconcile(KEY)  # held
        assert len(kube.status_writes) == 1
        await asyncio.sleep(0.06)
        await reconciler.reconcile(KEY)  # as the timer it set would: written now
        return kube

    kube = asyncio.run(scenario())
    assert [state_of(w) for w in kube.status_writes] == [{"a": "RUNNING"}, {"a": "SUCCESS", "b": "RUNNING"}]


def test_a_lost_held_status_costs_no_second_job() -> None:
    """A crash (here: a new reconciler) drops what was held; the next one decides it again."""

    async def scenario() -> tuple[Kube, Store]:
        store, kube, reconciler = setup(debounce=60.0)
        await reconciler.reconcile(KEY)
        complete(store, "abc-1-a-1")
        await reconciler.reconcile(KEY)  # b's Job created, the status saying so held
        held = ControllerSettings(task_runtime=JOB, status_debounce=60.0)
        restarted = ExecutionReconciler(kube, store, held, clock=lambda: NOW)  # type: ignore[arg-type]
        await restarted.reconcile(KEY)  # from a RUNNING only: b again, AlreadyExists
        for job in ("abc-1-b-1", "abc-1-c-1"):
            complete(store, job)
            await restarted.reconcile(KEY)
        return kube, store

    kube, store = asyncio.run(scenario())
    assert kube.job_creates == ["abc-1-a-1", "abc-1-b-1", "abc-1-c-1"]
    assert store.executions[KEY]["status"]["state"] == "SUCCESS"


def test_a_status_written_by_someone_else_replaces_the_held_one() -> None:
    async def scenario() -> tuple[Kube, ExecutionReconciler]:
        store, kube, reconciler = setup(debounce=60.0)
        await reconciler.reconcile(KEY)
        complete(store, "abc-1-a-1")
        await reconciler.reconcile(KEY)  # held: a SUCCESS, b RUNNING
        body = dict(store.executions[KEY])
        body["status"] = {**body["status"], "state": "KILLED", "endDate": "2026-01-31T12:00:03Z"}
        store.put("execution", body)  # another replica ended it meanwhile
        await reconciler.reconcile(KEY)
        return kube, reconciler

    kube, reconciler = asyncio.run(scenario())
    assert KEY not in reconciler.held
    assert len(kube.status_writes) == 1  # nothing of ours written over theirs


def test_a_pod_start_waits_longer_and_goes_out_with_the_task_transition() -> None:
    async def scenario() -> Kube:
        store = Store()
        store.put("flow", FLOW)
        store.put("execution", EXECUTION)
        kube = Kube(store)
        settings = ControllerSettings(task_runtime=JOB, status_debounce=0.05, observed_debounce=60.0)
        reconciler = ExecutionReconciler(kube, store, settings, clock=lambda: NOW)  # type: ignore[arg-type]
        await reconciler.reconcile(KEY)
        store.put(
            "pod",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "abc-1-a-1-x7k2p",
                    "namespace": "ns",
                    "labels": {"job-name": "abc-1-a-1"},
                    "creationTimestamp": "2026-01-31T12:00:01Z",
                },
                "status": {"phase": "Running", "startTime": "2026-01-31T12:00:01Z"},
            },
        )
        await reconciler.reconcile(KEY)  # only observed: may wait a minute
        await asyncio.sleep(0.06)
        await reconciler.reconcile(KEY)
        assert len(kube.status_writes) == 1
        complete(store, "abc-1-a-1")
        store.put("pod", {**store.pods[("ns", "abc-1-a-1-x7k2p")], "status": {"phase": "Succeeded"}})
        await reconciler.reconcile(KEY)  # a ended, b started: at most status_debounce
        await asyncio.sleep(0.06)
        await reconciler.reconcile(KEY)
        return kube

    kube = asyncio.run(scenario())
    assert [state_of(w) for w in kube.status_writes] == [{"a": "RUNNING"}, {"a": "SUCCESS", "b": "RUNNING"}]
    assert kube.status_writes[1]["taskRuns"][0]["attempts"][0]["pod"] == "abc-1-a-1-x7k2p"
