"""The managed Jobs' ended status in the background (controller/job_statuses.py): a fan-out's
many Jobs ending at once are written ``STATUS_WRITES_AT_ONCE`` at a time, each once, in the
order they were found due; a Job deleted or written while it waited gets no write."""

from __future__ import annotations

import asyncio
from typing import Any

from overture.controller.job_statuses import STATUS_WRITES_AT_ONCE, JobStatuses
from overture.kube.managed_jobs import MANAGED_BY
from overture.kube.store import Store

ENDED = {"exitCode": 0, "startedAt": "2026-12-02T00:00:02Z", "finishedAt": "2026-12-02T00:00:07Z"}


def ended_attempts(store: Store, count: int) -> list[str]:
    """``count`` managed Jobs, each with its pod ended, cached; their names."""
    names = [f"fan-t-{i}-1" for i in range(count)]
    for name in names:
        meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "1"}
        store.put("job", {"metadata": meta, "spec": {"managedBy": MANAGED_BY}, "status": {}})
        labels = {"job-name": name, "batch.kubernetes.io/job-name": name}
        status = {"phase": "Succeeded", "containerStatuses": [{"name": "task", "state": {"terminated": ENDED}}]}
        store.put("pod", {"metadata": {"name": name, "namespace": "ns", "labels": labels}, "status": status})
    return names


class Kube:
    """Status patches that take a while, counted: how many were in flight at once at most."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.written: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def patch_job_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        self.written.append(name)
        return {**self.store.jobs[(namespace, name)], "status": status}


def test_a_fan_outs_jobs_ending_at_once_are_written_a_few_at_a_time_each_once_in_order() -> None:
    store = Store()
    kube = Kube(store)
    statuses = JobStatuses(kube, store)  # type: ignore[arg-type]
    names = ended_attempts(store, 50)

    async def end_all() -> int:
        statuses.after_reconcile("ns", names)
        statuses.after_reconcile("ns", names)  # a second reconcile before the writes: nothing more
        await statuses.drain()
        return statuses.catch_up()  # every Job ended in the cache: nothing left to write

    assert asyncio.run(end_all()) == 0
    assert kube.most_in_flight == STATUS_WRITES_AT_ONCE
    assert sorted(kube.written) == sorted(names)
    assert kube.written[:STATUS_WRITES_AT_ONCE] == names[:STATUS_WRITES_AT_ONCE]


def test_a_job_deleted_while_its_write_waited_gets_none() -> None:
    store = Store()
    kube = Kube(store)
    statuses = JobStatuses(kube, store)  # type: ignore[arg-type]
    names = ended_attempts(store, STATUS_WRITES_AT_ONCE + 1)
    last = names[-1]

    async def delete_the_last_while_it_waits() -> None:
        statuses.after_reconcile("ns", names)
        store.put("job", store.jobs[("ns", last)], deleted=True)
        await statuses.drain()

    asyncio.run(delete_the_last_while_it_waits())
    assert kube.written == names[:-1]
