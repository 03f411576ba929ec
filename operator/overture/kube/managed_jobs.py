"""The ``managed-job`` task runtime: a Job per attempt whose pod and status are the operator's.

``OVERTURE_TASK_RUNTIME=managed-job``, the default (chart ``operator.taskRuntime``; docs/DECISIONS.md,
"The default task runtime").
Each attempt is still a Job (``build_job``: same name, labels, owner), with ``spec.managedBy:
overture.dev/operator``: the built-in Job controller skips such a Job (JobManagedBy, on by default
since Kubernetes 1.32), and its seven writes per task go (its pod create, the tracking finalizer
off, three status updates, two Events: benchmarks/README.md, "who writes what per task"). The
operator makes the pod and writes the Job's status once, when the attempt ended
(docs/DECISIONS.md, "The managed-job task runtime"):

- the pod (``job_pod``) is the Job's template under the attempt's name, with the labels the API
  server gives a Job's pods (``kubectl logs job/NAME`` and ``kubectl describe job`` find it), the
  Job as its controlling owner (deleted with it, the Job with its Execution) and the timeout as its
  ``activeDeadlineSeconds``; it is observed as the pod runtime's pod is (``observe_pod``);
- the Job's status (``ended_job_status``) is one merge patch after the attempt ended: start and
  completion times, the count, and the conditions the API server's Job status validation asks
  for (SuccessCriteriaMet with Complete, FailureTarget with Failed: it refuses Complete or Failed
  alone). No write when the pod starts: ``kubectl get jobs`` shows the Job Running 0/1 meanwhile.
  A Job whose pod is gone (deleted by a person, a drain, the pod garbage collector) ends with the
  Execution's record of its attempt instead (``recorded_job_status``): Complete, or Failed with
  PodDeleted, Killed or PodFailed.

A cluster without JobManagedBy drops the field: the create's answer has no ``spec.managedBy``,
the built-in controller runs that Job, and the operator makes no pod (``is_managed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from overture.api import Attempt, State
from overture.api.times import iso, parse_time
from overture.engine import VANISHED, JobObservation, JobPhase
from overture.kube.jobs import cached_job
from overture.kube.pods import POD_DELETED, observe_pod

MANAGED_BY = "overture.dev/operator"  # the Job's spec.managedBy: its controller is this operator
BUILT_IN = "kubernetes.io/job-controller"
# The labels the API server gives a Job's pod template (and so its pods): the Job's selector and name.
UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
ENDED = frozenset({"Complete", "Failed"})


def is_managed(job: Mapping[str, Any]) -> bool:
    """Whether the operator, not the built-in Job controller, runs ``job`` (its ``spec.managedBy``)."""
    return (job.get("spec") or {}).get("managedBy") == MANAGED_BY


def cached_managed_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """What the cache keeps of a managed Job (kube/store.py): ``cached_job``, its status cut to its
    ended conditions' type and status, all ``ended_job_status`` reads of it: the attempt is observed
    from its pod, and nothing reads back the times, counts, reasons and messages the operator
    wrote. A fan-out's 1,000 ended Jobs kept ~0.4 KiB each more (benchmarks/README.md,
    "Operator RSS, session 9")."""
    kept = cached_job(job)
    conditions = kept["status"].get("conditions") or []
    ended = [{"type": c["type"], "status": c.get("status")} for c in conditions if c.get("type") in ENDED]
    kept["status"] = {"conditions": ended} if ended else {}
    return kept


def job_pod(job: Mapping[str, Any], uid: str) -> dict[str, Any]:
    """The pod of a managed Job (``job``: its manifest or the API server's copy; ``uid``: the Job's)."""
    meta = job["metadata"]
    spec = job["spec"]
    labels = dict((spec["template"].get("metadata") or {}).get("labels") or {})
    labels |= dict.fromkeys(UID_LABELS, uid) | dict.fromkeys(NAME_LABELS, meta["name"])
    pod_spec = dict(spec["template"]["spec"])
    if spec.get("activeDeadlineSeconds"):
        pod_spec["activeDeadlineSeconds"] = spec["activeDeadlineSeconds"]  # counted from the kubelet's start
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": uid}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [owner | {"controller": True, "blockOwnerDeletion": True}],
        },
        "spec": pod_spec,
    }


def observe_managed_job(job: Mapping[str, Any], pod: Mapping[str, Any] | None) -> JobObservation | None:
    """What a managed Job's attempt is: its pod's word (``observe_pod``), its log read through its
    Job (``kubectl logs job/NAME``, as in the job runtime); None before its pod is seen (the engine
    asks for the attempt again after ``UNSEEN_JOB_GRACE``, which makes the pod) or once it is gone
    (the engine fails an attempt whose pod was seen and went)."""
    return replace(observe_pod(pod), log_at=None) if pod is not None else None


def ended_job_status(
    job: Mapping[str, Any], pod: Mapping[str, Any] | None, attempt: Attempt | None = None
) -> dict[str, Any] | None:
    """The status a managed Job still needs (a merge patch), or None: not managed, already ended,
    being deleted, or nothing to say yet. Its pod's word while the pod is there; once the pod is
    gone, the Execution's record of the attempt (``attempt``: ``recorded_job_status``)."""
    if not needs_status(job):
        return None
    if pod is None:
        return recorded_job_status(job, attempt) if attempt is not None else None
    seen = observe_pod(pod)
    if seen.phase not in (JobPhase.SUCCEEDED, JobPhase.FAILED):
        return None
    end = seen.end or seen.start
    start = seen.start or end
    if start is None or end is None:
        return None
    if seen.phase == JobPhase.SUCCEEDED:
        return _ended_status(start, end, None, None)
    log_at = f"kubectl logs job/{job['metadata']['name']}"
    message = seen.message or f"the attempt's pod failed (exit code {seen.exit_code}); its log: {log_at}"
    return _ended_status(start, end, seen.reason or "PodFailed", message)


def recorded_job_status(job: Mapping[str, Any], attempt: Attempt) -> dict[str, Any] | None:
    """The status of a managed Job whose pod is gone, from the Execution's record of its attempt
    (None until that attempt ended).

    Without a pod there is nothing else to read, and the Job would show Running 0/1 forever, its
    ``ttlSecondsAfterFinished`` never started: a person deleted the pod (tidying up finished pods,
    or killing a running one), a node was drained, the pod garbage collector took it, or the
    operator was down between the pod's end and the Job's status write. The Job ends with the
    attempt's outcome, as a user of the built-in Job controller expects: Complete if the attempt
    succeeded; else Failed, with the reason ``PodDeleted`` when the pod went before it ended (the
    engine failed the attempt for it: ``engine.VANISHED``; a pod seen while being deleted gives
    the same reason), ``Killed``, or ``PodFailed`` with the attempt's message. Its times are the
    attempt's."""
    if not needs_status(job) or not attempt.state.is_terminal:
        return None
    end = attempt.end_date or attempt.start_date or parse_time(job["metadata"].get("creationTimestamp"))
    start = attempt.start_date or end
    if start is None or end is None:
        return None
    if attempt.state.is_successful:
        return _ended_status(start, end, None, None)
    gone = "its pod is gone: this is the Execution's record of the attempt"
    if attempt.message == VANISHED:
        reason, message = POD_DELETED, f"the attempt's pod was deleted before it ended, so the attempt failed; {gone}"
    elif attempt.state == State.KILLED:
        reason, message = "Killed", f"the attempt was killed ({attempt.message or 'no reason given'}); {gone}"
    else:
        exit_code = f" (exit code {attempt.exit_code})" if attempt.exit_code is not None else ""
        reason, message = "PodFailed", f"the attempt failed{exit_code}: {attempt.message or 'no message'}; {gone}"
    return _ended_status(start, end, reason, message)


def needs_status(job: Mapping[str, Any]) -> bool:
    """Whether ``job`` is a managed Job that has no ended status yet and is not being deleted."""
    if not is_managed(job) or job["metadata"].get("deletionTimestamp"):
        return False
    conditions = (job.get("status") or {}).get("conditions") or []
    return not any(c.get("type") in ENDED and c.get("status") == "True" for c in conditions)


def _ended_status(start: datetime, end: datetime, reason: str | None, message: str | None) -> dict[str, Any]:
    """The one status patch of an ended managed Job: Complete (``reason`` None) or Failed, with the
    conditions the API server's Job status validation asks for with each."""
    at = iso(end)
    status: dict[str, Any] = {"startTime": iso(start)}
    if reason is None:
        reason, message = "CompletionsReached", "Reached expected number of succeeded pods"
        status |= {"completionTime": at, "succeeded": 1, "conditions": _conditions("SuccessCriteriaMet", "Complete")}
    else:
        status |= {"failed": 1, "conditions": _conditions("FailureTarget", "Failed")}
    for condition in status["conditions"]:
        condition |= {"reason": reason, "message": (message or "")[:1000], "lastTransitionTime": at}
    return status


def _conditions(*types: str) -> list[dict[str, Any]]:
    return [{"type": kind, "status": "True"} for kind in types]
