"""Which pod the UI reads an attempt's log from (ui/logs.py ``pod_of_job``): its Job's newest pod,
or, in the ``pod`` task runtime, the attempt's own pod under its name; None when it is gone."""

from __future__ import annotations

import asyncio
from typing import Any

from overture.ui.kubeapi import KubeError
from overture.ui.logs import pod_of_job

TASK = {"overture.dev/execution": "ex"}


class Api:
    def __init__(self, listed: list[dict[str, Any]], own: dict[str, Any] | None) -> None:
        self.listed, self.own = listed, own

    async def request(self, method: str, path: str, query: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        if path.endswith("/pods"):
            return {"items": self.listed}
        if self.own is None:
            raise KubeError(404, "not found")
        return self.own


def pod(name: str, labels: dict[str, str], created: str = "2026-01-31T12:00:00Z") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels, "creationTimestamp": created}}


def found(api: Api) -> str | None:
    return asyncio.run(pod_of_job(api, "ns", "ex-t-1"))  # type: ignore[arg-type]


def test_a_jobs_newest_pod() -> None:
    labels = {**TASK, "job-name": "ex-t-1"}
    listed = [pod("ex-t-1-bbbbb", labels, "2026-01-31T12:00:05Z"), pod("ex-t-1-aaaaa", labels)]
    assert found(Api(listed, None)) == "ex-t-1-bbbbb"


def test_the_attempts_own_pod_in_the_pod_runtime() -> None:
    assert found(Api([], pod("ex-t-1", TASK))) == "ex-t-1"


def test_gone_or_not_a_task_pod_is_none() -> None:
    assert found(Api([], None)) is None
    assert found(Api([], pod("ex-t-1", {"app": "web"}))) is None  # a pod of that name that runs no task
