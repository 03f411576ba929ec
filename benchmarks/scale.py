"""Issue 16 in one run: Overture vs Argo Workflows side by side, the engine's scaling, the
10,000-item each and throughput at N=1,000 with 1 and 2 replicas, in one combined report.

    python -m benchmarks.scale [--quick] [--parts engine,throughput,peer,each]
        [--workloads seq40,runs20,runs200,fanout1000] [--requeue 10s,2s]
        [--each-items 10000] [--each-engines overture[,argo]] [--engine-budget 120] [--runtimes managed-job,pod]

Each part is another module's benchmark, run as it runs alone (how each figure is taken: that
module's docstring), one after the other, never two at once:

- ``engine``: benchmarks.engine (no cluster): one reconcile of a half-done execution of 100,
  1,000 and 10,000 task runs per shape, and a 5,000-task flat flow end to end for at most
  ``--engine-budget`` seconds (it says how far it got).
- ``throughput``: benchmarks.throughput at N=1,000 with 1 and 2 replicas (sharded), against the
  limit measured right before, in the operator's default task runtime (``managed-job``: the same
  managed Jobs and their pods made by a bare script; benchmarks.throughput says how each
  runtime's limit is made); with ``--runtimes`` pod (the default: managed-job,pod) also the pod task runtime with 1
  replica, against the bare-Pod limit.
- ``peer``: benchmarks.peer: 40 sequential tasks, 20 and 200 concurrent two-task runs and a
  1,000-item fan-out, Overture then (``--runtimes`` pod) "Overture (pods)", the operator with
  ``OVERTURE_TASK_RUNTIME=pod``, then Argo with its default requeue (10 s) and with 2 s.
- ``each`` (only when named in ``--parts``; ~1 h or more here): the ``--each-items`` fan-out
  (``fanout10000`` of benchmarks.peer, 200 at a time) for ``--each-engines``. Without it the
  report projects the 10,000-item each from this run's 1,000-item fan-out, labelled so.

The report: one side-by-side table of every figure of every workload with the engine that is
ahead marked (lower is better for all of them; "level" within 5 %; with the pod runtime, a
column "Overture (pods)" and its own "ahead" column and score), then Overture's own tables.
It is printed and written (``benchmarks/results/scale-<start>.{json,txt}`` and ``scale-latest.*``)
after every part, so a run stopped part way keeps what finished. The machine's 1-minute load
average is recorded before and after each part (and each peer side): on a shared machine it says
how far a figure can be trusted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from benchmarks import engine, peer, throughput
from benchmarks.common import RESULTS, ROOT, Api, kubeconfig_path, machine, terminate_gracefully
from overture.kube.pods import DEFAULT_TASK_RUNTIME

PARTS = ("engine", "throughput", "peer", "each")
DEFAULT_PARTS = ("engine", "throughput", "peer")
LEVEL = 0.05  # within 5 % of each other: neither is ahead (one run each, on a shared machine)
MIB = 1024 * 1024


# --------------------------------------------------------------------------- who is ahead


def ahead(ours: float | None, theirs: list[float | None]) -> str:
    """Which engine is ahead on a figure where lower is better: Overture's value against each Argo
    side's, with Argo's value / Overture's for each ("3.8x": Argo took 3.8 times as much).
    None is a run that did not finish (behind any that did)."""
    known = [t for t in theirs if t is not None]
    if ours is None:
        return "Argo (Overture unfinished)" if known else "-"
    if not known:
        return "Overture (Argo unfinished)" if theirs else "-"
    if ours == 0:
        return "Overture" if all(t > 0 for t in known) else "level"
    ratios = [t / ours for t in known]
    shown = " / ".join(f"{r:.2f}x" for r in ratios)
    if all(r >= 1 + LEVEL for r in ratios):
        return f"Overture ({shown})"
    if all(r <= 1 - LEVEL for r in ratios):
        return f"Argo ({shown})"
    if all(abs(r - 1) < LEVEL for r in ratios):
        return f"level ({shown})"
    return f"mixed ({shown})"


# Each figure: its label, how it is read from a peer result, how it is shown.
FIGURES: list[tuple[str, Callable[[dict[str, Any]], float | None], Callable[[float], str]]] = [
    ("wall", lambda r: r["wall"], lambda v: f"{v:.1f} s"),
    ("controller writes/task", lambda r: r["writes_per_task"], lambda v: f"{v:.2f}"),
    (
        "all writes/task in the namespace",
        lambda r: r["writes_per_task"] + r["pod_writes_per_task"] + r["other_writes_per_task"],
        lambda v: f"{v:.2f}",
    ),
    ("controller CPU/task", lambda r: r["cpu_per_task"], lambda v: f"{v * 1000:.0f} ms"),
    ("controller RSS at the end", lambda r: r["rss_mib"], lambda v: f"{v:.0f} MiB"),
    ("controller peak RSS", lambda r: r["peak_rss_mib"], lambda v: f"{v:.0f} MiB"),
    ("biggest run object", lambda r: r.get("object_bytes"), lambda v: f"{v / 1024:,.0f} KiB"),
]


PODS = "Overture (pods)"  # benchmarks.peer's side of the pod task runtime (OVERTURE_TASK_RUNTIME=pod)
RUNTIME_ROWS = {"pod": "pods", "job": "built-in Jobs"}  # the throughput rows' runtime; else Jobs (managed-job)


def side_by_side(results: list[dict[str, Any]], titles: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per workload and figure, Overture's value (and with the pod task runtime,
    if it ran), each Argo side's, and who is ahead: the last column Overture's default runtime
    (``managed-job``: a Job per task) against Argo, the one before it (if any) the pod runtime against Argo."""
    engines = list(dict.fromkeys(r["engine"] for r in results))
    pods = [PODS] if PODS in engines else []
    argo_sides = [s for s in engines if s not in ("Overture", PODS)]
    sides = ["Overture", *pods, *argo_sides]  # the header's order, whichever ran first
    pods_mark = ["ahead, pods (Argo / Overture (pods))"] if pods else []
    header = ["workload", "figure", "Overture", *pods, *argo_sides, *pods_mark, "ahead (Argo / Overture)"]
    rows: list[list[str]] = []
    for workload in dict.fromkeys(r["workload"] for r in results):
        of = {r["engine"]: r for r in results if r["workload"] == workload}
        title = titles.get(workload, workload)
        failed = [f"{side}: {of[side]['error'][:60]}" for side in sides if side in of and "error" in of[side]]
        blank = ["" for _ in pods_mark]
        if failed:
            rows.append([title, "failed", *["" for _ in sides], *blank, "; ".join(failed)])
        ok = [f"{of[s]['ok']}/{of[s]['runs']}" if s in of and "error" not in of[s] else "-" for s in sides]
        rows.append([title, "runs succeeded", *ok, *blank, ""])
        compared = [s for s in argo_sides if s in of]  # sides not run (yet) are not compared
        for label, read, show in FIGURES:
            values = {s: _read(of.get(s), read) for s in sides}
            cells = [show(v) if v is not None else "-" if s in of else "not run" for s, v in values.items()]
            ours = values.get("Overture")
            mark = ahead(ours, [values[s] for s in compared]) if "Overture" in of and compared else ""
            marks = [ahead(values[PODS], [values[s] for s in compared]) if PODS in of and compared else ""]
            rows.append(["", label, *cells, *marks[: len(pods_mark)], mark])
        loads = [
            f"{of[s]['load_before']:.1f}->{of[s]['load_after']:.1f}" if "load_after" in of.get(s, {}) else "-"
            for s in sides
        ]
        rows.append(["", "load average (1 min) before->after", *loads, *blank, ""])
    return header, rows


def _read(result: dict[str, Any] | None, read: Callable[[dict[str, Any]], float | None]) -> float | None:
    if result is None or "error" in result:
        return None
    value = read(result)
    return None if value is None else float(value)


def scoreboard(rows: list[list[str]], column: int = -1) -> dict[str, int]:
    """How many figures each engine is ahead on (the side-by-side rows' last cell, or ``column``)."""
    counts = {"Overture": 0, "Argo": 0, "level": 0, "mixed": 0}
    for row in rows:
        word = row[column].split(" ", 1)[0]
        if word in counts:
            counts[word] += 1
    return counts


# --------------------------------------------------------------------------- Overture's own tables


def throughput_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for r in result.get("results", []):
        limit = r["limit"]
        for o in r["overture"]:
            fraction = (
                o["per_minute"] / limit["per_minute"] if o.get("per_minute") and limit.get("per_minute") else None
            )
            shards = "" if o.get("replicas", 1) == 1 else f" ({'+'.join(map(str, o['shards_held']))} shards)"
            latency = o.get("latency") or {}
            rows.append(
                [
                    f"{r['n']:,}",
                    RUNTIME_ROWS.get(r.get("runtime", ""), "Jobs"),
                    f"{o.get('replicas', 1)}{shards}",
                    f"{o['finished']}/{r['n']}",
                    " / ".join(f"{v:,.0f}" if v else "-" for v in (o.get("per_minute"), limit.get("per_minute"))),
                    f"{fraction:.0%}" if fraction else "-",
                    "-" if fraction is None else "met" if fraction >= 0.6 else "not met",
                    " / ".join("-" if latency.get(q) is None else f"{latency[q]:.1f} s" for q in ("p50", "p99")),
                    f"{o.get('writes_per_task_run', 0):.2f}",
                    f"{o.get('operator_cpu_seconds', 0):.1f} s",
                ]
            )
    return rows


def each_rows(results: dict[str, Any], items: int) -> list[list[str]]:
    """The N-item each: measured by the ``each`` part if it ran, else projected from the 1,000-item
    fan-out of the ``peer`` part (x N/1,000, labelled), plus the engine part's status of an each of N."""
    rows = []
    measured = [r for r in (results.get("each") or {}).get("results", []) if r["workload"] == f"fanout{items}"]
    for r in measured:
        if "error" in r:
            rows.append([r["engine"], "measured", "failed: " + r["error"][:60], "", "", ""])
            continue
        size = r.get("object_bytes") or 0
        rows.append(
            [
                r["engine"],
                f"measured ({r['ok']}/{r['runs']} ok)",
                f"{r['wall']:.0f} s" if r["wall"] is not None else "unfinished",
                f"{size / 1024:,.0f} KiB",
                "yes" if size and size < MIB else "no",
                f"{r['cpu_per_task'] * 1000:.0f} ms CPU/task, RSS {r['rss_mib']:.0f} MiB",
            ]
        )
    if not measured:
        scale = items / 1000
        for r in (results.get("peer") or {}).get("results", []):
            if r["workload"] != "fanout1000" or "error" in r or r["wall"] is None:
                continue
            size = (r.get("object_bytes") or 0) * scale
            rows.append(
                [
                    r["engine"],
                    f"projected: {scale:g} x this run's 1,000-item fan-out",
                    f"~{r['wall'] * scale:,.0f} s",
                    f"~{size / 1024:,.0f} KiB",
                    ("yes" if size < MIB else "no") + " (projected)",
                    "",
                ]
            )
    for c in (results.get("engine") or {}).get("per_call", []):
        if c["shape"] == "each" and c["task_runs"] == items:
            rows.append(
                [
                    "Overture engine alone",
                    f"measured: status of a half-done each of {items:,} (no cluster)",
                    "",
                    f"{c['status_bytes'] / 1024:,.0f} KiB",
                    "yes" if c["status_bytes"] < MIB else "no",
                    f"reconcile p50 {c['reconcile']['p50'] * 1000:.0f} ms",
                ]
            )
    return rows


# --------------------------------------------------------------------------- the report


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """benchmarks.common.print_table's layout, as text."""
    cells = [header, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    body = [line]
    for index, row in enumerate(cells):
        body.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            body.append(line)
    body.append(line)
    return "\n".join([f"\n{title}", *body])


def render(run: dict[str, Any]) -> str:
    results, parts = run["results"], run["parts"]
    out = [
        f"Issue 16, one run: started {run['started']} UTC at {run['commit']}; cluster {run['cluster']}",
        f"machine: {run['machine']}",
    ]
    out.append(
        table(
            "Parts (load average, 1 min)",
            ["part", "took", "load before -> after", "state"],
            [
                [
                    name,
                    f"{p['seconds']:.0f} s" if "seconds" in p else "-",
                    f"{p['load_before']:.1f} -> {p['load_after']:.1f}" if "load_after" in p else "-",
                    p.get("error", p.get("state", "")).splitlines()[0][:100],
                ]
                for name, p in parts.items()
            ],
        )
    )
    sides = [results.get(name) or {} for name in ("peer", "each")]  # the each part: its own workload
    peer_results = [r for part in sides for r in part.get("results", [])]
    if peer_results:
        titles = {k: w["title"] for part in sides for k, w in part.get("workloads", {}).items()}
        header, rows = side_by_side(peer_results, titles)
        version = next((p["argo_version"] for p in sides if p.get("argo_version", "(not run)") != "(not run)"), "")
        out.append(
            table(
                f"Overture vs Argo Workflows {version} side by side "
                "(busybox `true` tasks, one engine at a time; lower is better everywhere)",
                header,
                rows,
            )
        )
        score = scoreboard(rows)
        pods = scoreboard(rows, -2) if PODS in header else None
        with_pods = (
            f"with pods (OVERTURE_TASK_RUNTIME=pod): Overture ahead on {pods['Overture']}, Argo on {pods['Argo']}, "
            f"level {pods['level']}, mixed {pods['mixed']}\n"
            if pods
            else ""
        )
        out.append(
            f"figures where Overture is ahead: {score['Overture']}, Argo: {score['Argo']}, "
            f"level: {score['level']}, mixed (between Argo's two requeues): {score['mixed']}\n"
            + with_pods
            + "writes: counted by the API server per FlowSchema; 'all' adds the pods' own (Argo's executor) and the\n"
            "kubelet's, Job controller's and scheduler's in the namespace; run object: compact JSON, last seen"
        )
    engine_result = results.get("engine") or {}
    if engine_result.get("per_call"):
        rows = [engine.per_call_row(c) for c in engine_result["per_call"]]
        out.append(table(f"{engine.PER_CALL_TITLE}; Overture alone, no cluster", engine.PER_CALL_HEADER, rows))
    if engine_result.get("end_to_end"):
        e2e = engine_result["end_to_end"]
        out.append(table(engine.end_to_end_title(e2e), engine.END_TO_END_HEADER, [engine.end_to_end_row(e2e)]))
    items = run["each_items"]
    rows = each_rows(results, items)
    if rows:
        out.append(
            table(
                f"{items:,}-item each (target: the Execution under 1 MiB; etcd's limit is 1.5 MiB)",
                ["engine", "how", "time", "run object", "< 1 MiB", ""],
                rows,
            )
        )
    if results.get("throughput", {}).get("results"):
        out.append(
            table(
                "Throughput (Overture): N executions of a 2-task flow at once, against a bare script making the "
                "same Jobs (managed-job: and their pods) or pods (target >= 60 %)",
                [
                    "N",
                    "tasks as",
                    "replicas",
                    "done",
                    "per min: ours / limit",
                    "fraction",
                    "target",
                    "latency p50 / p99",
                    "writes/task",
                    "CPU",
                ],
                throughput_rows(results["throughput"]),
            )
        )
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- running it


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (" (uncommitted changes)" if git("status", "--porcelain") else "")


async def run_part(name: str, args: argparse.Namespace, progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """One part; ``progress`` gets the peer sides finished so far (saved as a partial result)."""
    quick, requeues = args.quick, args.requeue.split(",") if args.requeue else None
    if name == "engine":
        argv = ["--quick"] if quick else []
        return await asyncio.to_thread(engine.main, [*argv, "--budget-e2e", str(args.engine_budget)], lambda *_: None)
    if name == "throughput":
        runtimes = args.runtimes.split(",")
        return await throughput.bench(quick, [200] if quick else [1000], [1, 2], runtimes, pod_replicas=[1])
    if name not in ("peer", "each"):
        raise ValueError(name)
    workloads = args.workloads.split(",") if args.workloads else None
    engines = ["overture", "argo"] + (["overture-pods"] if "pod" in args.runtimes.split(",") else [])
    if name == "each":
        workloads, engines = [f"fanout{args.each_items}"], args.each_engines.split(",")
    titles = {w.key: {"title": w.title} for w in peer.chosen_workloads(quick, workloads)}

    def partial(results: list[dict[str, Any]]) -> None:
        progress({"partial": True, "workloads": titles, "results": list(results)})

    return await peer.bench(quick, workloads, requeues, engines, progress=partial)


async def main_async(args: argparse.Namespace, parts: list[str]) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    run: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "commit": commit(),
        "cluster": kubeconfig_path(),
        "machine": machine(),
        "quick": args.quick,
        "each_items": args.each_items,
        "parts": {name: {"state": "not run yet"} for name in parts},
        "results": {},
    }
    if set(parts) - {"engine"}:
        await install_overture_crds()
    for name in parts:
        part = run["parts"][name] = {"state": "running", "load_before": os.getloadavg()[0]}
        started = time.monotonic()
        print(f"\n=== {name} (load average {part['load_before']:.1f}) ===", flush=True)

        def progress(partial: dict[str, Any], name: str = name) -> None:
            run["results"][name] = partial
            save(run, stamp)

        try:
            run["results"][name] = await run_part(name, args, progress)
            part["state"] = "done"
        except Exception as exc:  # one broken part must not hide the others' figures
            print(f"[scale] {name} failed: {type(exc).__name__}: {exc}", flush=True)
            part["state"], part["error"] = "failed", f"{type(exc).__name__}: {exc}"
        part["seconds"], part["load_after"] = time.monotonic() - started, os.getloadavg()[0]
        save(run, stamp)
    print(render(run), flush=True)
    return run


async def install_overture_crds() -> None:
    """The Flow and Execution CRDs, if the cluster has none yet (a fresh local cluster)."""
    api = await Api.connect()
    try:
        await peer.install_crds(api, ROOT / "crds")
    finally:
        await api.close()


def save(run: dict[str, Any], stamp: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    text, report = json.dumps({"benchmark": "scale", **run}, indent=2, default=str), render(run)
    for name in (f"scale-{stamp}", "scale-latest"):
        (RESULTS / f"{name}.json").write_text(text)
        (RESULTS / f"{name}.txt").write_text(report)
    print(f"[scale] report so far: {(RESULTS / f'scale-{stamp}.txt').relative_to(ROOT)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes in every part (engine, N=200, peer's small)"
    )
    parser.add_argument("--parts", default=",".join(DEFAULT_PARTS), help=f"comma-separated, in order, of {PARTS}")
    parser.add_argument("--workloads", help="the peer part's workloads (benchmarks.peer --workloads)")
    parser.add_argument("--requeue", help="Argo's DEFAULT_REQUEUE_TIME values (default 10s,2s)")
    parser.add_argument(
        "--engine-budget", type=float, default=120.0, help="seconds for the engine's 5,000-task flow end to end"
    )
    parser.add_argument("--each-items", type=int, default=10000, help="items of the each part's fan-out")
    parser.add_argument("--each-engines", default="overture", help="engines of the each part: overture[,argo]")
    parser.add_argument(
        "--runtimes",
        default=f"{DEFAULT_TASK_RUNTIME},pod",
        help="Overture's task runtimes in the throughput part: managed-job (the operator's default: a Job per "
        "task), job, pod; pod also adds the peer part's column 'Overture (pods)' (OVERTURE_TASK_RUNTIME=pod); "
        f"default {DEFAULT_TASK_RUNTIME},pod",
    )
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    terminate_gracefully()
    asyncio.run(main_async(args, parts))


if __name__ == "__main__":
    main()
