"""The ``pod`` task runtime's builder and reader (kube/pods.py): the attempt's own pod, and what
it says as the engine's observation, including what a Job would have said for it (deleted,
evicted, past its deadline)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from overture.api.times import parse_time
from overture.engine import CreateJob, JobPhase
from overture.engine.attempts import failure_message
from overture.kube.jobs import build_job, cached_pod
from overture.kube.pods import POD_DELETED, build_pod, observe_pod
from overture.kube.store import Store, job_of_pod

REQUEST = CreateJob(
    name="ex-load-1",
    task_run="load",
    task_id="load",
    attempt=1,
    image="busybox",
    command=("/bin/sh", "-ec", "true"),
    timeout_seconds=60,
)
WHERE = {"namespace": "ns", "flow": "etl", "execution": "ex", "execution_uid": "u1"}
LABELS = {"overture.dev/execution": "ex", "overture.dev/task": "load", "overture.dev/attempt": "1"}


def test_the_pod_is_the_jobs_pod_under_the_attempts_name_owned_by_the_execution() -> None:
    pod = build_pod(REQUEST, **WHERE)
    job = build_job(REQUEST, **WHERE)
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    assert pod["metadata"] == job["metadata"]  # name, labels, task-run annotation, controlling owner
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Execution"
    assert pod["spec"] == {**job["spec"]["template"]["spec"], "activeDeadlineSeconds": 60}


def test_no_timeout_no_deadline() -> None:
    request = replace(REQUEST, timeout_seconds=None)
    assert "activeDeadlineSeconds" not in build_pod(request, **WHERE)["spec"]


def pod(
    phase: str,
    container: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    **status: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {
            "name": "ex-load-1",
            "labels": LABELS,
            "creationTimestamp": "2026-01-31T12:00:00Z",
            **(meta or {}),
        },
        "status": {"phase": phase, **status},
    }
    if container is not None:
        body["status"]["containerStatuses"] = [{"name": "task", "state": container}]
    return body


DONE = {"terminated": {"exitCode": 0, "message": '{"rows": 42}', "startedAt": "2026-01-31T12:00:01Z",
                       "finishedAt": "2026-01-31T12:00:04Z", "reason": "Completed"}}  # fmt: skip
ERROR = {"terminated": {"exitCode": 3, "finishedAt": "2026-01-31T12:00:04Z", "reason": "Error"}}


@pytest.mark.parametrize(
    ("body", "phase", "reason"),
    [
        (pod("Pending"), JobPhase.PENDING, None),
        (pod("Pending", {"waiting": {"reason": "ImagePullBackOff"}}), JobPhase.PENDING, "ImagePullBackOff"),
        (pod("Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]),
         JobPhase.PENDING, "Unschedulable"),
        (pod("Running", {"running": {}}), JobPhase.RUNNING, None),
        (pod("Succeeded", DONE), JobPhase.SUCCEEDED, None),
        (pod("Failed", ERROR), JobPhase.FAILED, "Error"),
        (pod("Failed", ERROR, reason="DeadlineExceeded"), JobPhase.FAILED, "DeadlineExceeded"),
        (pod("Failed", reason="Evicted", message="The node was low on resource: memory."), JobPhase.FAILED, "Evicted"),
        (pod("Failed"), JobPhase.FAILED, "PodFailed"),
        (pod("Running", {"running": {}}, {"deletionTimestamp": "2026-01-31T12:00:40Z"}), JobPhase.FAILED, POD_DELETED),
        (pod("Pending", None, {"deletionTimestamp": "2026-01-31T12:00:10Z"}), JobPhase.FAILED, POD_DELETED),
        (pod("Succeeded", DONE, {"deletionTimestamp": "2026-01-31T12:00:10Z"}), JobPhase.SUCCEEDED, None),
    ],
)  # fmt: skip
def test_what_a_pod_says(body: dict[str, Any], phase: JobPhase, reason: str | None) -> None:
    seen = observe_pod(cached_pod(body))  # what the store keeps of it is enough
    assert (seen.name, seen.pod, seen.phase, seen.reason) == ("ex-load-1", "ex-load-1", phase, reason)


def test_a_success_brings_its_outputs_and_times() -> None:
    seen = observe_pod(pod("Succeeded", DONE))
    assert seen.termination_message == '{"rows": 42}'
    assert (seen.start, seen.end) == (parse_time("2026-01-31T12:00:01Z"), parse_time("2026-01-31T12:00:04Z"))


def test_a_failure_points_at_the_pods_log() -> None:
    assert (
        failure_message(observe_pod(pod("Failed", ERROR))) == "Error, exit code 3; its log: kubectl logs pod/ex-load-1"
    )


def test_a_deadline_reads_as_a_timeout() -> None:
    message = failure_message(observe_pod(pod("Failed", ERROR, reason="DeadlineExceeded")))
    assert message.startswith("timed out (its activeDeadlineSeconds passed), exit code 3"), message


def test_a_deleted_pod_ended_when_its_deletion_was_asked() -> None:
    meta = {"deletionTimestamp": "2026-01-31T12:00:40Z", "deletionGracePeriodSeconds": 30}
    seen = observe_pod(pod("Running", {"running": {}}, meta))
    assert seen.end == parse_time("2026-01-31T12:00:10Z")
    assert "deleted before it ended" in failure_message(seen)


def test_an_own_pod_is_its_own_attempt_in_the_store() -> None:
    body = pod("Running", {"running": {}})
    assert job_of_pod(body) == "ex-load-1"
    job_pod = {"metadata": {"name": "ex-load-1-x7k2p", "labels": {**LABELS, "job-name": "ex-load-1"}}}
    assert job_of_pod(job_pod) == "ex-load-1"
    store = Store()
    store.put("pod", {**body, "metadata": {**body["metadata"], "namespace": "ns"}})
    found = store.pod_of("ns", "ex-load-1")
    assert found is not None
    assert found["metadata"]["name"] == "ex-load-1"
