"""Reading a task attempt from its Job and pod (kube/jobs.py ``observe_job``).

Found by tests/e2e/test_limits.py under load: the Job's Complete condition can reach the operator
before its pod's final status (separate watches). Taking the Job's word then made a task whose
outputs overflow 4 KiB succeed with no outputs at all (and would lose any task's outputs).
"""

from __future__ import annotations

from typing import Any

from overture.api.times import parse_time
from overture.engine import JobPhase
from overture.kube.jobs import observe_job

JOB_COMPLETE = {
    "metadata": {"name": "ex-load-1"},
    "status": {
        "startTime": "2026-01-31T12:00:00Z",
        "completionTime": "2026-01-31T12:00:05Z",
        "conditions": [{"type": "Complete", "status": "True"}],
    },
}


def pod(phase: str, terminated: dict[str, Any] | None = None) -> dict[str, Any]:
    state = {"terminated": terminated} if terminated else {"running": {"startedAt": "2026-01-31T12:00:01Z"}}
    return {
        "metadata": {"name": "ex-load-1-abcde"},
        "status": {"phase": phase, "containerStatuses": [{"name": "task", "state": state}]},
    }


def test_a_complete_job_whose_pod_we_saw_running_waits_for_the_pod() -> None:
    seen = observe_job(JOB_COMPLETE, pod("Running"))
    assert seen.phase == JobPhase.RUNNING


def test_the_pods_final_status_brings_the_outputs() -> None:
    done = {"exitCode": 0, "message": '{"rows": 42}', "finishedAt": "2026-01-31T12:00:04Z"}
    seen = observe_job(JOB_COMPLETE, pod("Succeeded", done))
    assert seen.phase == JobPhase.SUCCEEDED
    assert seen.termination_message == '{"rows": 42}'


def test_a_complete_job_without_a_pod_is_taken_at_its_word() -> None:
    seen = observe_job(JOB_COMPLETE, None)  # the pod was deleted: nothing more will come
    assert seen.phase == JobPhase.SUCCEEDED
    assert seen.end == parse_time("2026-01-31T12:00:05Z")
