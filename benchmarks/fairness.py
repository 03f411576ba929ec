"""How long one tenant's reconcile waits while another tenant bombs, with and without fair queueing.

    python -m benchmarks.fairness [--bombs 8] [--threads 4] [--cpu-seconds 2] [--repeat 5]

No cluster: the operator's own pieces. Tenant A has ``--bombs`` executions whose first task's
command is a template that loops until the CPU budget stops it (``engine.step`` fails the task
after ``--cpu-seconds`` of CPU); tenant B has one execution of a one-task flow. Each is the
reconcile's tenant work, ``step(flow, execution, observed, now)``, run as the controller runs it.

Printed per pool: B's step alone (its usual time, the median of ``--repeat``), and B's step
submitted just after A's bombs (the median of ``--repeat`` rounds), so the delay a bomb imposes:

- ``fifo``: the pool main had before issue 14's fairness (one ThreadPoolExecutor, work in the
  order it came; reproduced below as ``FifoWork``): B waits behind every bomb queued before it;
- ``fair``: ``isolation.TenantWork`` (a queue per namespace, served in turn, at most half the
  threads each).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from benchmarks.common import print_table, write_result
from overture.api import FlowSpec, parse_execution
from overture.engine import Observed, step
from overture.isolation import TenantWork
from overture.templating import cpu_budget

T = TypeVar("T")
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
BOMB = "{% for i in range(100000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}true"


class FifoWork:
    """The tenant pool as it was before: one executor, first come first served."""

    def __init__(self, threads: int, cpu_seconds: float) -> None:
        self.cpu_seconds = cpu_seconds
        self.pool = ThreadPoolExecutor(max_workers=threads)

    async def run(self, tenant: str, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(self._bounded, function, *args))

    def _bounded(self, function: Callable[..., T], *args: Any) -> T:
        with cpu_budget(self.cpu_seconds):
            return function(*args)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _step_args(namespace: str, command: str) -> tuple[Any, ...]:
    flow = FlowSpec.model_validate({"tasks": [{"id": "t", "type": "shell", "commands": [command]}]})
    body = {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": f"{namespace}-1", "namespace": namespace, "uid": namespace, "generation": 1},
        "spec": {"flowRef": {"name": "f"}},
    }
    return flow, parse_execution(body), Observed(), NOW


async def _timed(work: Any, tenant: str, args: tuple[Any, ...]) -> float:
    started = time.monotonic()
    await work.run(tenant, step, *args)
    return time.monotonic() - started


async def _round(work: Any, bombs: int) -> tuple[float, float]:
    """B's step while A's bombs run: (B's seconds, seconds until the last bomb ended)."""
    started = time.monotonic()
    bombing = [asyncio.create_task(work.run("tenant-a", step, *_step_args("tenant-a", BOMB))) for _ in range(bombs)]
    await asyncio.sleep(0.05)  # the bombs are in the pool
    during = await _timed(work, "tenant-b", _step_args("tenant-b", "echo {{ execution.id }}"))
    decisions = await asyncio.gather(*bombing)
    assert all("CPU" in str(d.status.task_runs[0].message) for d in decisions), "a bomb did not hit the budget"
    return during, time.monotonic() - started


async def _measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    work: Any = (
        FifoWork(args.threads, args.cpu_seconds) if kind == "fifo" else TenantWork(args.threads, args.cpu_seconds)
    )
    quick = _step_args("tenant-b", "echo {{ execution.id }}")
    usual = [await _timed(work, "tenant-b", quick) for _ in range(args.repeat)]
    rounds = [await _round(work, args.bombs) for _ in range(args.repeat)]
    work.close()
    during = [r[0] for r in rounds]
    return {
        "pool": kind,
        "usual_s": statistics.median(usual),
        "during_s": statistics.median(during),
        "during_max_s": max(during),
        "bombs_done_s": statistics.median(r[1] for r in rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bombs", type=int, default=8, help="tenant A's bombing executions at once")
    parser.add_argument("--threads", type=int, default=4, help="the pool's threads (OVERTURE_TENANT_THREADS)")
    parser.add_argument("--cpu-seconds", type=float, default=2.0, help="OVERTURE_TEMPLATE_CPU_SECONDS")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = [asyncio.run(_measure(kind, args)) for kind in ("fifo", "fair")]
    print_table(
        f"tenant B's reconcile step while tenant A runs {args.bombs} template bombs "
        f"({args.threads} threads, {args.cpu_seconds:g} s CPU budget, median of {args.repeat})",
        ["pool", "B alone", "B during bombs", "delay", "worst", "bombs done after"],
        [
            [
                r["pool"],
                f"{r['usual_s'] * 1000:.1f} ms",
                f"{r['during_s'] * 1000:.1f} ms",
                f"{(r['during_s'] - r['usual_s']):+.2f} s",
                f"{r['during_max_s']:.2f} s",
                f"{r['bombs_done_s']:.1f} s",
            ]
            for r in results
        ],
    )
    write_result("fairness", {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()
