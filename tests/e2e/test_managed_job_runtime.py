"""The ``managed-job`` task runtime end to end (OVERTURE_TASK_RUNTIME=managed-job,
kube/managed_jobs.py): the session operator is restarted with it for this module. Each attempt is
a Job whose ``spec.managedBy`` is the operator: the built-in Job controller leaves it alone, the
operator makes its pod (owned by the Job, with the Job's labels) and writes its status once it
ended. Checked here: outputs and logs through the Job, a failure and a retry, a timeout, a kill,
``kubectl get jobs``' Complete and Failed, a pod that vanished under a running task (its Job ends
Failed, PodDeleted), and a restart between an attempt's end and its Job's status write (caught up
when the operator starts)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from harness import Cluster, OperatorProcess, kubectl_path, poll
from test_pod_runtime import LONG, flow, run_etl, runs_of

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]

MANAGED_BY = "overture.dev/operator"


@pytest.fixture(scope="module", autouse=True)
def managed_job_runtime(operator_process: OperatorProcess) -> Iterator[None]:
    """The session operator, restarted with the managed-job runtime for this module, then as it was."""
    with operator_process.restarted_with({"OVERTURE_TASK_RUNTIME": "managed-job"}):
        yield


def ended(cluster: Cluster, job: str) -> str | None:
    """The Job's terminal condition, as ``kubectl get jobs`` shows it (Complete, Failed), or None."""
    conditions = cluster.batch.read_namespaced_job_status(job, cluster.namespace).status.conditions or []
    done = [c.type for c in conditions if c.type in ("Complete", "Failed") and c.status == "True"]
    return done[0] if done else None


def kubectl(kubeconfig: str, namespace: str, *args: str) -> str:
    command = [kubectl_path(), "--kubeconfig", kubeconfig, "-n", namespace, *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_each_attempt_is_a_job_the_operator_runs_and_ends_complete(cluster: Cluster, kubeconfig: str) -> None:
    name, runs = run_etl(cluster)
    jobs = {job.metadata.name: job for job in cluster.jobs(name)}
    attempts = [runs[t]["attempts"][0]["job"] for t in ("extract", "transform", "load")]
    assert sorted(jobs) == sorted(attempts)
    assert all(job.spec.managed_by == MANAGED_BY for job in jobs.values())
    for job in attempts:
        pod = cluster.core.read_namespaced_pod(job, cluster.namespace)  # the attempt's name
        owner = pod.metadata.owner_references[0]
        assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Job", job, jobs[job].metadata.uid, True)
        assert pod.metadata.labels["batch.kubernetes.io/controller-uid"] == jobs[job].metadata.uid
    poll(lambda: all(ended(cluster, job) == "Complete" for job in attempts), 60, "every Job Complete")
    status = cluster.batch.read_namespaced_job_status(attempts[2], cluster.namespace).status
    assert (status.succeeded, status.start_time is not None, status.completion_time is not None) == (1, True, True)
    table = kubectl(kubeconfig, cluster.namespace, "get", "job", attempts[2])
    assert "Complete" in table and "1/1" in table, table
    # the Job's selector finds its pod: kubectl logs job/NAME, as with the built-in controller
    assert "loading 84 rows" in kubectl(kubeconfig, cluster.namespace, "logs", f"job/{attempts[2]}", "-c", "task")
    events = [e.reason for e in cluster.core.list_namespaced_event(cluster.namespace).items]
    assert "SuccessfulCreate" not in events and "Completed" not in events  # the Job controller did nothing


def test_a_failed_attempt_ends_its_job_failed_and_is_retried_in_a_new_job(cluster: Cluster) -> None:
    cluster.apply_flow(
        flow(
            "retries",
            "{id: flaky, type: shell, commands: ['test {{ taskrun.attempt }} -ge 2'], "
            "retry: {maxAttempts: 2, interval: 1s}}",
        )
    )
    name = cluster.run("retries")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    attempts = runs_of(execution)["flaky"]["attempts"]
    assert execution["status"]["state"] == "SUCCESS"
    assert [a["state"] for a in attempts] == ["FAILED", "SUCCESS"]
    first, second = (a["job"] for a in attempts)
    poll(lambda: (ended(cluster, first), ended(cluster, second)) == ("Failed", "Complete"), 60, "Failed, Complete")
    failed = cluster.batch.read_namespaced_job_status(first, cluster.namespace).status
    assert failed.failed == 1
    reasons = {c.type: c.reason for c in failed.conditions}
    assert reasons == {"FailureTarget": "Error", "Failed": "Error"}


def test_a_timeout_fails_the_attempt_and_a_kill_deletes_the_job_and_its_pod(cluster: Cluster) -> None:
    cluster.apply_flow(flow("slow", "{id: slow, type: shell, commands: ['sleep 300'], timeout: 5s}"))
    cluster.apply_flow(flow("long", LONG))
    slow, long = cluster.run("slow"), cluster.run("long")
    poll(lambda: runs_of(cluster.get("executions", long)).get("long", {}).get("state") == "RUNNING", 60, "long runs")
    job = runs_of(cluster.get("executions", long))["long"]["attempts"][0]["job"]
    cluster.patch_spec(long, {"kill": True})
    assert runs_of(cluster.wait_state(long, {"KILLED"}, timeout=60))["long"]["state"] == "KILLED"
    poll(lambda: not cluster.jobs(long), 60, "the Job deleted")
    selector = f"job-name={job}"
    poll(lambda: not cluster.core.list_namespaced_pod(cluster.namespace, label_selector=selector).items, 90, "its pod")
    timed_out = runs_of(cluster.wait_state(slow, {"SUCCESS", "FAILED"}, timeout=120))["slow"]
    assert "timed out" in timed_out["message"], timed_out


def test_a_pod_that_vanished_under_a_running_task_fails_its_attempt_and_ends_its_job_failed(
    cluster: Cluster, kubeconfig: str, operator_process: OperatorProcess
) -> None:
    """The pod goes while the operator is down (force-deleted, as ``kubectl delete pod --force``, a
    drain or the pod garbage collector may): the operator never sees it end, nor being deleted,
    only gone. The attempt fails, and its Job ends Failed from that record, PodDeleted, instead of
    showing Running 0/1 forever (its ttlSecondsAfterFinished never started)."""
    cluster.apply_flow(flow("vanishing", "{id: long, type: shell, commands: ['sleep 300']}"))
    name = cluster.run("vanishing")

    def recorded_pod() -> str | None:
        attempts = (runs_of(cluster.get("executions", name)).get("long") or {}).get("attempts") or []
        return attempts[0].get("pod") if attempts else None

    poll(recorded_pod, 90, "the attempt's pod seen")
    job = runs_of(cluster.get("executions", name))["long"]["attempts"][0]["job"]
    operator_process.stop()
    try:
        cluster.core.delete_namespaced_pod(job, cluster.namespace, grace_period_seconds=0)
        gone = f"job-name={job}"
        poll(lambda: not cluster.core.list_namespaced_pod(cluster.namespace, label_selector=gone).items, 60, "pod gone")
        assert ended(cluster, job) is None
    finally:
        operator_process.start()
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=60)
    [attempt] = runs_of(execution)["long"]["attempts"]
    assert (attempt["state"], attempt["message"]) == ("FAILED", "its Job or pod was deleted before it ended")
    poll(lambda: ended(cluster, job) == "Failed", 60, "the Job Failed")
    status = cluster.batch.read_namespaced_job_status(job, cluster.namespace).status
    assert {c.type: c.reason for c in status.conditions} == {"FailureTarget": "PodDeleted", "Failed": "PodDeleted"}
    assert status.failed == 1
    assert "deleted before it ended" in status.conditions[0].message
    table = kubectl(kubeconfig, cluster.namespace, "get", "job", job)
    assert "Failed" in table and "0/1" in table, table


def test_a_job_whose_pod_ended_while_the_operator_was_down_gets_its_status_when_it_starts(
    cluster: Cluster, operator_process: OperatorProcess
) -> None:
    """The restart between an attempt's end and its Job's status write: an ended execution's
    reconcile reads none of its Jobs, so the operator catches up when it starts."""
    job_name = "caught-up-1"
    labels = {"overture.dev/execution": "caught-up", "overture.dev/task": "t", "overture.dev/attempt": "1"}
    pod_spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [{"name": "task", "image": "busybox:1.36", "command": ["true"]}],
    }
    operator_process.stop()
    try:
        job = cluster.batch.create_namespaced_job(
            cluster.namespace,
            {
                "metadata": {"name": job_name, "labels": labels},
                "spec": {
                    "managedBy": MANAGED_BY,
                    "backoffLimit": 0,
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
        )
        pod_labels = {**labels, "job-name": job_name, "batch.kubernetes.io/job-name": job_name}
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": job.metadata.uid, "controller": True}
        cluster.core.create_namespaced_pod(
            cluster.namespace,
            {
                "metadata": {"name": job_name, "labels": pod_labels, "ownerReferences": [owner]},
                "spec": pod_spec,
            },
        )

        def pod_succeeded() -> bool:
            return cluster.core.read_namespaced_pod(job_name, cluster.namespace).status.phase == "Succeeded"

        poll(pod_succeeded, 90, "the pod ended")
        assert ended(cluster, job_name) is None  # nobody wrote it: the Job controller leaves it alone
    finally:
        operator_process.start()
    poll(lambda: ended(cluster, job_name) == "Complete", 60, "the Job Complete once the operator started")
