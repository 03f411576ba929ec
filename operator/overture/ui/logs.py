"""Where a task attempt's log comes from.

First the pod, through the API server (live while the container runs, followed as it writes);
when the pod is gone (its Job deleted by retention or by hand), an ``Archive``. No archive exists
yet: keeping logs after their pod is the data-plane work (artifact store, log shipping), which
plugs in here by implementing ``Archive.read`` and being passed to ``create_app``. Until then the
UI says plainly that the pod is gone and that no archive is configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from overture.ui.kubeapi import KubeError, UserApi, objects_path

LOG_CONTAINER = "task"  # the container name the kube adapter gives every task pod


class Archive(Protocol):
    async def read(self, namespace: str, execution: str, job: str) -> str | None:
        """The archived log of one task attempt (its Job), or None when it has none."""


class NoArchive:
    async def read(self, namespace: str, execution: str, job: str) -> str | None:
        return None


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
