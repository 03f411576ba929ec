"""Finished task runs of a big execution are archived in its status and read back whole (api/run_archive.py)."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest

from overture.api import SpecError, parse_execution
from overture.api.run_archive import ARCHIVE_AFTER, FAILURES_SHOWN, task_run_counts, task_runs_of

STAMP = "2026-01-01T12:00:00Z"


def run(index: int, state: str = "SUCCESS") -> dict[str, Any]:
    job = f"big-1-work-{index}-1"
    attempt = {"attempt": 1, "job": job, "state": state, "pod": f"{job}-x7k2p", "startDate": STAMP}
    body: dict[str, Any] = {
        "id": f"work[{index}]",
        "taskId": "work",
        "state": state,
        "parent": "fan",
        "iteration": index,
        "value": f"s3://bucket/{index:05d}.csv",
        "attempts": [attempt],
        "startDate": STAMP,
    }
    if state in ("SUCCESS", "FAILED"):
        attempt.update(endDate=STAMP, exitCode=0 if state == "SUCCESS" else 1)
        body["endDate"] = STAMP
        body["outputs" if state == "SUCCESS" else "message"] = {"rows": index} if state == "SUCCESS" else "exit 1"
    return body


def execution(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": "big-1", "namespace": "default"},
        "spec": {"flowRef": {"name": "big"}},
        "status": {"state": "RUNNING", "startDate": STAMP, "taskRuns": runs},
    }


def mixed(count: int, failed_every: int = 0, running_from: int | None = None) -> list[dict[str, Any]]:
    """``count`` runs: SUCCESS, every ``failed_every``-th FAILED, RUNNING from ``running_from`` on."""
    states = [
        "RUNNING"
        if running_from is not None and i >= running_from
        else "FAILED"
        if failed_every and i % failed_every == 0
        else "SUCCESS"
        for i in range(count)
    ]
    return [run(i, s) for i, s in enumerate(states)]


def test_a_small_status_is_written_in_full_with_its_counts() -> None:
    runs = mixed(ARCHIVE_AFTER, failed_every=50, running_from=ARCHIVE_AFTER - 3)

    wire = parse_execution(execution(runs)).to_wire()["status"]

    assert "archivedRuns" not in wire
    assert [r["id"] for r in wire["taskRuns"]] == [r["id"] for r in runs]
    assert wire["taskRunCounts"] == {"FAILED": 4, "RUNNING": 3, "SUCCESS": ARCHIVE_AFTER - 7}


def test_a_big_status_shows_unfinished_runs_and_the_first_failures_and_archives_the_rest() -> None:
    runs = mixed(1000, failed_every=10, running_from=990)

    wire = parse_execution(execution(runs)).to_wire()["status"]

    shown = [r["id"] for r in wire["taskRuns"]]
    first_failures = [f"work[{i}]" for i in range(0, 990, 10)][:FAILURES_SHOWN]
    assert shown == first_failures + [f"work[{i}]" for i in range(990, 1000)]
    assert wire["archivedRuns"]["runs"] == 1000 - len(shown)
    assert wire["taskRunCounts"] == {"FAILED": 99, "RUNNING": 10, "SUCCESS": 891}


def allowed_failure(index: int) -> dict[str, Any]:
    """A run whose attempt failed and whose task has ``allowFailure``: it ends WARNING."""
    body = run(index, "FAILED")
    return {**body, "state": "WARNING", "message": "failed (allowFailure): exit 1"}


def test_a_big_status_shows_the_failures_allowfailure_let_pass() -> None:
    runs = [allowed_failure(i) if i % 100 == 7 else run(i) for i in range(1000)]

    wire = parse_execution(execution(runs)).to_wire()["status"]

    assert [r["id"] for r in wire["taskRuns"]] == [f"work[{i}]" for i in range(7, 1000, 100)]
    assert all(r["message"] == "failed (allowFailure): exit 1" for r in wire["taskRuns"])
    assert wire["taskRunCounts"] == {"SUCCESS": 990, "WARNING": 10}


def test_an_archived_status_reads_back_as_the_same_runs_in_the_same_order() -> None:
    runs = mixed(1000, failed_every=7, running_from=995)
    original = parse_execution(execution(runs))

    wire = original.to_wire()
    again = parse_execution(wire)

    assert again == original
    assert task_runs_of(wire["status"]) == runs
    assert task_run_counts(wire["status"]) == {"FAILED": 143, "RUNNING": 5, "SUCCESS": 852}
    assert again.to_wire() == wire


def test_a_thousand_finished_runs_take_a_fraction_of_their_size() -> None:
    runs = mixed(1000)

    wire = parse_execution(execution(runs)).to_wire()

    full = len(json.dumps(execution(runs)))
    archived = len(json.dumps(wire))
    print(f"\n1,000 finished runs: {full:,} bytes in full, {archived:,} archived")
    assert archived < full / 5


def test_counts_of_a_status_written_before_counts_existed_come_from_its_runs() -> None:
    status = {"taskRuns": [run(0), run(1, "FAILED")]}

    assert task_run_counts(status) == {"FAILED": 1, "SUCCESS": 1}
    assert task_runs_of(status) == status["taskRuns"]


def _chunk(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw)).decode()


@pytest.mark.parametrize(
    ("archive", "says"),
    [
        ({"encoding": "gzip", "runs": 1, "chunks": []}, "archivedRuns.encoding"),
        ({"encoding": "zlib+base64", "runs": 1, "chunks": "x"}, "archivedRuns.chunks: not a list"),
        ({"encoding": "zlib+base64", "runs": 1, "chunks": ["not base64!"]}, "archivedRuns.chunks[0]: cannot be read"),
        ({"encoding": "zlib+base64", "runs": 1, "chunks": [base64.b64encode(b"x").decode()]}, "cannot be read"),
        ({"encoding": "zlib+base64", "runs": 1, "chunks": [_chunk(b'{"a": 1}')]}, "chunks[0]: not a list"),
        ({"encoding": "zlib+base64", "runs": 1, "chunks": [_chunk(b"[]"), _chunk(b"[3]")]}, "chunks[1]: an entry is"),
        (
            {"encoding": "zlib+base64", "runs": 1, "chunks": [_chunk(b'[{"id": 3}]')]},
            "chunks[0]: entry 0 is not a task run (id:",
        ),
    ],
)
def test_an_unreadable_archive_is_a_spec_error_naming_the_field(archive: dict[str, Any], says: str) -> None:
    doc = execution([run(0)])
    doc["status"]["archivedRuns"] = archive

    with pytest.raises(SpecError) as caught:
        parse_execution(doc)

    assert any(says in p for p in caught.value.problems), caught.value.problems
