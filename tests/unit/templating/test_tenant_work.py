"""``isolation.TenantWork``: tenant code in a thread pool, namespaces served in turn (issue 14).

Many slow pieces of work from one namespace used to fill the whole pool (a FIFO) and every other
namespace waited behind them; now each namespace has its own queue, served round-robin, and holds
at most ``per_tenant`` threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from overture.isolation import TenantWork
from overture.templating import TemplateError, render

BOMB = "{% for i in range(100000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


class Gate:
    """Work that records when it starts and runs until let go."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def work(self, name: str) -> Callable[[], str]:
        def run() -> str:
            with self.lock:
                self.started.append(name)
            self.release.wait(10)
            return name

        return run


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


def test_another_namespace_starts_before_the_queued_work_of_a_busy_one() -> None:
    async def main() -> None:
        work = TenantWork(threads=2, per_tenant=2)
        gate = Gate()
        bombs = [asyncio.create_task(work.run("a", gate.work(f"a{i}"))) for i in range(6)]
        await _until(lambda: len(gate.started) == 2)  # a0 and a1 hold both threads
        quick = asyncio.create_task(work.run("b", gate.work("b0")))
        await asyncio.sleep(0)
        gate.release.set()
        assert await quick == "b0"
        assert await asyncio.gather(*bombs) == [f"a{i}" for i in range(6)]
        # b0 came after six of a's, and ran as soon as a thread was free: third, not seventh
        assert gate.started.index("b0") == 2, gate.started
        work.close()

    asyncio.run(main())


def test_one_namespace_holds_at_most_its_share_of_threads() -> None:
    async def main() -> None:
        work = TenantWork(threads=4)  # per_tenant: half the pool
        gate = Gate()
        bombs = [asyncio.create_task(work.run("a", gate.work(f"a{i}"))) for i in range(5)]
        await _until(lambda: len(gate.started) == 2)
        await asyncio.sleep(0.05)
        assert gate.started == ["a0", "a1"]
        other = [asyncio.create_task(work.run(ns, gate.work(ns))) for ns in ("b", "c")]
        await _until(lambda: len(gate.started) == 4)  # the other half serves b and c at once
        assert sorted(gate.started[2:]) == ["b", "c"]
        gate.release.set()
        await asyncio.gather(*bombs, *other)
        work.close()

    asyncio.run(main())


def test_errors_reach_the_caller_and_templates_keep_their_budget() -> None:
    async def main() -> None:
        work = TenantWork(threads=2, cpu_seconds=0.2)
        with pytest.raises(TemplateError, match="CPU"):
            await work.run("a", render, BOMB, {})
        assert await work.run("a", render, "{{ 1 + 1 }}", {}) == "2"
        work.close()

    asyncio.run(main())


def test_work_whose_caller_went_away_is_not_started() -> None:
    async def main() -> None:
        work = TenantWork(threads=1)
        gate = Gate()
        first = asyncio.create_task(work.run("a", gate.work("first")))
        await _until(lambda: gate.started == ["first"])
        dropped = asyncio.create_task(work.run("a", gate.work("dropped")))
        await asyncio.sleep(0)
        dropped.cancel()
        last = asyncio.create_task(work.run("b", gate.work("last")))
        await asyncio.sleep(0)
        gate.release.set()
        assert await first == "first"
        assert await last == "last"
        assert gate.started == ["first", "last"]
        work.close()

    asyncio.run(main())
