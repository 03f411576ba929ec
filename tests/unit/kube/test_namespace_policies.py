"""A namespace's task policy is read once for all the reconciles that ask at the same time."""

from __future__ import annotations

import asyncio
from typing import Any

from overture.kube.namespaces import TTL_SECONDS, NamespacePolicies


class Kube:
    def __init__(self) -> None:
        self.reads = 0
        self.answer = asyncio.Event()

    async def read_namespace(self, name: str) -> dict[str, Any]:
        self.reads += 1
        await self.answer.wait()
        return {"metadata": {"name": name, "labels": {}}}


def test_reconciles_asking_while_it_is_read_share_the_read() -> None:
    async def scenario() -> tuple[int, int]:
        kube = Kube()
        now = [0.0]
        policies = NamespacePolicies(kube, clock=lambda: now[0])  # type: ignore[arg-type]
        asking = [asyncio.create_task(policies.get("ns")) for _ in range(50)]
        await asyncio.sleep(0)
        kube.answer.set()
        answers = await asyncio.gather(*asking)
        assert len(set(answers)) == 1
        first = kube.reads
        now[0] += TTL_SECONDS  # stale: read again, once
        await asyncio.gather(*(policies.get("ns") for _ in range(50)))
        return first, kube.reads

    assert asyncio.run(scenario()) == (1, 2)


def test_a_cancelled_reconcile_leaves_the_read_to_the_others() -> None:
    async def scenario() -> int:
        kube = Kube()
        policies = NamespacePolicies(kube, clock=lambda: 0.0)  # type: ignore[arg-type]
        first = asyncio.create_task(policies.get("ns"))
        second = asyncio.create_task(policies.get("ns"))
        await asyncio.sleep(0)
        first.cancel()
        kube.answer.set()
        await second
        await policies.get("ns")  # cached now
        return kube.reads

    assert asyncio.run(scenario()) == 1


def test_a_failed_read_fails_for_all_who_waited_and_the_next_ask_reads_again() -> None:
    class Failing(Kube):
        async def read_namespace(self, name: str) -> dict[str, Any]:
            self.reads += 1
            await self.answer.wait()
            if self.reads == 1:
                raise ConnectionError("API server restarting")
            return {"metadata": {"name": name}}

    async def scenario() -> tuple[list[bool], int]:
        kube = Failing()
        policies = NamespacePolicies(kube, clock=lambda: 0.0)  # type: ignore[arg-type]
        asking = [asyncio.create_task(policies.get("ns")) for _ in range(3)]
        await asyncio.sleep(0)
        kube.answer.set()
        failed = [isinstance(r, ConnectionError) for r in await asyncio.gather(*asking, return_exceptions=True)]
        await policies.get("ns")
        return failed, kube.reads

    assert asyncio.run(scenario()) == ([True, True, True], 2)
