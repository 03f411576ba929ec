"""How long ``overture`` takes to start: ``overture validate FILE`` and ``overture --help``.

    python -m benchmarks.cli_startup [--runs 10] [--file examples/03-dag.yaml]

Each command runs ``--runs`` times as a person runs it (a new ``python -m overture`` process of
this interpreter, no cluster); printed: the median and the worst of wall time and of CPU time
(user + system of the child, from ``wait4``). CPU is the figure to compare on a shared machine:
wall time also counts waiting for a core. The target is under 0.3 s for ``validate``.

``python -X importtime -m overture validate FILE 2>imports.txt`` shows what the time goes to.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import print_table, write_result

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.3
# Bytecode is written and read, as for an installed package: without it (PYTHONDONTWRITEBYTECODE
# set, as in some CI shells) every start compiles overture's modules again, ~0.15 s more.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def timed_run(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit code of one run of ``argv``."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def measure(argv: list[str], runs: int) -> dict[str, Any]:
    # warm the page cache, the .pyc files and the Flow's validator in ~/.cache/overture: a person's
    # second run, not a cold disk
    timed_run(argv)
    walls, cpus, codes = [], [], set()
    for _ in range(runs):
        wall, cpu, code = timed_run(argv)
        walls.append(wall)
        cpus.append(cpu)
        codes.add(code)
    return {
        "command": " ".join(["overture", *argv[3:]]),
        "runs": runs,
        "exit_codes": sorted(codes),
        "wall_median": statistics.median(walls),
        "wall_max": max(walls),
        "cpu_median": statistics.median(cpus),
        "cpu_max": max(cpus),
    }


def main(argv: list[str] | None = None, report: Callable[[str, dict[str, Any]], Any] = write_result) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--file", default="examples/03-dag.yaml", help="the flow to validate")
    args = parser.parse_args(argv)
    overture = [sys.executable, "-m", "overture"]
    results = [measure([*overture, "validate", args.file], args.runs), measure([*overture, "--help"], args.runs)]
    rows = [
        [
            r["command"],
            f"{r['wall_median']:.3f} s",
            f"{r['wall_max']:.3f} s",
            f"{r['cpu_median']:.3f} s",
            f"{r['cpu_max']:.3f} s",
            ",".join(map(str, r["exit_codes"])),
        ]
        for r in results
    ]
    header = ["command", "wall median", "wall max", "CPU median", "CPU max", "exit"]
    print_table(f"CLI start-up, {args.runs} runs each (target: validate < {TARGET_SECONDS} s)", header, rows)
    data = {"target_seconds": TARGET_SECONDS, "load_average": os.getloadavg(), "results": results}
    report("cli_startup", data)
    return data


if __name__ == "__main__":
    main()
