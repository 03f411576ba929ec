"""The ``managed-job`` task runtime's pure parts (kube/managed_jobs.py): the Job the operator
controls, the pod it makes for it, what the attempt is seen as, and the one status the Job gets
when it ended (the terminal conditions the 1.34 API server's Job status validation asks for)."""

from __future__ import annotations

from typing import Any

from test_pods import REQUEST, WHERE  # the pod runtime's attempt: the same request, made a managed Job

from overture.api import Attempt, State, TaskRun
from overture.api.times import parse_time
from overture.controller.job_statuses import recorded_attempts
from overture.controller.observe import observe_task_job
from overture.engine import VANISHED, JobPhase
from overture.kube.jobs import build_job, cached_job
from overture.kube.managed_jobs import (
    MANAGED_BY,
    cached_managed_job,
    ended_job_status,
    is_managed,
    job_pod,
    observe_managed_job,
    recorded_job_status,
)
from overture.kube.store import Store

JOB_LABELS = {
    "batch.kubernetes.io/controller-uid": "job-uid",
    "controller-uid": "job-uid",
    "batch.kubernetes.io/job-name": "ex-load-1",
    "job-name": "ex-load-1",
}


def managed_job(**status: Any) -> dict[str, Any]:
    job = build_job(REQUEST, managed_by=MANAGED_BY, **WHERE)
    job["metadata"]["uid"] = "job-uid"
    job["status"] = status
    return job


def pod(phase: str, terminated: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    containers = [{"name": "task", "state": {"terminated": terminated}}] if terminated else []
    return {
        "metadata": {"name": "ex-load-1", "labels": JOB_LABELS, "creationTimestamp": "2026-12-02T00:00:00Z"},
        "status": {"phase": phase, "startTime": "2026-12-02T00:00:01Z", "containerStatuses": containers, **status},
    }


ENDED_OK = {"exitCode": 0, "startedAt": "2026-12-02T00:00:02Z", "finishedAt": "2026-12-02T00:00:07Z"}
ENDED_BADLY = {**ENDED_OK, "exitCode": 3, "reason": "Error"}


def test_the_managed_job_is_the_jobs_job_with_the_operator_as_its_controller() -> None:
    plain = build_job(REQUEST, **WHERE)
    job = build_job(REQUEST, managed_by=MANAGED_BY, **WHERE)
    assert job["spec"] == {**plain["spec"], "managedBy": "overture.dev/operator"}
    assert job["metadata"] == plain["metadata"]
    assert is_managed(job)
    assert not is_managed(plain)
    assert not is_managed({**job, "spec": {**job["spec"], "managedBy": "kubernetes.io/job-controller"}})


def test_its_pod_is_the_template_under_the_attempts_name_with_the_jobs_labels_owned_by_the_job() -> None:
    job = build_job(REQUEST, managed_by=MANAGED_BY, **WHERE)
    made = job_pod(job, "job-uid")
    assert (made["apiVersion"], made["kind"]) == ("v1", "Pod")
    assert made["metadata"]["name"] == "ex-load-1"
    assert made["metadata"]["labels"] == {**job["spec"]["template"]["metadata"]["labels"], **JOB_LABELS}
    assert made["metadata"]["annotations"] == {"overture.dev/task-run": "load"}
    assert made["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": "ex-load-1",
            "uid": "job-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert made["spec"] == {**job["spec"]["template"]["spec"], "activeDeadlineSeconds": 60}


def test_the_cache_keeps_whose_job_it_is_and_the_attempt_is_seen_from_its_pod() -> None:
    cached = cached_job(managed_job())
    assert cached["spec"] == {"managedBy": MANAGED_BY}
    assert "spec" not in cached_job(build_job(REQUEST, **WHERE))
    # the pod failed past its deadline before its container ended: no Job condition says so
    deadline = pod("Failed", reason="DeadlineExceeded", message="Pod was active on the node longer than specified")
    seen = observe_task_job(cached, deadline)
    assert seen is not None
    assert (seen.phase, seen.reason) == (JobPhase.FAILED, "DeadlineExceeded")
    assert observe_managed_job(cached, None) is None  # no pod seen yet: the engine asks for it again


def test_a_succeeded_pod_gives_its_job_complete_with_success_criteria_met() -> None:
    status = ended_job_status(managed_job(), pod("Succeeded", ENDED_OK))
    condition = {
        "status": "True",
        "reason": "CompletionsReached",
        "message": "Reached expected number of succeeded pods",
        "lastTransitionTime": "2026-12-02T00:00:07Z",
    }
    assert status == {
        "startTime": "2026-12-02T00:00:02Z",
        "completionTime": "2026-12-02T00:00:07Z",
        "succeeded": 1,
        "conditions": [{"type": "SuccessCriteriaMet", **condition}, {"type": "Complete", **condition}],
    }


def test_a_failed_pod_gives_its_job_failed_with_failure_target() -> None:
    status = ended_job_status(managed_job(), pod("Failed", ENDED_BADLY))
    assert status is not None
    assert (status["startTime"], status["failed"]) == ("2026-12-02T00:00:02Z", 1)
    assert "completionTime" not in status
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("FailureTarget", "Error"),
        ("Failed", "Error"),
    ]
    assert "exit code 3" in status["conditions"][0]["message"]
    assert status["conditions"][0]["message"].endswith(f"its log: kubectl logs job/{REQUEST.name}")
    deadline = ended_job_status(managed_job(), pod("Failed", reason="DeadlineExceeded", message="too long"))
    assert deadline is not None
    assert [(c["reason"], c["message"]) for c in deadline["conditions"]] == [("DeadlineExceeded", "too long")] * 2


def test_no_status_to_write_until_the_pod_ended_nor_twice_nor_for_a_job_it_does_not_control() -> None:
    assert ended_job_status(managed_job(), None) is None
    assert ended_job_status(managed_job(), pod("Running")) is None
    assert ended_job_status(managed_job(), pod("Pending")) is None
    done = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert ended_job_status(managed_job(**done), pod("Succeeded", ENDED_OK)) is None
    failed = {"conditions": [{"type": "Failed", "status": "True"}]}
    assert ended_job_status(managed_job(**failed), pod("Failed", ENDED_BADLY)) is None
    assert ended_job_status(build_job(REQUEST, **WHERE), pod("Succeeded", ENDED_OK)) is None
    assert ended_job_status(cached_job(managed_job()), pod("Succeeded", ENDED_OK)) is not None  # from the cache


def test_a_managed_jobs_attempt_points_at_its_log_through_its_job_as_the_job_runtime_does() -> None:
    """The failure message reads "its log: kubectl logs job/NAME" (engine/attempts.py's pointer when
    ``log_at`` is None); the pod runtime's ``kubectl logs pod/NAME`` is for pods without a Job."""
    seen = observe_managed_job(managed_job(), pod("Failed", ENDED_BADLY))
    assert seen is not None
    assert (seen.phase, seen.log_at) == (JobPhase.FAILED, None)


def attempt(state: State, message: str | None = None, exit_code: int | None = None) -> Attempt:
    start, end = parse_time("2026-12-02T00:00:02Z"), parse_time("2026-12-02T00:00:07Z")
    return Attempt(
        attempt=1, job="ex-load-1", state=state, start_date=start, end_date=end, message=message, exit_code=exit_code
    )


def reasons(status: dict[str, Any] | None) -> list[tuple[str, str]]:
    assert status is not None
    return [(c["type"], c["reason"]) for c in status["conditions"]]


def test_a_job_whose_pod_is_gone_ends_as_the_execution_recorded_its_attempt() -> None:
    job = cached_job(managed_job())
    done = ended_job_status(job, None, attempt(State.SUCCESS))
    assert done == ended_job_status(job, pod("Succeeded", ENDED_OK))  # the same status its pod would give
    deleted = recorded_job_status(job, attempt(State.FAILED, VANISHED))
    assert reasons(deleted) == [("FailureTarget", "PodDeleted"), ("Failed", "PodDeleted")]
    assert deleted is not None
    assert deleted["failed"] == 1
    assert deleted["conditions"][0]["message"].startswith("the attempt's pod was deleted before it ended")
    failed = recorded_job_status(job, attempt(State.FAILED, "exited badly", exit_code=3))
    assert reasons(failed) == [("FailureTarget", "PodFailed"), ("Failed", "PodFailed")]
    assert failed is not None
    message = failed["conditions"][1]["message"]
    assert message.startswith("the attempt failed (exit code 3): exited badly; its pod is gone")
    assert reasons(recorded_job_status(job, attempt(State.KILLED, "killed by a person"))) == [
        ("FailureTarget", "Killed"),
        ("Failed", "Killed"),
    ]


def test_a_job_whose_pod_is_gone_gets_nothing_until_its_attempt_ended_nor_twice_nor_while_deleted() -> None:
    job = cached_job(managed_job())
    assert ended_job_status(job, None) is None  # no record at hand
    assert recorded_job_status(job, attempt(State.RUNNING)) is None
    assert recorded_job_status(job, attempt(State.QUEUED)) is None
    ended = cached_job(managed_job(conditions=[{"type": "Failed", "status": "True"}]))
    assert recorded_job_status(ended, attempt(State.FAILED, VANISHED)) is None
    deleting = managed_job()
    deleting["metadata"]["deletionTimestamp"] = "2026-12-02T00:00:09Z"
    assert recorded_job_status(cached_job(deleting), attempt(State.SUCCESS)) is None
    assert recorded_job_status(cached_job(build_job(REQUEST, **WHERE)), attempt(State.SUCCESS)) is None
    # the pod's word first while it is there: it still runs, so nothing yet, whatever the record says
    assert ended_job_status(job, pod("Running"), attempt(State.FAILED, VANISHED)) is None


def test_the_recorded_attempts_are_those_of_the_jobs_asked_for_that_ended() -> None:
    first, second = attempt(State.FAILED, "boom"), attempt(State.RUNNING).model_copy(update={"attempt": 2})
    second = second.model_copy(update={"job": "ex-load-2"})
    runs = [TaskRun(id="load", task_id="load", state=State.RUNNING, attempts=(first, second))]
    assert recorded_attempts(runs, {"ex-load-1", "ex-load-2", "other"}) == {"ex-load-1": first}
    assert recorded_attempts(runs, set()) == {}


def test_the_cache_keeps_of_a_managed_jobs_status_only_its_ended_conditions_and_decides_the_same() -> None:
    """What the operator wrote (times, counts, reasons, messages) is read back by nothing: a
    fan-out's 1,000 ended Jobs kept it all (benchmarks/README.md, "Operator RSS, session 9")."""
    for ended_pod in (pod("Succeeded", ENDED_OK), pod("Failed", ENDED_BADLY)):
        written = ended_job_status(managed_job(), ended_pod)
        assert written is not None
        whole = managed_job(**written)
        store = Store()
        store.put("job", whole)
        cached = store.jobs[("ns", "ex-load-1")]
        assert cached == cached_managed_job(whole)
        ended = [c["type"] for c in written["conditions"] if c["type"] in ("Complete", "Failed")]
        assert cached["status"] == {"conditions": [{"type": ended[0], "status": "True"}]}
        assert cached["spec"] == {"managedBy": MANAGED_BY}
        assert cached["metadata"] == cached_job(whole)["metadata"]
        assert ended_job_status(cached, ended_pod) is ended_job_status(whole, ended_pod) is None
        assert observe_task_job(cached, ended_pod) == observe_task_job(whole, ended_pod)
    running = managed_job()
    assert cached_managed_job(running)["status"] == {}
    assert ended_job_status(cached_managed_job(running), pod("Succeeded", ENDED_OK)) is not None
    plain = {**build_job(REQUEST, **WHERE), "status": {"startTime": "2026-12-02T00:00:02Z", "active": 1}}
    store = Store()
    store.put("job", plain)
    assert store.jobs[("ns", "ex-load-1")]["status"] == plain["status"]  # the built-in controller's: whole
