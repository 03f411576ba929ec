"""Where a task attempt's log comes from.

First the pod, through the API server (live while the container runs, followed as it writes);
when the pod is gone (its Job deleted by retention or by hand), the log the in-pod wrapper
archived in the artifact store (``store.UiStore``), read only after the caller's own token listed
the pods of that namespace (``pod_of_job``): the caller's RBAC decides, as for a live log.
Without a store, or without an archived log, the UI says plainly that the pod is gone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from overture.api import attempt_of_pod
from overture.kube.artifacts import attempt_prefix
from overture.ui.kubeapi import KubeError, UserApi, objects_path
from overture.ui.store import UiStore

LOG_CONTAINER = "task"  # the container name the kube adapter gives every task pod


async def archived_log(store: UiStore, namespace: str, execution: str, job: str) -> str | None:
    """The archived log of one task attempt (its Job), or None when there is none."""
    return await store.read_log(attempt_prefix(namespace, execution, job) + "log")


def gone_note(store: UiStore) -> str:
    if not store.configured:
        return "the pod is gone and no log archive is configured, so this log is no longer available"
    return "the pod is gone and the artifact store has no log of this attempt (or did not answer)"


async def pod_of_job(api: UserApi, namespace: str, job: str) -> str | None:
    """The pod of attempt ``job``: its Job's newest, or (the ``pod`` task runtime) its own."""
    pods = await api.request("GET", objects_path("pods", namespace), [("labelSelector", f"job-name={job}")])
    items = sorted(pods.get("items") or [], key=lambda p: p["metadata"].get("creationTimestamp") or "")
    if items:
        return str(items[-1]["metadata"]["name"])
    try:  # the pod task runtime: the attempt's own pod, under its name
        own = await api.request("GET", objects_path("pods", namespace, job))
    except KubeError:
        return None  # gone (or not the caller's to get, who may list): the archived log, if any
    return job if attempt_of_pod(own.get("metadata") or {}) == job else None


async def follow_log(api: UserApi, namespace: str, pod: str) -> AsyncIterator[str]:
    """Lines of the task container's log as they are written, until it ends."""
    query = [("container", LOG_CONTAINER), ("follow", "true"), ("timestamps", "false")]
    pending = b""
    async for chunk in api.lines(f"{objects_path('pods', namespace, pod)}/log", query, timeout=3600):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


async def read_log(api: UserApi, namespace: str, pod: str) -> str:
    return await api.text(f"{objects_path('pods', namespace, pod)}/log", [("container", LOG_CONTAINER)])


def is_gone(exc: KubeError) -> bool:
    return exc.status == 404
