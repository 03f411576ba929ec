"""The throughput benchmark's bare script makes what each task runtime makes (benchmarks.throughput)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from overture.kube.managed_jobs import MANAGED_BY, is_managed
from overture.kube.pods import JOB, MANAGED_JOB, POD

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not of the installed package

from benchmarks.throughput import (  # noqa: E402
    BARE_SUFFIXES,
    fraction_of,
    fractions_by_setup,
    manifest,
    median_fraction,
)


def test_each_runtimes_limit_makes_what_that_runtime_makes() -> None:
    built_in, managed, pod = (manifest("ns", "bare-00001", 0, runtime) for runtime in (JOB, MANAGED_JOB, POD))
    assert (built_in["kind"], is_managed(built_in)) == ("Job", False)
    assert (managed["kind"], managed["spec"]["managedBy"]) == ("Job", MANAGED_BY)
    assert pod["kind"] == "Pod"
    names = {body["metadata"]["name"] for body in (built_in, managed, pod)}
    assert names == {"bare-00001-t00-1"}  # the same attempt, whatever makes it
    assert all("ownerReferences" not in body["metadata"] for body in (built_in, managed, pod))  # no Execution


def test_each_limit_runs_in_a_namespace_named_for_its_runtime() -> None:
    assert (BARE_SUFFIXES.get(JOB, ""), BARE_SUFFIXES[MANAGED_JOB], BARE_SUFFIXES[POD]) == ("", "-managed", "-pods")


def pair(n: int, runtime: str, ours: float | None, limit: float | None, replicas: int = 1) -> dict[str, Any]:
    return {
        "n": n,
        "runtime": runtime,
        "limit": {"per_minute": limit},
        "overture": [{"replicas": replicas, "per_minute": ours}],
    }


def test_repeated_pairs_give_each_setup_its_fractions_in_order_and_their_median() -> None:
    results = [
        pair(1000, MANAGED_JOB, 1200, 2000),
        pair(1000, POD, 500, 1000),
        pair(1000, MANAGED_JOB, 1500, 2000),
        pair(1000, POD, 700, 1000),
        pair(1000, MANAGED_JOB, 1000, 2000),
        pair(1000, MANAGED_JOB, 1000, 2000, replicas=2),
    ]
    by_setup = fractions_by_setup(results)
    assert by_setup[(1000, MANAGED_JOB, 1)] == [0.6, 0.75, 0.5]
    assert by_setup[(1000, POD, 1)] == [0.5, 0.7]
    assert by_setup[(1000, MANAGED_JOB, 2)] == [0.5]
    assert median_fraction(by_setup[(1000, MANAGED_JOB, 1)]) == 0.6  # odd: the middle one
    assert median_fraction(by_setup[(1000, POD, 1)]) == 0.6  # even: between the two middle ones


def test_a_pair_that_did_not_finish_counts_as_nothing_done_not_as_left_out() -> None:
    assert fraction_of({"per_minute": None}, {"per_minute": 2000}) is None
    assert fraction_of({"per_minute": 1000}, {"per_minute": None}) is None
    assert median_fraction([0.7, None, 0.65]) == 0.65  # the timed-out pair pulls the median down
    assert median_fraction([]) is None
