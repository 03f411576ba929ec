"""Job manifests for task attempts, and Job/Pod objects read back as observations.

The pod spec (``task_pod_spec``) and metadata (``task_metadata``) are the same in both task
runtimes; kube/pods.py makes an attempt's pod without a Job (``OVERTURE_TASK_RUNTIME=pod``).

``build_job`` and ``observe_job`` are pure (dicts in, dicts out) and golden-tested; the client
module does the talking. Outputs travel in the container's termination message: the task writes
/overture/outputs.json, which is ``terminationMessagePath``. The policy is ``File``, never
``FallbackToLogsOnError``: the last log lines of a failed task (its secrets as it printed them)
would otherwise land in the pod's status, then in the Execution's, where people who may not
read the log read them (issue 14). With an artifact store, an init container copies the
in-pod wrapper (wrapper/) into the pod and the command runs under it (kube/artifacts.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from overture.api import (
    GROUP_VERSION,
    LABEL_ATTEMPT,
    LABEL_EXECUTION,
    LABEL_FLOW,
    LABEL_ITERATION,
    LABEL_TASK,
)
from overture.api.common import object_name_part
from overture.api.times import parse_time
from overture.engine import OUTPUTS_PATH, CreateJob, JobObservation, JobPhase
from overture.kube.artifacts import SPEC_ENV, WRAPPER_PATH, ArtifactError, Signer, attempt_prefix, wrapper_spec
from overture.kube.policy import STRICTEST, PolicyError, TaskPolicy, pod_security, problem
from overture.templating import kubelet_escaped

ANNOTATION_TASK_RUN = "overture.dev/task-run"
CONTAINER = "task"
DEFAULT_TTL_SECONDS = 86400
# Linux's MAX_ARG_STRLEN: the longest single argument or "NAME=value" environment string (its NUL
# counted) that execve takes; past it the container cannot start ("argument list too long").
MAX_EXEC_STRING = 131072
# A label value's longest: a task's execution label is the execution's name cut to it, so a
# label this long may stand for a longer name.
LABEL_VALUE_MAX = 63


class ExecLimitError(ValueError):
    """A task whose command line or environment no Linux node could start."""


def job_labels(flow: str, execution: str, request: CreateJob) -> dict[str, str]:
    labels = {
        LABEL_FLOW: flow,
        LABEL_EXECUTION: execution[:LABEL_VALUE_MAX],
        LABEL_TASK: object_name_part(request.task_id),
        LABEL_ATTEMPT: str(request.attempt),
    }
    if request.iteration:
        labels[LABEL_ITERATION] = request.iteration.strip("[]").replace("][", "-")
    return labels


def build_job(
    request: CreateJob,
    *,
    namespace: str,
    flow: str,
    execution: str,
    execution_uid: str,
    service_account: str | None = None,
    ttl_seconds: int | None = DEFAULT_TTL_SECONDS,
    signer: Signer | None = None,
    policy: TaskPolicy = STRICTEST,
    managed_by: str | None = None,
) -> dict[str, Any]:
    """The Job of one attempt: its pod is ``task_pod_spec``'s. ``managed_by`` (``spec.managedBy``,
    the ``managed-job`` runtime, kube/managed_jobs.py): the controller that makes its pod and
    writes its status instead of the built-in Job controller."""
    labels = job_labels(flow, execution, request)
    pod_spec = task_pod_spec(
        request, namespace=namespace, execution=execution, service_account=service_account, signer=signer, policy=policy
    )
    spec: dict[str, Any] = {
        "backoffLimit": 0,  # retries are the engine's: every attempt is its own, visible Job
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if request.timeout_seconds:
        spec["activeDeadlineSeconds"] = request.timeout_seconds
    if ttl_seconds is not None:
        spec["ttlSecondsAfterFinished"] = ttl_seconds
    if managed_by is not None:
        spec["managedBy"] = managed_by
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": task_metadata(request, namespace, labels, execution, execution_uid),
        "spec": spec,
    }


def task_metadata(
    request: CreateJob, namespace: str, labels: dict[str, str], execution: str, execution_uid: str
) -> dict[str, Any]:
    """The metadata of an attempt's Job or pod: its deterministic name, labels, and its Execution
    as controlling owner (deleted with it)."""
    return {
        "name": request.name,
        "namespace": namespace,
        "labels": labels,
        "annotations": {ANNOTATION_TASK_RUN: request.task_run},
        "ownerReferences": [
            {
                "apiVersion": GROUP_VERSION,
                "kind": "Execution",
                "name": execution,
                "uid": execution_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def task_pod_spec(
    request: CreateJob,
    *,
    namespace: str,
    execution: str,
    service_account: str | None = None,
    signer: Signer | None = None,
    policy: TaskPolicy = STRICTEST,
) -> dict[str, Any]:
    """The pod spec of one attempt. With an artifact store (``signer``) its command runs under the
    wrapper (a task without a command runs as it is: its image's entrypoint is not known); raises
    ArtifactError when the task's files cannot be set up. Its pod is as restricted as ``policy``
    lets it be, and gets a ServiceAccount token only when the flow names an account, one the
    policy allows (else PolicyError)."""
    not_allowed = problem(policy, namespace, service_account)
    if not_allowed is not None:
        raise PolicyError(not_allowed)
    mount = {"name": "overture", "mountPath": "/overture"}
    pod_context, container_context = pod_security(policy)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": request.image,
        "imagePullPolicy": request.image_pull_policy or "IfNotPresent",
        "terminationMessagePath": OUTPUTS_PATH,
        "terminationMessagePolicy": "File",
        "securityContext": container_context,
        "volumeMounts": [mount],
    }
    if request.command:
        container["command"] = list(request.command)
    if request.args:
        container["args"] = list(request.args)
    env = [_env(e.name, e.value, e.secret_name, e.secret_key) for e in request.env]
    if request.resources:
        container["resources"] = {k: dict(v) for k, v in request.resources.items()}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": pod_context,
        "containers": [container],
        "volumes": [{"name": "overture", "emptyDir": {}}],
    }
    if request.uses_store and signer is None:
        raise ArtifactError(
            "inputFiles, outputFiles and outputsFrom need an artifact store: the operator has no OVERTURE_S3_ENDPOINT"
        )
    if signer is not None and request.command:
        plan = wrapper_spec(
            signer,
            namespace,
            attempt_prefix(namespace, execution, request.name),
            request.input_files,
            request.output_files,
            request.outputs_from,
        )
        pod_spec["initContainers"] = [
            {
                "name": "overture-wrapper",
                "image": signer.settings.wrapper_image,
                "imagePullPolicy": "IfNotPresent",
                "args": ["install", WRAPPER_PATH],
                "securityContext": container_context,
                "volumeMounts": [mount],
            }
        ]
        container["command"] = [WRAPPER_PATH, "run", "--", *request.command]
        # the wrapper's manifest goes to the default path; the task still writes /overture/outputs.json
        container["terminationMessagePath"] = "/dev/termination-log"
        # an env value: the kubelet would expand $(VAR) in a file's text or a URL
        env.append({"name": SPEC_ENV, "value": kubelet_escaped(json.dumps(plan, separators=(",", ":")))})
    if env:
        container["env"] = env
    too_long = exec_limit_problem(container)
    if too_long is not None:
        raise ExecLimitError(too_long)
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    else:  # the namespace's default account: tasks have no use for its token
        pod_spec["automountServiceAccountToken"] = False
    return pod_spec


def exec_limit_problem(container: Mapping[str, Any]) -> str | None:
    """Why ``container`` could not start on a Linux node (one string over ``MAX_EXEC_STRING``), or None.

    Refused when the attempt is built rather than left to fail in the pod with the kubelet's
    "exec ...: argument list too long", which names neither the field nor the fix.
    """
    for arg in [*container.get("command", ()), *container.get("args", ())]:
        size = len(arg.encode()) + 1
        if size > MAX_EXEC_STRING:
            return (
                f"the task's command line has a {size // 1024} KiB argument (its commands or script): Linux starts "
                f"no program with one argument over {MAX_EXEC_STRING // 1024} KiB; put the script in a file the task "
                "reads (inputFiles, a ConfigMap volume or its image) and run that file"
            )
    for entry in container.get("env", ()):
        size = len(f"{entry['name']}={entry.get('value') or ''}".encode()) + 1
        if size > MAX_EXEC_STRING:
            return (
                f"env {entry['name']}: its value is {size // 1024} KiB; Linux starts no program with one environment "
                f"value over {MAX_EXEC_STRING // 1024} KiB; pass it as a file (inputFiles) instead"
            )
    return None


def _env(name: str, value: str | None, secret: str | None, key: str | None) -> dict[str, Any]:
    if secret is not None:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
    return {"name": name, "value": value or ""}


def observe_job(job: Mapping[str, Any], pod: Mapping[str, Any] | None) -> JobObservation:
    """What a task attempt's Job and its pod say. The pod is read first: it knows sooner."""
    name = job["metadata"]["name"]
    status = job.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    pod_name = pod["metadata"]["name"] if pod else None
    start = parse_time(status.get("startTime"))
    terminated, waiting = container_state(pod)
    pod_phase = (pod or {}).get("status", {}).get("phase")
    if terminated is not None and pod_phase in ("Succeeded", "Failed"):
        ok = pod_phase == "Succeeded"
        return JobObservation(
            name=name,
            phase=JobPhase.SUCCEEDED if ok else JobPhase.FAILED,
            pod=pod_name,
            start=parse_time(terminated.get("startedAt")) or start,
            end=parse_time(terminated.get("finishedAt")),
            exit_code=terminated.get("exitCode"),
            termination_message=terminated.get("message"),
            reason=None if ok else terminated.get("reason"),
        )
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        if pod is not None and pod_phase not in ("Succeeded", "Failed"):
            # Our copy of the pod is older than the Job's (pods and Jobs come by separate watches, and
            # under load the pods' lags): its outputs are in the pod's next update, which is coming.
            # Taking the Job's word now would pass on no outputs at all, or miss a 4 KiB overflow.
            return JobObservation(name, JobPhase.RUNNING, pod=pod_name, start=start)
        end = parse_time(status.get("completionTime"))
        return JobObservation(name, JobPhase.SUCCEEDED, pod=pod_name, start=start, end=end)
    failed = conditions.get("Failed") or conditions.get("FailureTarget")
    if failed is not None:
        return JobObservation(
            name,
            JobPhase.FAILED,
            pod=pod_name,
            start=start,
            end=parse_time(failed.get("lastTransitionTime")),
            reason=failed.get("reason"),
            message=failed.get("message"),
        )
    if pod_phase == "Running":
        return JobObservation(name, JobPhase.RUNNING, pod=pod_name, start=start)
    why = waiting or unscheduled(pod) or {}
    return JobObservation(
        name, JobPhase.PENDING, pod=pod_name, start=start, reason=why.get("reason"), message=why.get("message")
    )


def unscheduled(pod: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The scheduler's reason a pod has no node yet (Unschedulable: resources, taints, quota of nodes)."""
    for condition in ((pod or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return {"reason": condition.get("reason"), "message": condition.get("message")}
    return None


def container_state(pod: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if not pod:
        return None, None
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            state = status.get("state") or {}
            return state.get("terminated"), state.get("waiting")
    return None, None


# What the operator keeps of a task's Job and pod (kube/store.py): what ``observe_job``, the store's
# indexes and ``controller/unstarted.py`` read. A pod's spec (containers, volumes, tolerations, the
# wrapper's plan in an env value) and the Job's copy of it are most of their bytes, read by nothing.
KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
)


def cached_job(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a Job the operator reads: its name, labels, creation, status and, when it has
    one, its ``spec.managedBy`` (the ``managed-job`` runtime: whose pod and status it is)."""
    kept: dict[str, Any] = {"metadata": _kept_metadata(body), "status": body.get("status") or {}}
    managed_by = (body.get("spec") or {}).get("managedBy")
    if managed_by is not None:
        kept["spec"] = {"managedBy": managed_by}
    return kept


def cached_pod(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a task's pod the operator reads: its name, labels, creation, phase, conditions
    (why it is unscheduled), the task container's state, and (a pod of the ``pod`` task runtime,
    kube/pods.py) its start and why it failed (DeadlineExceeded, Evicted)."""
    status = body.get("status") or {}
    kept: dict[str, Any] = {
        k: status[k] for k in ("phase", "conditions", "startTime", "reason", "message") if k in status
    }
    containers = [c for c in status.get("containerStatuses") or [] if c.get("name") == CONTAINER]
    if containers:
        kept["containerStatuses"] = containers
    return {"metadata": _kept_metadata(body), "status": kept}


def _kept_metadata(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    return {k: meta[k] for k in KEPT_METADATA if k in meta}
