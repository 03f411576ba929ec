"""1. Overhead per task: a flow of 40 sequential trivial tasks.

    python -m benchmarks.overhead [--quick] [--modes completer,kwok,real] [--runs N]

For each pair of consecutive tasks: the time from the first task's Job being seen finished (its
pod Succeeded, or the Job Complete, whichever is seen first) to the next task's Job being seen
created. And per execution: wall time (Execution created -> SUCCESS) minus the time the tasks ran
(Job created -> seen finished, summed), which is what the orchestrator added.

Modes (each needs what the cluster offers; missing ones are reported as skipped):
- ``completer``: ``benchmarks.completer`` marks each Job Complete as soon as it exists; no pod runs.
- ``kwok``: pods go to the kwok node, which marks them Succeeded at once.
- ``real``: pods run ``true`` in busybox on the real node.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from benchmarks.common import (
    Api,
    Completer,
    Operator,
    Placement,
    Recorder,
    execution_body,
    flow_body,
    ms,
    parse_requests_delta,
    print_table,
    running,
    sec,
    summary,
    terminate_gracefully,
    wait_flow_ready,
    write_result,
)

TASKS = 40


async def one_run(api: Api, rec: Recorder, namespace: str, flow: str, name: str, timeout: float) -> dict[str, Any]:
    await api.create("executions", namespace, execution_body(name, flow))
    ok = await rec.wait(lambda: name in rec.exec_done, timeout)
    execution = rec.executions.get(name) or {}
    status = execution.get("status") or {}
    if not ok or status.get("state") != "SUCCESS":
        return {"execution": name, "error": f"state {status.get('state')} after {timeout:.0f}s"}
    jobs = [run["attempts"][-1]["job"] for run in status.get("taskRuns") or [] if run.get("attempts")]
    await rec.wait(lambda: all(rec.done_at(j) is not None for j in jobs), 10)
    gaps, gaps_last, ran = [], [], []
    for index, job in enumerate(jobs):
        added, done = rec.job_added.get(job), rec.done_at(job)
        if added is not None and done is not None:
            ran.append(done - added)
        if index > 0:
            previous = jobs[index - 1]
            previous_done = rec.done_at(previous)
            if previous_done is not None and added is not None:
                gaps.append(added - previous_done)
            # the last of the two signals: with the completer the Job is Complete first and the
            # operator then waits for the pod it saw (made by the Job controller meanwhile)
            last = max(t for t in (rec.job_done.get(previous), rec.pod_done.get(previous), previous_done) if t)
            if added is not None:
                gaps_last.append(added - last)
    wall = rec.exec_done[name] - rec.exec_added[name]
    first_job = rec.job_added.get(jobs[0]) if jobs else None
    last_done = rec.done_at(jobs[-1]) if jobs else None
    return {
        "execution": name,
        "tasks": len(jobs),
        "gaps": gaps,
        "gaps_from_last_signal": gaps_last,
        "wall": wall,
        "task_time": sum(ran),
        "orchestrator_time": wall - sum(ran),
        "start_to_first_job": (first_job - rec.exec_added[name]) if first_job else None,
        "last_done_to_success": (rec.exec_done[name] - last_done) if last_done else None,
    }


async def run_mode(api: Api, placement: Placement, mode: str, runs: int) -> dict[str, Any]:
    namespace = await api.create_namespace(f"bench-overhead-{mode}")
    completer = Completer(f"completer-overhead-{mode}") if mode == "completer" else None
    rec = Recorder(api, namespace)
    try:
        await placement.use("pending" if mode == "completer" else mode)
        if completer:
            await completer.start()
        await api.create("flows", namespace, flow_body("seq40", TASKS))
        async with running(Operator(f"overhead-{mode}", [namespace])) as operator:
            await wait_flow_ready(api, namespace, ["seq40"])
            await rec.start()
            before = await operator.requests()
            cpu_before = operator.cpu_seconds()
            results = []
            timeout = 600 if mode == "real" else 180
            for index in range(runs):
                results.append(await one_run(api, rec, namespace, "seq40", f"seq40-{mode}-{index}", timeout))
            requests = parse_requests_delta(before, await operator.settled_requests())
            cpu = operator.cpu_seconds() - cpu_before
    finally:
        await rec.close()
        if completer:
            completer.stop()
        await api.delete_namespace(namespace)
    good = [r for r in results if "error" not in r]
    gaps = [g for r in good for g in r["gaps"]]
    task_runs = sum(r["tasks"] for r in good)
    return {
        "mode": mode,
        "runs": results,
        "errors": [r["error"] for r in results if "error" in r],
        "gap": summary(gaps),
        "gap_from_last_signal": summary([g for r in good for g in r["gaps_from_last_signal"]]),
        "wall": summary([r["wall"] for r in good]),
        "orchestrator_time": summary([r["orchestrator_time"] for r in good]),
        "task_time": summary([r["task_time"] for r in good]),
        "start_to_first_job": summary([r["start_to_first_job"] for r in good if r["start_to_first_job"]]),
        "last_done_to_success": summary([r["last_done_to_success"] for r in good if r["last_done_to_success"]]),
        "task_runs": task_runs,
        "api_requests": requests,
        "operator_cpu_seconds": cpu,
    }


def report(results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r["mode"], "skipped: " + r["skipped"]] + [""] * 7)
            continue
        gap, wall, orch = r["gap"], r["wall"], r["orchestrator_time"]
        rows.append(
            [
                r["mode"],
                f"{len(r['runs']) - len(r['errors'])}/{len(r['runs'])}",
                ms(gap["p50"]),
                ms(gap["p95"]),
                ms(gap["p99"]),
                sec(wall["p50"]),
                sec(r["task_time"]["p50"]),
                sec(orch["p50"]),
                f"{r['operator_cpu_seconds'] / max(r['task_runs'], 1) * 1000:.1f} ms",
            ]
        )
    print_table(
        f"1. Overhead per task ({TASKS} sequential trivial tasks; gap = task done -> next Job created)",
        ["mode", "ok", "gap p50", "gap p95", "gap p99", "wall", "tasks ran", "wall - tasks", "op CPU/task"],
        rows,
    )
    for r in results:
        last = r.get("gap_from_last_signal")
        if last and last["n"] and r["mode"] == "completer":
            print(
                f"   {r['mode']}: gap from the last of (Job Complete, pod Succeeded): "
                f"p50 {ms(last['p50'])}, p95 {ms(last['p95'])}, p99 {ms(last['p99'])}"
            )


async def bench(quick: bool = False, modes: list[str] | None = None, runs: int | None = None) -> dict[str, Any]:
    api = await Api.connect()
    placement = Placement(api)
    available = await placement.discover()
    wanted = modes or ["completer", "kwok", "real"]
    results: list[dict[str, Any]] = []
    try:
        for mode in wanted:
            if mode != "completer" and mode not in available:
                results.append({"mode": mode, "skipped": f"no Ready {mode} node"})
                continue
            count = runs or (1 if quick or mode == "real" else 3)
            started = time.monotonic()
            print(f"[overhead] mode={mode} runs={count}", flush=True)
            results.append(await run_mode(api, placement, mode, count))
            print(f"[overhead] mode={mode} done in {time.monotonic() - started:.0f}s", flush=True)
    finally:
        await placement.restore()
        await api.close()
    report(results)
    data = {"tasks": TASKS, "results": results}
    write_result("overhead", data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--modes", help="comma-separated: completer,kwok,real")
    parser.add_argument("--runs", type=int)
    args = parser.parse_args()
    terminate_gracefully()
    asyncio.run(bench(args.quick, args.modes.split(",") if args.modes else None, args.runs))


if __name__ == "__main__":
    main()
