"""The ``job`` task runtime end to end (OVERTURE_TASK_RUNTIME=job): each attempt is a Job the
built-in Job controller runs. It was the default until session 8 (now ``managed-job``: the rest of
the e2e suite runs that), and stays for clusters and tools that drive Jobs through the built-in
controller, so this module keeps its own paths covered: the Job controller makes the pod, the
attempt is read from the Job's conditions, and a pod a quota refuses waits with the Job
controller's FailedCreate Event (controller/unstarted.py ``CreationFailures``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import Cluster, OperatorProcess, poll
from test_pod_runtime import refused_then_run, run_etl

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]


@pytest.fixture(scope="module", autouse=True)
def job_runtime(operator_process: OperatorProcess) -> Iterator[None]:
    """The session operator, restarted with the job runtime for this module, then as it was."""
    with operator_process.restarted_with({"OVERTURE_TASK_RUNTIME": "job"}):
        yield


def test_each_attempt_is_a_job_whose_pod_the_job_controller_makes(cluster: Cluster) -> None:
    name, runs = run_etl(cluster)
    jobs = {job.metadata.name: job for job in cluster.jobs(name)}
    attempts = [runs[t]["attempts"][0] for t in ("extract", "transform", "load")]
    assert sorted(jobs) == sorted(a["job"] for a in attempts)
    assert all(job.spec.managed_by in (None, "kubernetes.io/job-controller") for job in jobs.values())
    for attempt in attempts:
        # the Job controller names its pod after the Job, with a suffix of its own
        assert attempt["pod"] != attempt["job"] and attempt["pod"].startswith(f"{attempt['job']}-"), attempt
        pod = cluster.core.read_namespaced_pod(attempt["pod"], cluster.namespace)
        owner = pod.metadata.owner_references[0]
        assert (owner.kind, owner.name) == ("Job", attempt["job"])
    poll(
        lambda: all(any(c.type == "Complete" for c in (job.status.conditions or [])) for job in cluster.jobs(name)),
        60,
        "every Job Complete",
    )
    reasons = {e.reason for e in cluster.events(attempts[0]["job"])}
    assert "SuccessfulCreate" in reasons, reasons  # the Job controller's own Event: it made the pod


def test_a_pod_refused_by_a_quota_waits_on_the_job_controllers_failed_create(cluster: Cluster) -> None:
    name = refused_then_run(cluster, "quota-jobs")
    [job] = cluster.jobs(name)
    reasons = {e.reason for e in cluster.events(job.metadata.name)}
    assert "FailedCreate" in reasons, reasons  # the refusal came from the Job controller's Event
