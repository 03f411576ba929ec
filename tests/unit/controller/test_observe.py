"""What a reconcile observes: only the Jobs ``step`` can still read (controller/observe.py)."""

from __future__ import annotations

from typing import Any

from overture.api import parse_execution, parse_flow
from overture.controller.observe import job_observation, observe, readable_jobs
from overture.engine import JobPhase
from overture.kube.store import Store

LABEL = "overture.dev/execution"
TASKS = [{"id": "a", "type": "shell", "commands": ["true"]}]


def job(name: str, complete: bool) -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True"}] if complete else []
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": {LABEL: "run-1"}},
        "status": {"conditions": conditions},
    }


def run(run_id: str, *attempts: str) -> dict[str, Any]:
    return {
        "id": run_id,
        "taskId": run_id,
        "state": "FAILED" if attempts[-1] in ("FAILED", "KILLED") else attempts[-1],
        "attempts": [{"attempt": n + 1, "job": f"run-1-{run_id}-{n + 1}", "state": s} for n, s in enumerate(attempts)],
    }


def test_only_the_jobs_of_attempts_not_ended_or_killed_are_observed() -> None:
    runs = [run("done", "SUCCESS"), run("again", "FAILED", "RUNNING"), run("killed", "KILLED"), run("new", "CREATED")]
    execution = parse_execution(
        {
            "metadata": {"name": "run-1", "namespace": "ns"},
            "spec": {"flowRef": {"name": "f"}},
            "status": {"state": "RUNNING", "taskRuns": runs},
        }
    )
    store = Store()
    for name in ("run-1-done-1", "run-1-again-1", "run-1-again-2", "run-1-killed-1", "run-1-new-1"):
        store.put("job", job(name, complete=name.endswith("done-1")))

    observed = observe(store, execution, {})

    assert readable_jobs(execution) == {"run-1-again-2", "run-1-killed-1", "run-1-new-1"}
    assert sorted(observed.jobs) == ["run-1-again-2", "run-1-killed-1", "run-1-new-1"]


def sibling(name: str, state: str | None, created: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "creationTimestamp": created},
        "spec": {"flowRef": {"name": "f"}},
    }
    if state is not None:
        body["status"] = {"state": state}
    return body


def test_running_and_queued_siblings_are_counted_only_under_a_concurrency_limit() -> None:
    store = Store()
    store.put("execution", sibling("a", "RUNNING", "2026-01-31T12:00:00Z"))
    store.put("execution", sibling("b", "QUEUED", "2026-01-31T12:00:01Z"))
    store.put("execution", sibling("c", "QUEUED", "2026-01-31T12:00:03Z"))
    new = parse_execution(sibling("new", None, "2026-01-31T12:00:02Z"))
    limited = parse_flow({"metadata": {"name": "f"}, "spec": {"tasks": TASKS, "concurrency": {"limit": 1}}}).spec
    unlimited = parse_flow({"metadata": {"name": "f"}, "spec": {"tasks": TASKS}}).spec

    counted = observe(store, new, {}, limited)
    assert (counted.active_others, counted.queued_ahead) == (1, 1)  # "c" was created after it
    skipped = observe(store, new, {}, unlimited)  # nothing reads them: the siblings are not scanned
    assert (skipped.active_others, skipped.queued_ahead) == (0, 0)


def test_the_store_indexes_the_queued_executions_of_a_flow() -> None:
    store = Store()
    store.put("execution", sibling("b", "QUEUED", "2026-01-31T12:00:01Z"))
    store.put("execution", sibling("a", "QUEUED", "2026-01-31T12:00:00Z"))
    store.put("execution", sibling("r", "RUNNING", "2026-01-31T12:00:00Z"))
    assert store.queued_executions_of("ns", "f") == ["a", "b"]
    store.put("execution", sibling("a", "RUNNING", "2026-01-31T12:00:00Z"))
    store.put("execution", sibling("b", "QUEUED", "2026-01-31T12:00:01Z"), deleted=True)
    assert store.queued_executions_of("ns", "f") == []


def pod(name: str, job_name: str, phase: str, node: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {LABEL: "run-1", "job-name": job_name},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {},
        "status": {"phase": phase},
    }
    if node:
        body["spec"]["nodeName"] = node
    return body


def test_a_job_observation_ignores_what_no_reconcile_reads() -> None:
    """A pod scheduled on a node, a finalizer removed: the same observation, so no reconcile is queued."""
    store = Store()
    assert job_observation(store, "ns", "run-1-a-1") is None  # not cached
    store.put("job", job("run-1-a-1", complete=False))
    waiting = job_observation(store, "ns", "run-1-a-1")  # waiting for a pod: compared like the rest
    assert waiting is not None
    assert (waiting.phase, waiting.pod) == (JobPhase.PENDING, None)
    store.put("job", {**job("run-1-a-1", complete=False), "spec": {"parallelism": 1}})  # nothing it reads
    assert job_observation(store, "ns", "run-1-a-1") == waiting
    store.put("pod", pod("run-1-a-1-x", "run-1-a-1", "Pending"))
    first = job_observation(store, "ns", "run-1-a-1")
    assert first is not None
    assert first.pod == "run-1-a-1-x"
    store.put("pod", pod("run-1-a-1-x", "run-1-a-1", "Pending", node="node-1"))
    assert job_observation(store, "ns", "run-1-a-1") == first
    store.put("pod", pod("run-1-a-1-x", "run-1-a-1", "Running", node="node-1"))
    assert job_observation(store, "ns", "run-1-a-1") != first
