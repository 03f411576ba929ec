"""Where a task attempt's log comes from.

First the pod, through the API server (live while the container runs, followed as it writes);
when the pod is gone (its Job deleted by retention or by hand), an ``Archive``: ``StoreArchive``
reads the log the in-pod wrapper archived in the artifact store (``OVERTURE_S3_*`` given to
``overture ui``). It is read with the UI server's store keys, and only after the caller's own
token listed the pods of that namespace (``pod_of_job``): the caller's RBAC decides, as for a
live log. Without a store the UI says plainly that the pod is gone and no archive is configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from overture.kube.artifacts import ArtifactStore, attempt_prefix
from overture.ui.kubeapi import KubeError, UserApi, objects_path

LOG_CONTAINER = "task"  # the container name the kube adapter gives every task pod


class Archive(Protocol):
    async def read(self, namespace: str, execution: str, job: str) -> str | None:
        """The archived log of one task attempt (its Job), or None when it has none."""


class NoArchive:
    async def read(self, namespace: str, execution: str, job: str) -> str | None:
        return None


class StoreArchive:
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    async def read(self, namespace: str, execution: str, job: str) -> str | None:
        try:
            data = await self.store.read_bytes(attempt_prefix(namespace, execution, job) + "log")
        except Exception:  # none archived (an attempt from before the store), or the store is down
            return None
        return data.decode("utf-8", "replace")


NO_ARCHIVE_NOTE = "the pod is gone and no log archive is configured, so this log is no longer available"


async def pod_of_job(api: UserApi, namespace: str, job: str) -> str | None:
    pods = await api.request("GET", objects_path("pods", namespace), [("labelSelector", f"job-name={job}")])
    items = sorted(pods.get("items") or [], key=lambda p: p["metadata"].get("creationTimestamp") or "")
    return str(items[-1]["metadata"]["name"]) if items else None


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
