"""handlers.own_watches: what the operator watches without kopf, and where each event goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from overture.api import LABEL_EXECUTION
from overture.controller.settings import OperatorSettings
from overture.handlers import Runtime, own_watches


def test_executions_jobs_and_pods_are_watched_in_every_served_namespace() -> None:
    runtime = Runtime(OperatorSettings())
    everywhere = own_watches(runtime, None, [None])  # type: ignore[arg-type]
    assert [(w.path, w.label_selector) for w in everywhere] == [
        ("/apis/overture.dev/v1alpha1/executions", ""),
        ("/apis/batch/v1/jobs", LABEL_EXECUTION),
        ("/api/v1/pods", LABEL_EXECUTION),
    ]
    two = own_watches(runtime, None, ["a", "b"])  # type: ignore[arg-type]
    assert [w.path for w in two][3:] == [
        "/apis/overture.dev/v1alpha1/namespaces/b/executions",
        "/apis/batch/v1/namespaces/b/jobs",
        "/api/v1/namespaces/b/pods",
    ]


def _object(kind: str, name: str, version: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta = {"namespace": "a", "name": name, "uid": "u-" + name, "resourceVersion": version, "labels": labels or {}}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": {"flowRef": {"name": "f"}}, "status": {}}


def test_each_watch_fills_its_cache_table_and_forgets_deleted_objects() -> None:
    runtime = Runtime(OperatorSettings())
    executions, jobs, pods = own_watches(runtime, None, ["a"])  # type: ignore[arg-type]
    executions.handler("ADDED", _object("Execution", "run", "5"))
    jobs.handler("ADDED", _object("Job", "run-t-1", "6", {LABEL_EXECUTION: "run"}))
    pods.handler("ADDED", _object("Pod", "run-t-1-x", "7", {LABEL_EXECUTION: "run", "job-name": "run-t-1"}))
    store = runtime.store
    assert store.executions[("a", "run")]["metadata"]["resourceVersion"] == "5"
    assert [j["metadata"]["name"] for j in store.jobs_of("a", "run")] == ["run-t-1"]
    assert store.pod_of("a", "run-t-1") is not None
    assert dict(jobs.cached) == {
        ("a", "run-t-1"): store.jobs[("a", "run-t-1")]
    }  # the table the LIST is checked against
    jobs.handler("DELETED", _object("Job", "run-t-1", "8", {LABEL_EXECUTION: "run"}))
    executions.handler("DELETED", _object("Execution", "run", "9"))
    assert store.jobs_of("a", "run") == []
    assert ("a", "run") not in store.executions


class ShardedController:
    """A replica holding the shard of execution "mine" only (the Controller's surface the handler uses)."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, str]] = []

    def owns(self, key: tuple[str, str]) -> bool:
        return key[1] == "mine"

    def set_aside(self, key: tuple[str, str], resource_version: str) -> bool:
        return False

    def enqueue(self, key: tuple[str, str]) -> None:
        self.queued.append(key)


def test_another_replicas_execution_is_cached_and_counted_as_its_not_as_queued() -> None:
    """Two replicas: each sees every Execution event; /metrics said "queued" for the other
    replica's half, which the queue then dropped (benchmarks/README.md, two replicas, session 6)."""
    runtime = Runtime(OperatorSettings())
    runtime.controller = ShardedController()  # type: ignore[assignment]
    executions, _, _ = own_watches(runtime, None, ["a"])  # type: ignore[arg-type]
    executions.handler("ADDED", _object("Execution", "mine", "5"))
    executions.handler("ADDED", _object("Execution", "theirs", "6"))
    child = _object("Execution", "theirs-child", "7")
    child["spec"]["parent"] = {"execution": "mine"}
    executions.handler("ADDED", child)

    assert set(runtime.store.executions) == {("a", "mine"), ("a", "theirs"), ("a", "theirs-child")}
    assert runtime.watch_events == {("execution", "queued"): 1, ("execution", "other shard"): 2}
    assert runtime.controller.queued == [("a", "mine"), ("a", "mine")]  # type: ignore[attr-defined]  # and the parent


class Controller(ShardedController):
    def owns(self, key: tuple[str, str]) -> bool:
        return True


def test_the_watchs_copy_of_our_own_job_create_queues_no_reconcile() -> None:
    """The create's answer is cached (Store.put_created) by the reconcile that asked for the Job;
    the ADDED event of that same version changes nothing it read. A Job waiting for its pod counted
    as changed at every other event (controller/unstarted.py), so this one cost a reconcile per task run."""
    runtime = Runtime(OperatorSettings())
    runtime.controller = Controller()  # type: ignore[assignment]
    _, jobs, _ = own_watches(runtime, None, ["a"])  # type: ignore[arg-type]
    created = _object("Job", "run-t-1", "6", {LABEL_EXECUTION: "run"})
    runtime.store.put_created("job", created)

    jobs.handler("ADDED", created)
    assert runtime.controller.queued == []  # type: ignore[attr-defined]
    assert runtime.watch_events == {("job", "echo"): 1}

    started = _object("Job", "run-t-1", "7", {LABEL_EXECUTION: "run"})  # the Job controller's: the attempt's start
    started["status"] = {"startTime": "2026-01-31T12:00:01Z"}
    jobs.handler("MODIFIED", started)
    assert runtime.controller.queued == [("a", "run")]  # type: ignore[attr-defined]
    assert runtime.store.jobs[("a", "run-t-1")]["metadata"]["resourceVersion"] == "7"


def test_a_job_waiting_for_its_pod_queues_a_reconcile_only_once_it_may_read_failed_creates() -> None:
    """Before its pod is seen, the Job controller's updates of a Job created just now change nothing
    a reconcile reads: it reads the FailedCreate Events only after unstarted.GRACE_SECONDS. After
    that each event still queues one, as no watch brings those Events (a quota's refusal)."""
    runtime = Runtime(OperatorSettings())
    runtime.controller = Controller()  # type: ignore[assignment]
    _, jobs, _ = own_watches(runtime, None, ["a"])  # type: ignore[arg-type]

    def waiting(version: str, age: float) -> dict[str, Any]:
        body = _object("Job", "run-t-1", version, {LABEL_EXECUTION: "run"})
        created = datetime.now(UTC) - timedelta(seconds=age)
        body["metadata"]["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        return body

    jobs.handler("ADDED", waiting("6", 0))  # first seen (not our create's echo)
    jobs.handler("MODIFIED", waiting("7", 0))
    assert runtime.controller.queued == [("a", "run")]  # type: ignore[attr-defined]
    assert runtime.watch_events[("job", "unchanged")] == 1

    jobs.handler("MODIFIED", waiting("8", 60))
    assert runtime.controller.queued == [("a", "run"), ("a", "run")]  # type: ignore[attr-defined]
