"""All eight benchmarks (and the optional peer), one after the other, then one table of the figures against the targets.

    python -m benchmarks.run [--quick] [--argo]
        [--only overhead,throughput,api_cost,memory,schedule,ui,engine,cli_startup,peer]

``--argo`` adds ``peer``: Overture and Argo Workflows side by side (it builds Argo
once, ~4 min, and takes ~40 min; not part of CI). ``engine`` and ``cli_startup`` need no cluster.

Against the cluster of KUBECONFIG, or of OVERTURE_CLUSTER_INSTANCE (hack/cluster; ``both``
mode gives every scenario: the real node for real pods, the kwok node for kwok pods).
Each benchmark also runs alone: ``python -m benchmarks.<name> --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from benchmarks import api_cost, cli_startup, engine, memory, overhead, peer, schedule, throughput, ui
from benchmarks.common import kubeconfig_path, machine, print_table, terminate_gracefully, write_result

ALL = ("overhead", "throughput", "api_cost", "memory", "schedule", "ui", "engine", "cli_startup")
OPTIONAL = ("peer",)  # only with --argo or --only


def _f(value: float | None, unit: str = "ms") -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if unit == "ms" else f"{value:.2f} {unit}"


def summary_rows(results: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for r in (results.get("overhead") or {}).get("results", []):
        if "gap" in r:
            rows.append(
                [
                    f"1. gap p50 / p99 ({r['mode']})",
                    f"{_f(r['gap']['p50'])} / {_f(r['gap']['p99'])}",
                    "< 50 ms / < 250 ms",
                ]
            )
            rows.append([f"1. wall - task time, 40 tasks ({r['mode']})", _f(r["orchestrator_time"]["p50"], "s"), ""])
    for r in (results.get("throughput") or {}).get("results", []):
        b = r["limit"]
        for o in r["overture"]:
            if not (o.get("per_minute") and b.get("per_minute")):
                continue
            label = f"2. N={r['n']}, {o.get('replicas', 1)} replica(s)"
            rows.append(
                [
                    f"{label}: executions/min (limit)",
                    f"{o['per_minute']:.0f} ({b['per_minute']:.0f}) = {o['per_minute'] / b['per_minute']:.0%}",
                    ">= 60 %" if r["n"] >= 1000 else ">= 50 %",
                ]
            )
            rows.append(
                [
                    f"{label}: latency p50 / p99",
                    f"{_f(o['latency']['p50'], 's')} / {_f(o['latency']['p99'], 's')}",
                    "",
                ]
            )
    for key in ("api_cost", "api_cost_kwok", "api_cost_real"):
        cost = results.get(key)
        if cost and "writes_per_task_run" in cost:
            rows.append([f"3. API writes per task run ({cost['mode']})", f"{cost['writes_per_task_run']:.2f}", "<= 3"])
    mem = results.get("memory")
    if mem:
        rows.append(
            [
                f"4. RSS, {mem['flows']} flows + {mem['executions']} executions",
                f"{mem['rss_end_mib']:.0f} MiB (peak {mem['rss_peak_mib']:.0f})",
                "< 150 MiB",
            ]
        )
        rows.append(
            ["4. startup CPU / idle CPU", f"{mem['startup_cpu_seconds']:.1f} s / {mem['idle_cpu_percent']:.1f} %", ""]
        )
    for name, result in results.items():
        if "error" in result:
            rows.append([f"{name}: failed", result["error"][:60], ""])
    sched = results.get("schedule")
    if sched and "error" not in sched:
        if sched.get("available"):
            rows.append(
                [
                    "5. schedule delay p50 / p99",
                    f"{_f(sched['delay']['p50'])} / {_f(sched['delay']['p99'])}",
                    "< 1 s p99",
                ]
            )
        else:
            rows.append(["5. schedule delay", "not available yet", "< 1 s p99"])
    web = results.get("ui")
    if web and "error" not in web:
        rows.append(
            [
                f"6. UI: usable page, {web['tasks']}-task execution (median)",
                f"{web['execution_page_median_ms']:.0f} ms",
                "",
            ]
        )
        rows.append(
            [
                f"6. UI server RSS, {web['flows']} flows (end / peak)",
                f"{web['rss_end_mib']:.0f} / {web['rss_peak_mib']:.0f} MiB",
                "",
            ]
        )
    for r in (results.get("peer") or {}).get("results", []):
        if "error" not in r and r["wall"] is not None:
            rows.append(
                [
                    f"7. {r['workload']}, {r['engine']}",
                    f"{r['wall']:.1f} s, {r['writes_per_task']:.2f} writes/task, "
                    f"{r['cpu_per_task'] * 1000:.0f} ms CPU/task, {r['rss_mib']:.0f} MiB",
                    "ahead of Argo" if r["engine"] == "Overture" else "",
                ]
            )
    for case in (results.get("engine") or {}).get("per_call", []):
        if case["task_runs"] == max(c["task_runs"] for c in results["engine"]["per_call"]):
            step, whole = case["step"], case["reconcile"]
            rows.append(
                [
                    f"8. engine, {case['shape']} of {case['task_runs']:,} runs: step / reconcile p50",
                    f"{_f(step['p50'])} / {_f(whole['p50'])}",
                    "",
                ]
            )
    e2e = (results.get("engine") or {}).get("end_to_end")
    if e2e:
        rows.append([f"8. engine, flat flow of {e2e['tasks']:,} tasks end to end", _f(e2e["wall_seconds"], "s"), ""])
    for command in (results.get("cli_startup") or {}).get("results", []):
        target = f"< {cli_startup.TARGET_SECONDS} s" if " validate " in command["command"] else ""
        rows.append(
            [
                f"9. start-up CPU / wall median: {command['command']}",
                f"{command['cpu_median']:.2f} s / {command['wall_median']:.2f} s",
                target,
            ]
        )
    return rows


async def main_async(quick: bool, only: list[str]) -> None:
    print(f"cluster: {kubeconfig_path()}; machine: {machine()}", flush=True)
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for name in only:
        started = time.monotonic()
        print(f"\n=== {name} ===", flush=True)
        try:
            if name == "overhead":
                results[name] = await overhead.bench(quick)
            elif name == "throughput":
                results[name] = await throughput.bench(quick, replicas=[1] if quick else [1, 2])
            elif name == "api_cost":
                results[name] = await api_cost.bench(quick)
                results["api_cost_kwok"] = await api_cost.bench(quick, "kwok")
                results["api_cost_real"] = await api_cost.bench(quick, "real")
            elif name == "memory":
                results[name] = await memory.bench(quick)
            elif name == "schedule":
                results[name] = await schedule.bench(quick)
            elif name == "ui":
                results[name] = await ui.bench(quick, None, None, None, 5)
            elif name == "peer":
                results[name] = await peer.bench(quick)
            elif name == "engine":  # no cluster: the engine alone
                results[name] = engine.main(["--quick"] if quick else [], report=lambda *_: None)
            elif name == "cli_startup":  # no cluster: new overture processes
                results[name] = cli_startup.main(["--runs", "5" if quick else "10"], report=lambda *_: None)
        except Exception as exc:  # one broken scenario must not hide the others' figures
            print(f"[{name}] failed: {type(exc).__name__}: {exc}", flush=True)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        timings[name] = time.monotonic() - started
    print_table("Summary", ["figure", "measured", "target"], summary_rows(results))
    print("time per benchmark: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    write_result("all", {"quick": quick, "timings": timings, "results": results})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller N everywhere (a few minutes)")
    parser.add_argument("--argo", action="store_true", help="add the peer benchmark: Overture vs Argo Workflows")
    parser.add_argument("--only", help="comma-separated subset of: " + ",".join(ALL + OPTIONAL))
    args = parser.parse_args()
    terminate_gracefully()
    only = [n.strip() for n in args.only.split(",")] if args.only else list(ALL)
    if args.argo and "peer" not in only:
        only.append("peer")
    unknown = set(only) - set(ALL + OPTIONAL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    asyncio.run(main_async(args.quick, only))


if __name__ == "__main__":
    main()
