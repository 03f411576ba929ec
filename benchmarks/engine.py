"""The engine alone: what one reconcile of a big execution costs, with no cluster.

    python -m benchmarks.engine [--sizes 100,1000,10000] [--e2e 5000] [--local 5000] [--quick]

1. **Per call** (the scaling table): an execution half way through, for each shape and size N
   (task runs): ``sequential`` (N tasks in a list), ``dag`` (N tasks, each ``dependsOn`` the one
   before), ``each`` (an ``each`` of N items, ``concurrencyLimit`` 100). Each call does what one
   reconcile of the operator does with the Execution: parse it from its JSON (``parse_execution``),
   ``step`` it with one more Job seen finished, write the status back to JSON (``to_wire``).
   Printed: p50 / p99 ms of each part, over up to ``--calls`` consecutive calls (fewer when a
   case runs past ``--budget`` seconds), and the status size.
2. **End to end**: a flat flow of ``--e2e`` tasks from CREATED to SUCCESS through the same calls,
   every Job seen finished at the next call (a completer with no latency): calls, wall time, p50 /
   p99 per call. Stops at ``--budget-e2e`` seconds and says how far it got.
3. **Local** (``--local N``): ``overture local run`` of a flat flow of N ``true`` tasks, as a
   person runs it (real processes); stops at ``--budget-e2e``.

The half-done executions are written directly in the shape the engine writes (ids, Jobs named
by ``job_name``, one attempt each), since reaching the half way mark by stepping would take the
same O(N) calls the end to end figure measures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, ms, print_table, summary, write_result
from overture.api import FlowSpec, State, parse_execution, task_run_counts
from overture.engine import CreateJob, JobObservation, JobPhase, Observed, job_name, step

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
STAMP = "2026-01-01T12:00:00Z"
EXECUTION = "bench-1"
EACH_LIMIT = 100
SHAPES = ("sequential", "dag", "each")


# --------------------------------------------------------------------------- the executions


def flow_of(shape: str, n: int) -> dict[str, Any]:
    task = {"type": "shell", "commands": ["true"]}
    if shape == "sequential":
        return {"tasks": [{"id": f"t{i}", **task} for i in range(n)]}
    if shape == "dag":
        return {"tasks": [{"id": f"t{i}", **task, **({"dependsOn": [f"t{i - 1}"]} if i else {})} for i in range(n)]}
    items = list(range(n))
    each = {
        "id": "fan",
        "type": "each",
        "items": items,
        "concurrencyLimit": EACH_LIMIT,
        "tasks": [{"id": "work", **task}],
    }
    return {"tasks": [each]}


def _run(run_id: str, task_id: str, done: bool, **extra: Any) -> dict[str, Any]:
    job = job_name(EXECUTION, run_id, 1)
    attempt: dict[str, Any] = {"attempt": 1, "job": job, "state": "RUNNING", "pod": f"{job}-x7k2p", "startDate": STAMP}
    run: dict[str, Any] = {"id": run_id, "taskId": task_id, "state": "RUNNING", "startDate": STAMP, **extra}
    if done:
        attempt.update(state="SUCCESS", endDate=STAMP, exitCode=0)
        run.update(state="SUCCESS", endDate=STAMP, outputs={})
    run["attempts"] = [attempt]
    return run


def half_done(shape: str, n: int) -> tuple[dict[str, Any], list[str]]:
    """The Execution (as JSON) half way through, and the Jobs still running, oldest first."""
    flow = flow_of(shape, n)
    half = n // 2
    if shape == "each":
        running = range(half, min(n, half + EACH_LIMIT))
        runs = [_run("fan", "fan", False, value=list(range(n)))]
        runs[0]["attempts"] = []
        runs += [_run(f"work[{i}]", "work", i < half, parent="fan", iteration=i, value=i) for i in range(running.stop)]
        jobs = [job_name(EXECUTION, f"work[{i}]", 1) for i in running]
    else:
        runs = [_run(f"t{i}", f"t{i}", i < half) for i in range(half + 1)]
        jobs = [job_name(EXECUTION, f"t{half}", 1)]
    return _execution(flow, runs, "RUNNING"), jobs


def _execution(flow: dict[str, Any], runs: list[dict[str, Any]], state: str) -> dict[str, Any]:
    status: dict[str, Any] = {"state": state, "taskRuns": runs, "flowSpec": flow, "inputs": {}}
    if state != "CREATED":
        status.update(startDate=STAMP, observedGeneration=1)
    return {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": EXECUTION, "namespace": "bench", "generation": 1},
        "spec": {"flowRef": {"name": "bench"}},
        "status": status,
    }


# --------------------------------------------------------------------------- one reconcile


@dataclass
class Completer:
    """Plays the cluster: every Job it is told of is Running until ``finish`` says it ended."""

    jobs: dict[str, JobObservation]

    @classmethod
    def of(cls, finished: list[str], running: list[str]) -> Completer:
        completer = cls({})
        for name in finished:
            completer.finish(name)
        for name in running:
            completer.jobs[name] = JobObservation(name, JobPhase.RUNNING, pod=f"{name}-x7k2p")
        return completer

    def finish(self, name: str) -> None:
        self.jobs[name] = JobObservation(
            name, JobPhase.SUCCEEDED, pod=f"{name}-x7k2p", exit_code=0, termination_message="{}"
        )

    def created(self, request: CreateJob) -> None:
        self.jobs.setdefault(request.name, JobObservation(request.name, JobPhase.RUNNING, pod=f"{request.name}-x7k2p"))


@dataclass
class Timings:
    parse: list[float]
    step: list[float]
    wire: list[float]

    @property
    def total(self) -> list[float]:
        return [a + b + c for a, b, c in zip(self.parse, self.step, self.wire, strict=True)]


def reconcile(
    body: dict[str, Any], completer: Completer, now: datetime, timings: Timings, flow: FlowSpec | None = None
) -> dict[str, Any]:
    """Parse, step and write back, as the operator does; new Jobs are handed to the completer.
    ``flow`` is read only by the first call (the operator passes the Flow until it is snapshotted)."""
    started = time.perf_counter()
    execution = parse_execution(body)
    parsed = time.perf_counter()
    decision = step(flow, execution, Observed(jobs=dict(completer.jobs)), now)
    stepped = time.perf_counter()
    status = decision.status.to_wire()
    written = time.perf_counter()
    timings.parse.append(parsed - started)
    timings.step.append(stepped - parsed)
    timings.wire.append(written - stepped)
    for action in decision.actions:
        if isinstance(action, CreateJob):
            completer.created(action)
    return {**body, "status": status}


# --------------------------------------------------------------------------- the scenarios


def per_call(shape: str, n: int, calls: int, budget: float) -> dict[str, Any]:
    body, running = half_done(shape, n)
    finished = [r["attempts"][0]["job"] for r in body["status"]["taskRuns"] if r["state"] == "SUCCESS"]
    completer = Completer.of(finished, running)
    timings = Timings([], [], [])
    began = time.perf_counter()
    now = T0
    for _ in range(calls):
        oldest = next((name for name, job in completer.jobs.items() if job.phase == JobPhase.RUNNING), None)
        if oldest is not None:
            completer.finish(oldest)
        now += timedelta(seconds=1)
        body = reconcile(body, completer, now, timings)
        if time.perf_counter() - began > budget:
            break
    return {
        "shape": shape,
        "task_runs": n,
        "calls": len(timings.step),
        "parse": summary(timings.parse),
        "step": summary(timings.step),
        "wire": summary(timings.wire),
        "reconcile": summary(timings.total),
        "status_bytes": len(json.dumps(body)),  # as the last call wrote it
    }


def end_to_end(n: int, budget: float) -> dict[str, Any]:
    flow = FlowSpec.model_validate(flow_of("sequential", n))
    body = _execution(flow_of("sequential", n), [], "CREATED")
    del body["status"]
    completer = Completer({})
    timings = Timings([], [], [])
    began = time.perf_counter()
    now = T0
    while time.perf_counter() - began < budget:
        for name, job in list(completer.jobs.items()):
            if job.phase == JobPhase.RUNNING:
                completer.finish(name)
        now += timedelta(seconds=1)
        body = reconcile(body, completer, now, timings, flow)
        if State(body["status"]["state"]).is_terminal:
            break
    wall = time.perf_counter() - began
    return {
        "tasks": n,
        "state": body["status"]["state"],
        "tasks_done": task_run_counts(body["status"]).get("SUCCESS", 0),  # archived runs included
        "calls": len(timings.step),
        "wall_seconds": wall,
        "step": summary(timings.step),
        "reconcile": summary(timings.total),
        "status_bytes": len(json.dumps(body)),
    }


def local_run(n: int, budget: float) -> dict[str, Any]:
    """``overture local run`` of n sequential ``true`` tasks, as a person runs it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flat.yaml"
        flow = {"apiVersion": "overture.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "flat"}}
        path.write_text(json.dumps({**flow, "spec": flow_of("sequential", n)}))
        command = [sys.executable, "-m", "overture", "local", "run", str(path), "--no-logs"]
        began = time.perf_counter()
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=budget, cwd=ROOT)
            ended = f"exit code {result.returncode}"
        except subprocess.TimeoutExpired:
            ended = f"stopped after {budget:.0f} s"
        return {"tasks": n, "wall_seconds": time.perf_counter() - began, "ended": ended}


# --------------------------------------------------------------------------- main


def _p(s: dict[str, Any]) -> str:
    return f"{_ms(s['p50'])} / {_ms(s['p99'])}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.2f}" if value < 0.1 else ms(value).removesuffix(" ms")


PER_CALL_TITLE = "Engine, one reconcile of an execution half way through (ms, p50 / p99)"
PER_CALL_HEADER = ["shape", "task runs", "calls", "parse", "step", "to_wire", "reconcile", "status"]
END_TO_END_HEADER = ["state", "tasks done", "calls", "wall", "step p50 / p99 ms", "reconcile p50 / p99 ms", "status"]


def per_call_row(c: dict[str, Any]) -> list[str]:
    return [
        c["shape"],
        f"{c['task_runs']:,}",
        str(c["calls"]),
        _p(c["parse"]),
        _p(c["step"]),
        _p(c["wire"]),
        _p(c["reconcile"]),
        f"{c['status_bytes'] / 1024:,.0f} KiB",
    ]


def end_to_end_title(e2e: dict[str, Any]) -> str:
    return f"Engine end to end: a flat flow of {e2e['tasks']:,} tasks, parse + step + to_wire per call"


def end_to_end_row(e2e: dict[str, Any]) -> list[str]:
    return [
        e2e["state"],
        f"{e2e['tasks_done']:,}",
        f"{e2e['calls']:,}",
        f"{e2e['wall_seconds']:.1f} s",
        _p(e2e["step"]),
        _p(e2e["reconcile"]),
        f"{e2e['status_bytes'] / 1024:,.0f} KiB",
    ]


def main(argv: list[str] | None = None, report: Callable[[str, dict[str, Any]], Any] = write_result) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="task runs per execution (comma-separated)")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--calls", type=int, default=50, help="consecutive calls measured per case")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per case before it stops early")
    parser.add_argument("--e2e", type=int, default=5000, help="tasks of the end-to-end flat flow (0: skip)")
    parser.add_argument("--budget-e2e", type=float, default=300.0)
    parser.add_argument("--local", type=int, default=0, help="tasks of the overture local run flow (0: skip)")
    parser.add_argument("--quick", action="store_true", help="sizes 100,1000; e2e 1000")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.e2e = "100,1000", min(args.e2e, 1000)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    cases = [per_call(shape, n, args.calls, args.budget) for shape in args.shapes.split(",") for n in sizes]
    print_table(PER_CALL_TITLE, PER_CALL_HEADER, [per_call_row(c) for c in cases])
    result: dict[str, Any] = {"per_call": cases}
    if args.e2e:
        e2e = end_to_end(args.e2e, args.budget_e2e)
        result["end_to_end"] = e2e
        print_table(end_to_end_title(e2e), END_TO_END_HEADER, [end_to_end_row(e2e)])
    if args.local:
        local = local_run(args.local, args.budget_e2e)
        result["local_run"] = local
        print(
            f"\noverture local run, {args.local:,} sequential `true` tasks:"
            f" {local['wall_seconds']:.1f} s ({local['ended']})"
        )
    report("engine", result)
    return result


if __name__ == "__main__":
    main()
