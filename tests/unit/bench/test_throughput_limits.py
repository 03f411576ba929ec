"""The throughput benchmark's bare script makes what each task runtime makes (benchmarks.throughput)."""

from __future__ import annotations

import sys
from pathlib import Path

from overture.kube.managed_jobs import MANAGED_BY, is_managed
from overture.kube.pods import JOB, MANAGED_JOB, POD

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not of the installed package

from benchmarks.throughput import BARE_SUFFIXES, manifest  # noqa: E402


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
