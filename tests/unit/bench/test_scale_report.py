"""benchmarks/scale.py's report: which engine a figure marks as ahead is what benchmarks/README.md
quotes, so the marking is checked here (the benchmarks themselves assert nothing)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not of the installed package

from benchmarks.scale import ahead, each_rows, scoreboard, side_by_side  # noqa: E402


def test_lower_is_ahead_against_every_argo_side() -> None:
    assert ahead(10.0, [38.0, 28.0]) == "Overture (3.80x / 2.80x)"
    assert ahead(330.0, [238.0, 207.0]) == "Argo (0.72x / 0.63x)"


def test_within_five_percent_is_level_and_between_the_sides_is_mixed() -> None:
    assert ahead(100.0, [103.0, 98.0]) == "level (1.03x / 0.98x)"
    assert ahead(100.0, [120.0, 90.0]) == "mixed (1.20x / 0.90x)"
    assert ahead(100.0, [120.0, 100.0]) == "mixed (1.20x / 1.00x)"


def test_an_unfinished_run_is_behind_any_finished_one() -> None:
    assert ahead(None, [400.0]) == "Argo (Overture unfinished)"
    assert ahead(80.0, [None, None]) == "Overture (Argo unfinished)"
    assert ahead(None, [None]) == "-"


def test_zero_is_ahead_of_anything_but_zero() -> None:
    assert ahead(0.0, [3.0]) == "Overture"
    assert ahead(0.0, [0.0]) == "level"


def result(engine: str, wall: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "workload": "seq40",
        "engine": engine,
        "node": "real",
        "ok": 1,
        "runs": 1,
        "wall": wall,
        "writes_per_task": 2.0,
        "pod_writes_per_task": 0.0,
        "other_writes_per_task": 18.0,
        "cpu_per_task": 0.064,
        "rss_mib": 73.0,
        "peak_rss_mib": 80.0,
        "object_bytes": 20480,
        "load_before": 1.0,
        "load_after": 2.0,
        **extra,
    }


def test_side_by_side_marks_each_figure_and_the_scoreboard_counts_them() -> None:
    results = [
        result("Overture", 125.0),
        result("Argo (requeue 10s)", 476.0, writes_per_task=7.3, pod_writes_per_task=3.0, rss_mib=79.0),
        result("Argo (requeue 2s)", 351.0, writes_per_task=9.9, pod_writes_per_task=3.0, rss_mib=60.0),
    ]
    header, rows = side_by_side(results, {"seq40": "40 sequential tasks"})
    assert header == [
        "workload",
        "figure",
        "Overture",
        "Argo (requeue 10s)",
        "Argo (requeue 2s)",
        "ahead (Argo / Overture)",
    ]
    by_figure = {row[1]: row for row in rows}
    assert by_figure["wall"][2:] == ["125.0 s", "476.0 s", "351.0 s", "Overture (3.81x / 2.81x)"]
    assert by_figure["controller writes/task"][-1].startswith("Overture")
    assert by_figure["controller RSS at the end"][-1] == "mixed (1.08x / 0.82x)"
    assert by_figure["controller CPU/task"][-1] == "level (1.00x / 1.00x)"
    assert by_figure["load average (1 min) before->after"][2:] == ["1.0->2.0", "1.0->2.0", "1.0->2.0", ""]
    assert scoreboard(rows) == {"Overture": 3, "Argo": 0, "level": 3, "mixed": 1}


def test_the_pod_runtime_gets_a_column_and_its_own_mark_against_argo() -> None:
    results = [
        result("Overture", 125.0, writes_per_task=2.0, other_writes_per_task=8.0),
        result("Overture (pods)", 100.0, writes_per_task=2.1, other_writes_per_task=4.0),
        result("Argo (requeue 10s)", 476.0, writes_per_task=3.0, pod_writes_per_task=3.0, other_writes_per_task=2.0),
    ]
    header, rows = side_by_side(results, {})
    assert header == [
        "workload",
        "figure",
        "Overture",
        "Overture (pods)",
        "Argo (requeue 10s)",
        "ahead, pods (Argo / Overture (pods))",
        "ahead (Argo / Overture)",
    ]
    by_figure = {row[1]: row for row in rows}
    assert by_figure["wall"][2:] == ["125.0 s", "100.0 s", "476.0 s", "Overture (4.76x)", "Overture (3.81x)"]
    assert by_figure["all writes/task in the namespace"][-2:] == ["Overture (1.31x)", "Argo (0.80x)"]
    assert by_figure["runs succeeded"][2:] == ["1/1", "1/1", "1/1", "", ""]
    assert scoreboard(rows, -2)["Overture"] == scoreboard(rows)["Overture"] + 1


def test_a_failed_side_is_named_and_left_out_of_the_figures() -> None:
    results = [result("Overture", 125.0), {"workload": "seq40", "engine": "Argo (requeue 10s)", "error": "boom"}]
    _, rows = side_by_side(results, {})
    assert rows[0] == ["seq40", "failed", "", "", "Argo (requeue 10s): boom"]
    assert {row[1]: row for row in rows}["wall"][2:] == ["125.0 s", "-", "Overture (Argo unfinished)"]


def test_the_10000_item_each_is_projected_from_the_1000_item_fan_out_unless_measured() -> None:
    fanout = result("Overture", 200.0, workload="fanout1000", object_bytes=50 * 1024)
    projected = each_rows({"peer": {"results": [fanout]}}, 10000)
    assert projected == [
        ["Overture", "projected: 10 x this run's 1,000-item fan-out", "~2,000 s", "~500 KiB", "yes (projected)", ""]
    ]
    measured = result("Overture", 2500.0, workload="fanout10000", object_bytes=400 * 1024)
    rows = each_rows({"peer": {"results": [fanout]}, "each": {"results": [measured]}}, 10000)
    assert [row[:5] for row in rows] == [["Overture", "measured (1/1 ok)", "2500 s", "400 KiB", "yes"]]


def test_argo_sides_not_run_yet_are_not_compared() -> None:
    results = [result("Argo (requeue 10s)", 400.0, workload="runs20"), result("Overture", 125.0)]
    _, rows = side_by_side(results, {})
    seq40 = rows[[row[0] for row in rows].index("seq40") :]
    assert {row[1]: row for row in seq40}["wall"][2:] == ["125.0 s", "not run", ""]
