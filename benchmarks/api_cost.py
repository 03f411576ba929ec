"""3. API cost: Kubernetes API requests per task run, by verb and by what was written.

    python -m benchmarks.api_cost [--quick]

One execution of a 10-task sequential flow, then 20 executions of a 2-task flow at once (50 task
runs; Jobs completed by the completer, or ``--mode kwok|real`` for pods that run). Requests are the operator's own count
(``overture_api_requests`` on /metrics, by verb; watches are long-lived GETs and not counted
per task). Writes are split by object: Jobs created (the Jobs in the namespace), Events
created (the namespace's Events from the ``overture`` component), and the rest of the
writes, which are the executions' status PUTs, Flow status patches and any retries/conflicts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from benchmarks.common import (
    WRITE_VERBS,
    Api,
    Completer,
    Operator,
    Placement,
    Recorder,
    execution_body,
    flow_body,
    gather_limited,
    parse_requests_delta,
    print_table,
    running,
    terminate_gracefully,
    wait_flow_ready,
    write_result,
)


async def bench(quick: bool = False, mode: str = "completer") -> dict[str, Any]:
    parallel = 10 if quick else 20
    api = await Api.connect()
    placement = Placement(api)
    available = await placement.discover()
    if mode != "completer" and mode not in available:
        print(f"\n3. API cost ({mode}): skipped, no Ready {mode} node", flush=True)
        await api.close()
        return {"mode": mode, "skipped": f"no Ready {mode} node"}
    namespace = await api.create_namespace("bench-api")
    completer = Completer("completer-api") if mode == "completer" else None
    rec = Recorder(api, namespace, kinds=("executions",))  # it reads only Executions
    try:
        await placement.use("pending" if completer else mode)
        if completer:
            await completer.start()
        await api.create("flows", namespace, flow_body("seq10", 10))
        await api.create("flows", namespace, flow_body("two", 2))
        async with running(Operator("api-cost", [namespace])) as operator:
            await wait_flow_ready(api, namespace, ["seq10", "two"])
            await rec.start()
            before = await operator.requests()
            await api.create("executions", namespace, execution_body("seq10-0", "seq10"))
            await rec.wait(lambda: "seq10-0" in rec.exec_done, 120)
            names = [f"two-{i:03d}" for i in range(parallel)]
            await gather_limited(
                [lambda n=n: api.create("executions", namespace, execution_body(n, "two")) for n in names]
            )
            await rec.wait(lambda: all(n in rec.exec_done for n in names), 120)
            requests = parse_requests_delta(before, await operator.settled_requests())
        events = await api.core.list_namespaced_event(namespace)
        ours = [
            e
            for e in events.items
            if (e.source and e.source.component == "overture") or e.reporting_component == "overture"
        ]
        reasons: dict[str, int] = {}
        for event in ours:
            reasons[event.reason] = reasons.get(event.reason, 0) + 1
        jobs = len((await api.batch.list_namespaced_job(namespace)).items)
    finally:
        await rec.close()
        if completer:
            completer.stop()
        await placement.restore()
        await api.delete_namespace(namespace)
        await api.close()
    executions = 1 + parallel
    task_runs = 10 + 2 * parallel
    writes = sum(requests.get(v, 0) for v in WRITE_VERBS)
    other_writes = writes - jobs - len(ours)
    per = {verb: count / task_runs for verb, count in requests.items()}
    data = {
        "mode": mode,
        "task_events": os.environ.get("OVERTURE_TASK_EVENTS", "false"),  # the operator's default
        "executions": executions,
        "task_runs": task_runs,
        "requests": requests,
        "requests_per_task_run": per,
        "writes_per_task_run": writes / task_runs,
        "jobs_created": jobs,
        "events_created": len(ours),
        "event_reasons": reasons,
        "status_and_other_writes": other_writes,
        "execution_watch_events": rec.exec_events,
    }
    rows = [[verb, count, f"{count / task_runs:.2f}"] for verb, count in requests.items() if count]
    rows += [
        ["= writes", writes, f"{writes / task_runs:.2f}"],
        ["  Job creates", jobs, f"{jobs / task_runs:.2f}"],
        ["  Event creates", len(ours), f"{len(ours) / task_runs:.2f}"],
        ["  status writes (and other)", other_writes, f"{other_writes / task_runs:.2f}"],
    ]
    print_table(
        f"3. API cost ({mode}): {executions} executions, {task_runs} task runs (operator's requests by verb)",
        ["verb / object", "requests", "per task run"],
        rows,
    )
    print(f"   Events by reason: {dict(sorted(reasons.items()))}")
    write_result(f"api_cost-{mode}", data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 parallel executions instead of 20")
    parser.add_argument("--mode", choices=["completer", "kwok", "real"], default="completer", help="who ends the tasks")
    args = parser.parse_args()
    terminate_gracefully()
    asyncio.run(bench(args.quick, args.mode))


if __name__ == "__main__":
    main()
