"""The cache keeps of a task's Job and pod only what the operator reads (``kube/jobs.cached_job``,
``cached_pod``): the same observation from much less (the pod's spec, the Job's pod template and
the wrapper container's status are dropped)."""

from __future__ import annotations

import json
from typing import Any

from overture.api import LABEL_EXECUTION
from overture.kube.jobs import CONTAINER, observe_job
from overture.kube.store import Store

LABELS = {LABEL_EXECUTION: "run-1", "batch.kubernetes.io/job-name": "run-1-a-1", "job-name": "run-1-a-1"}
META = {"namespace": "ns", "uid": "u", "resourceVersion": "7", "creationTimestamp": "2026-01-31T12:00:00Z"}
SPEC = {
    "containers": [{"name": CONTAINER, "image": "busybox", "env": [{"name": "X", "value": "y" * 2000}]}],
    "tolerations": [{"key": "k", "operator": "Exists"}],
}
TERMINATED = {"exitCode": 0, "startedAt": "2026-01-31T12:00:01Z", "finishedAt": "2026-01-31T12:00:02Z"}


def job(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {**META, "name": "run-1-a-1", "labels": LABELS, "managedFields": [{"manager": "x"}]},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": LABELS}, "spec": SPEC}},
        "status": {"startTime": "2026-01-31T12:00:00Z", "conditions": conditions},
    }


def pod(phase: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**META, "name": "run-1-a-1-x7k2p", "labels": LABELS, "ownerReferences": [{"kind": "Job"}]},
        "spec": SPEC,
        "status": {
            "phase": phase,
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "initContainerStatuses": [{"name": "overture-wrapper", "state": {"terminated": {"exitCode": 0}}}],
            "containerStatuses": [
                {"name": "sidecar", "state": {"running": {}}},
                {"name": CONTAINER, "state": {"terminated": TERMINATED}, "image": "busybox"},
            ],
        },
    }


def test_a_cached_job_and_pod_observe_the_same_as_the_whole_objects() -> None:
    store = Store()
    for phase, conditions in (("Running", []), ("Succeeded", [{"type": "Complete", "status": "True"}])):
        whole_job, whole_pod = job(conditions), pod(phase)
        store.put("job", whole_job)
        store.put("pod", whole_pod)
        cached_job, cached_pod = store.jobs_of("ns", "run-1")[0], store.pod_of("ns", "run-1-a-1")
        assert cached_pod is not None
        assert observe_job(cached_job, cached_pod) == observe_job(whole_job, whole_pod)


def test_the_cache_drops_what_nothing_reads() -> None:
    store = Store()
    store.put("job", job([]))
    store.put("pod", pod("Running"))
    cached_job, cached_pod = store.jobs[("ns", "run-1-a-1")], store.pods[("ns", "run-1-a-1-x7k2p")]
    assert "spec" not in cached_job
    assert "spec" not in cached_pod
    assert [c["name"] for c in cached_pod["status"]["containerStatuses"]] == [CONTAINER]
    assert len(json.dumps(cached_pod)) < len(json.dumps(pod("Running"))) / 5


def test_a_deleted_pod_leaves_the_index() -> None:
    store = Store()
    store.put("pod", pod("Running"))
    store.put("pod", pod("Running"), deleted=True)
    assert store.pod_of("ns", "run-1-a-1") is None
