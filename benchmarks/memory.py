"""4. Memory and CPU at scale: 1,000 Flows (each with a schedule) and 10,000 finished Executions.

    python -m benchmarks.memory [--quick] [--flows 1000] [--executions 10000] [--idle 60]

The objects are made before the operator starts: each Flow has a daily schedule trigger and two
tasks; each Execution is created, then given a finished status (the shape the operator writes
for a 2-task run, flow snapshot included) with one merge patch of its status subresource. Then
the operator starts and we read, from /proc: the seconds to /readyz, the CPU seconds until it
settles (every Flow and Execution seen once, Flow statuses written), its RSS then, the CPU
it spends over ``--idle`` seconds with nothing to do, and the RSS and peak RSS at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import (
    GROUP,
    VERSION,
    Api,
    Operator,
    execution_body,
    flow_body,
    gather_limited,
    print_table,
    proc_hwm_mib,
    terminate_gracefully,
    write_result,
)

MERGE_PATCH = "application/merge-patch+json"


def finished_status(name: str, flow: str, end: datetime) -> dict[str, Any]:
    """A SUCCESS status as the operator writes it for a flow of two trivial tasks."""

    def at(seconds: float) -> str:
        return (end - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def run(task: str, start: float, stop: float) -> dict[str, Any]:
        job = f"{name}-{task}-1"
        return {
            "id": task,
            "taskId": task,
            "state": "SUCCESS",
            "startDate": at(start),
            "endDate": at(stop),
            "outputs": {},
            "attempts": [
                {
                    "attempt": 1,
                    "job": job,
                    "pod": f"{job}-x7k2p",
                    "state": "SUCCESS",
                    "startDate": at(start)[:19] + "Z",
                    "endDate": at(stop)[:19] + "Z",
                    "exitCode": 0,
                }
            ],
        }

    return {
        "state": "SUCCESS",
        "observedGeneration": 1,
        "startDate": at(4.0),
        "endDate": at(0),
        "duration": "4s",
        "inputs": {},
        "flowSpec": flow_body(flow, 2, schedule())["spec"],
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Succeeded",
                "observedGeneration": 1,
                "lastTransitionTime": at(0),
            }
        ],
        "taskRuns": [run("t00", 4.0, 2.0), run("t01", 2.0, 0.0)],
    }


def schedule(cron: str = "0 2 * * *") -> list[dict[str, Any]]:
    return [{"id": "nightly", "type": "schedule", "cron": cron}]


async def populate(api: Api, namespace: str, flows: int, executions: int) -> float:
    started = time.monotonic()
    flow_names = [f"f{i:04d}" for i in range(flows)]
    await gather_limited([lambda f=f: api.create("flows", namespace, flow_body(f, 2, schedule())) for f in flow_names])
    now = datetime.now(UTC)

    async def one(index: int) -> None:
        flow = flow_names[index % flows]
        name = f"{flow}-{index:05d}"
        await api.create("executions", namespace, execution_body(name, flow))
        status = finished_status(name, flow, now - timedelta(minutes=index % 600))
        await api.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "executions", name, {"status": status}, _content_type=MERGE_PATCH
        )

    await gather_limited([lambda i=i: one(i) for i in range(executions)])
    return time.monotonic() - started


async def settle(operator: Operator, quiet: float = 0.05, hold: int = 3, limit: float = 180) -> float:
    """Wait until the operator uses under ``quiet`` CPU-s per s for ``hold`` seconds in a row."""
    started = time.monotonic()
    calm = 0
    last = operator.cpu_seconds()
    while time.monotonic() - started < limit and calm < hold:
        await asyncio.sleep(1.0)
        now = operator.cpu_seconds()
        calm = calm + 1 if now - last < quiet else 0
        last = now
    return time.monotonic() - started


async def bench(
    quick: bool = False, flows: int | None = None, executions: int | None = None, idle: float | None = None
) -> dict[str, Any]:
    flows = flows or (200 if quick else 1000)
    executions = executions or (2000 if quick else 10000)
    idle = idle or (20.0 if quick else 60.0)
    api = await Api.connect()
    namespace = await api.create_namespace("bench-memory")
    operator = Operator("memory", [namespace])
    try:
        print(f"[memory] creating {flows} flows and {executions} finished executions", flush=True)
        populate_seconds = await populate(api, namespace, flows, executions)
        print(f"[memory] created in {populate_seconds:.0f}s; starting the operator", flush=True)
        ready_seconds = await operator.start(timeout=300)
        settle_seconds = await settle(operator)
        startup_cpu = operator.cpu_seconds()
        rss_settled = operator.rss_mib()
        print(f"[memory] settled after {ready_seconds + settle_seconds:.0f}s; idle for {idle:.0f}s", flush=True)
        cpu_before = operator.cpu_seconds()
        await asyncio.sleep(idle)
        idle_cpu = operator.cpu_seconds() - cpu_before
        rss_end = operator.rss_mib()
        peak = proc_hwm_mib(operator.pid)
        requests = await operator.requests()
    finally:
        operator.stop()
        await api.delete_namespace(namespace)
        await api.close()
    data = {
        "flows": flows,
        "executions": executions,
        "populate_seconds": populate_seconds,
        "ready_seconds": ready_seconds,
        "settle_seconds": settle_seconds,
        "startup_cpu_seconds": startup_cpu,
        "rss_settled_mib": rss_settled,
        "rss_end_mib": rss_end,
        "rss_peak_mib": peak,
        "idle_seconds": idle,
        "idle_cpu_seconds": idle_cpu,
        "idle_cpu_percent": idle_cpu / idle * 100,
        "api_requests": requests,
    }
    print_table(
        f"4. Memory and CPU with {flows} Flows (each with a schedule) and {executions} finished Executions",
        ["ready", "startup CPU", "RSS settled", "RSS end", "RSS peak", f"idle CPU ({idle:.0f} s)"],
        [
            [
                f"{ready_seconds:.1f} s",
                f"{startup_cpu:.1f} s",
                f"{rss_settled:.0f} MiB",
                f"{rss_end:.0f} MiB",
                f"{peak:.0f} MiB",
                f"{idle_cpu:.2f} s ({idle_cpu / idle:.1%})",
            ]
        ],
    )
    write_result("memory", data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 flows, 2,000 executions, 20 s idle")
    parser.add_argument("--flows", type=int)
    parser.add_argument("--executions", type=int)
    parser.add_argument("--idle", type=float)
    args = parser.parse_args()
    terminate_gracefully()
    asyncio.run(bench(args.quick, args.flows, args.executions, args.idle))


if __name__ == "__main__":
    main()
