"""The ``pod`` task runtime: each attempt is a Pod the operator creates itself, with no Job.

``OVERTURE_TASK_RUNTIME=pod`` (chart ``operator.taskRuntime``; the default is ``managed-job``). The
Job controller's share of a task's API writes (creating the pod, its finalizer, the Job's status
updates, its Events) goes, and the ~1 s between a pod's end and its Job's Complete with it
(benchmarks/README.md). What the Job gave for free is decided here and in the controller
(docs/DECISIONS.md, "The pod task runtime"):

- the pod is the attempt's: same spec, labels and name (``<execution>-<task>[-<iteration>]-<attempt>``,
  deterministic: AlreadyExists after a restart is the pod made before it), its Execution its
  controlling owner (deleted with it), ``activeDeadlineSeconds`` its timeout;
- a pod deleted, evicted or lost before it ended fails the attempt with the reason
  (``PodDeleted``, ``Evicted``...), and the task's retry policy applies;
- a pod the API server refuses (403: a quota, Pod Security, a missing ServiceAccount) waits, as a
  Job's FailedCreate does (controller/unstarted.py ``RefusedPods``).

``build_pod`` and ``observe_pod`` are pure, as ``build_job`` and ``observe_job`` are.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from overture.api.times import parse_time
from overture.engine import CreateJob, JobObservation, JobPhase
from overture.kube.artifacts import Signer
from overture.kube.jobs import container_state, job_labels, task_metadata, task_pod_spec, unscheduled
from overture.kube.policy import STRICTEST, TaskPolicy

JOB = "job"
POD = "pod"
MANAGED_JOB = "managed-job"  # a Job per attempt whose pod and status are the operator's (kube/managed_jobs.py)
TASK_RUNTIMES = (JOB, POD, MANAGED_JOB)
# A Job per attempt without the built-in Job controller's writes (docs/DECISIONS.md, "The default task
# runtime"); on a cluster without JobManagedBy its Jobs are run by that controller, as ``job``'s are.
DEFAULT_TASK_RUNTIME = MANAGED_JOB
POD_DELETED = "PodDeleted"


def build_pod(
    request: CreateJob,
    *,
    namespace: str,
    flow: str,
    execution: str,
    execution_uid: str,
    service_account: str | None = None,
    signer: Signer | None = None,
    policy: TaskPolicy = STRICTEST,
) -> dict[str, Any]:
    """The Pod of one attempt: the pod a Job would have made, under the attempt's own name."""
    labels = job_labels(flow, execution, request)
    spec = task_pod_spec(
        request, namespace=namespace, execution=execution, service_account=service_account, signer=signer, policy=policy
    )
    if request.timeout_seconds:
        spec["activeDeadlineSeconds"] = request.timeout_seconds  # counted from the kubelet's start
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": task_metadata(request, namespace, labels, execution, execution_uid),
        "spec": spec,
    }


def observe_pod(pod: Mapping[str, Any]) -> JobObservation:
    """What an attempt's own pod says (no Job): its phase, its task container's end, and why it
    failed when it did not end by itself (deleted, evicted, past its deadline)."""
    meta = pod["metadata"]
    name = meta["name"]
    status = pod.get("status") or {}
    phase = status.get("phase")
    start = parse_time(status.get("startTime")) or parse_time(meta.get("creationTimestamp"))
    log_at = f"kubectl logs pod/{name}"
    terminated, waiting = container_state(pod)
    if phase == "Succeeded" or (phase == "Failed" and terminated is not None):
        ok = phase == "Succeeded"
        ended = terminated or {}
        return JobObservation(
            name=name,
            phase=JobPhase.SUCCEEDED if ok else JobPhase.FAILED,
            pod=name,
            start=parse_time(ended.get("startedAt")) or start,
            end=parse_time(ended.get("finishedAt")),
            exit_code=ended.get("exitCode"),
            termination_message=ended.get("message"),
            # the pod's own reason first: DeadlineExceeded or Evicted says more than the container's "Error"
            reason=None if ok else status.get("reason") or ended.get("reason"),
            log_at=log_at,
        )
    if phase == "Failed":  # ended before its container did (evicted, or its deadline passed while pending)
        return JobObservation(
            name,
            JobPhase.FAILED,
            pod=name,
            start=start,
            reason=status.get("reason") or "PodFailed",
            message=status.get("message"),
            log_at=log_at,
        )
    if meta.get("deletionTimestamp"):
        return JobObservation(
            name,
            JobPhase.FAILED,
            pod=name,
            start=start,
            end=_deletion_started(meta),
            reason=POD_DELETED,
            message="the pod was deleted before it ended (by a person, a node drain or an eviction)",
            log_at=log_at,
        )
    if phase == "Running":
        return JobObservation(name, JobPhase.RUNNING, pod=name, start=start, log_at=log_at)
    why = waiting or unscheduled(pod) or {}
    return JobObservation(
        name, JobPhase.PENDING, pod=name, start=start, reason=why.get("reason"), message=why.get("message")
    )


def _deletion_started(meta: Mapping[str, Any]) -> datetime | None:
    """When the pod's deletion was asked: its deletionTimestamp is that moment plus the grace period."""
    deadline = parse_time(meta.get("deletionTimestamp"))
    if deadline is None:
        return None
    return deadline - timedelta(seconds=int(meta.get("deletionGracePeriodSeconds") or 0))
