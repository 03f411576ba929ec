"""Where a fan-out's time goes: one ``each`` run on the kwok node, each iteration's path timed.

    python -m benchmarks.fanout_trace [--items 200] [--concurrency 50] [--env KEY=VALUE ...]

The operator runs alone (as in ``benchmarks.peer``'s Overture side: a fresh namespace and
operator, pods on the kwok node, which completes them at once). Jobs and pods are watched here,
and each iteration's path is timed by when this watch saw each step:

- **Job -> pod**: the Job created (by the operator) -> its pod created (by the Job controller);
- **pod -> terminated**: the pod created -> seen Succeeded (scheduler, then kwok);
- **terminated -> Job done**: the pod terminated -> the Job's Complete condition (the Job
  controller; the operator does not wait for it: ``kube/jobs.observe_job`` reads the pod first);
- **handoff**: a slot freed (the n-th pod seen terminated) -> the operator's next Job seen
  created (the (n + concurrency)-th): the operator's watch, queue, reconcile and Job create.

With ``concurrency`` slots the wall is about ``items / concurrency`` times one iteration's path
(Job -> pod + pod -> terminated + handoff), so the medians say where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import (
    Api,
    Operator,
    Placement,
    execution_body,
    flow_body,
    job_finished,
    print_table,
    proc_cpu_seconds,
    proc_rss_mib,
    summary,
    terminate_gracefully,
    wait_flow_ready,
    wait_for_change,
    watch_raw,
    write_result,
)

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def fanout_flow(name: str, items: int, concurrency: int) -> dict[str, Any]:
    body = flow_body(name, 0)
    body["spec"]["tasks"] = [
        {
            "id": "items",
            "type": "each",
            "items": f"{{{{ range({items}) | list | json }}}}",
            "concurrencyLimit": concurrency,
            "tasks": [{"id": "t", "type": "shell", "commands": ["true"]}],
        }
    ]
    return body


@dataclass
class Trace:
    """When each Job and its pod were first seen at each step (watch arrival times, seconds)."""

    job_added: dict[str, float] = field(default_factory=dict)
    job_done: dict[str, float] = field(default_factory=dict)
    pod_added: dict[str, float] = field(default_factory=dict)  # by Job name
    pod_done: dict[str, float] = field(default_factory=dict)  # by Job name
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_job(self, t: float, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        self.job_added.setdefault(name, t)
        if job_finished(job):
            self.job_done.setdefault(name, t)
        self.changed.set()

    def on_pod(self, t: float, pod: dict[str, Any]) -> None:
        job = (pod["metadata"].get("labels") or {}).get(JOB_NAME_LABEL)
        if not job:
            return
        self.pod_added.setdefault(job, t)
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self.pod_done.setdefault(job, t)
        self.changed.set()


def breakdown(trace: Trace, concurrency: int) -> dict[str, dict[str, float | int | None]]:
    """Medians and tails of each step, over the Jobs that went through it (a pure function of the trace)."""

    def gaps(start: dict[str, float], end: dict[str, float]) -> list[float]:
        return [end[k] - start[k] for k in start if k in end]

    freed = sorted(trace.pod_done.values())
    created = sorted(trace.job_added.values())
    handoff = [created[i + concurrency] - freed[i] for i in range(min(len(freed), len(created) - concurrency))]
    return {
        "job_to_pod": summary(gaps(trace.job_added, trace.pod_added)),
        "pod_to_terminated": summary(gaps(trace.pod_added, trace.pod_done)),
        "terminated_to_job_done": summary(gaps(trace.pod_done, trace.job_done)),
        "handoff": summary(handoff),
    }


async def watch(api: Api, namespace: str, trace: Trace, stop: asyncio.Event) -> None:
    async def jobs() -> None:
        async for t, _, job in watch_raw(api.batch.list_namespaced_job, namespace, stop=stop):
            trace.on_job(t, job)

    async def pods() -> None:
        async for t, _, pod in watch_raw(api.core.list_namespaced_pod, namespace, stop=stop):
            trace.on_pod(t, pod)

    await asyncio.gather(jobs(), pods())


async def bench(items: int, concurrency: int, env: dict[str, str]) -> dict[str, Any]:
    api = await Api.connect()
    placement = Placement(api)
    namespace = await api.create_namespace("fanout-trace")
    trace, stop = Trace(), asyncio.Event()
    operator: Operator | None = None
    watcher: asyncio.Task[None] | None = None
    try:
        if "kwok" not in await placement.discover():
            raise SystemExit("no Ready kwok node: start the cluster with OVERTURE_NODE=kwok or both")
        await placement.use("kwok")
        await api.create("flows", namespace, fanout_flow("fanout", items, concurrency))
        operator = Operator("fanout-trace", [namespace], env=env)
        await operator.start()
        await wait_flow_ready(api, namespace, ["fanout"])
        watcher = asyncio.create_task(watch(api, namespace, trace, stop))
        await asyncio.sleep(0.5)
        load_before = os.getloadavg()[0]
        cpu_before = proc_cpu_seconds(operator.pid)
        started = time.time()
        await api.create("executions", namespace, execution_body("fanout-1", "fanout"))
        finished = await wait_for_change(trace.changed, lambda: len(trace.pod_done) >= items, 1200)
        wall = (max(trace.pod_done.values()) - started) if finished else None
        cpu = proc_cpu_seconds(operator.pid) - cpu_before
        data = {
            "items": items,
            "concurrency": concurrency,
            "env": env,
            "finished": finished,
            "wall": wall,
            "cpu_per_task": cpu / items,
            "rss_mib": proc_rss_mib(operator.pid),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "steps": breakdown(trace, concurrency),
        }
    finally:
        stop.set()
        if watcher:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        if operator:
            operator.stop()
        await placement.restore()
        await api.delete_namespace(namespace)
        await api.close()
    rows = [
        [step, s["n"], f"{s['p50']:.2f}", f"{s['p95']:.2f}", f"{s['max']:.2f}"]
        for step, s in data["steps"].items()
        if s["n"]
    ]
    wall_text = f"{wall:.1f} s" if wall is not None else "unfinished"
    print_table(
        f"fan-out trace: {items} items, {concurrency} at a time, wall {wall_text}, "
        f"CPU/task {data['cpu_per_task'] * 1000:.0f} ms, load {data['load_before']:.1f} -> {data['load_after']:.1f}",
        ["step", "n", "p50 s", "p95 s", "max s"],
        rows,
    )
    write_result("fanout_trace", data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the operator (repeatable)")
    args = parser.parse_args()
    env = dict(e.split("=", 1) for e in args.env)
    terminate_gracefully()
    asyncio.run(bench(args.items, args.concurrency, env))


if __name__ == "__main__":
    main()
