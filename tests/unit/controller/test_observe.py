"""What a reconcile observes: only the Jobs ``step`` can still read (controller/observe.py)."""

from __future__ import annotations

from typing import Any

from overture.api import parse_execution
from overture.controller.observe import observe, readable_jobs
from overture.kube.store import Store

LABEL = "overture.dev/execution"


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
