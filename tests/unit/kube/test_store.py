"""The operator's cache: finished executions are packed, and read back exactly as they were put."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from overture.api.times import parse_time
from overture.kube.store import Store


def execution(name: str, state: str | None, restarts: int = 0, status_restarts: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": "7"},
        "spec": {"flowRef": {"name": "etl"}, "restarts": restarts},
    }
    if state is not None:
        body["status"] = {
            "state": state,
            "restarts": status_restarts,
            "endDate": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
            "taskRuns": [
                {"id": "a", "state": "SUCCESS", "outputs": {"rows": 42, "note": "x" * 300}},
                {"id": "b", "state": state},
            ],
        }
    return body


def test_a_finished_execution_is_packed_and_read_back_whole() -> None:
    store = Store()
    body = execution("done", "FAILED")
    store.put("execution", body)
    assert store.executions.unfinished() == []
    assert store.executions[("ns", "done")] == body
    assert store.unfinished_executions_of("ns", "etl") == []
    assert [(name, packed.state, packed.end) for name, packed in store.finished_executions_of("ns", "etl")] == [
        ("done", "FAILED", parse_time("2026-01-01T00:00:00+00:00"))
    ]
    assert len(store.executions) == 1
    assert ("ns", "done") in store.executions
    packed = store.executions._packed[("ns", "done")]
    assert len(packed.blob) < len(json.dumps(body)) / 2


def test_unfinished_and_restarted_executions_stay_live() -> None:
    store = Store()
    store.put("execution", execution("new", None))
    store.put("execution", execution("running", "RUNNING"))
    store.put("execution", execution("again", "FAILED", restarts=1, status_restarts=0))  # a restart was asked
    store.put("execution", execution("done", "SUCCESS"))
    assert sorted(name for _, name in store.executions.unfinished()) == ["again", "new", "running"]
    assert sorted(store.executions.states(), key=str) == sorted(
        [
            (None, {}),
            ("RUNNING", {"RUNNING": 1, "SUCCESS": 1}),
            ("FAILED", {"FAILED": 1, "SUCCESS": 1}),
            ("SUCCESS", {"SUCCESS": 2}),
        ],
        key=str,
    )


def test_a_finished_execution_restarted_goes_back_live_and_a_deleted_one_leaves() -> None:
    store = Store()
    store.put("execution", execution("done", "FAILED"))
    restarted = execution("done", "FAILED", restarts=1)
    restarted["metadata"]["resourceVersion"] = "8"
    store.put("execution", restarted)
    assert store.executions.unfinished() == [("ns", "done")]
    assert store.executions[("ns", "done")]["spec"]["restarts"] == 1
    assert store.unfinished_executions_of("ns", "etl") == [store.executions[("ns", "done")]]
    assert store.finished_executions_of("ns", "etl") == []
    store.put("execution", restarted, deleted=True)
    assert ("ns", "done") not in store.executions
    assert store.unfinished_executions_of("ns", "etl") == []


def test_an_older_copy_of_a_packed_execution_does_not_replace_it() -> None:
    store = Store()
    newer = execution("done", "SUCCESS")
    newer["metadata"]["resourceVersion"] = "9"
    store.put("execution", newer)
    store.put("execution", execution("done", "RUNNING"))  # resourceVersion 7: a late watch event
    assert store.executions[("ns", "done")]["status"]["state"] == "SUCCESS"


def test_the_store_knows_the_version_it_holds_of_an_unfinished_execution() -> None:
    """The watch's copy of the operator's own status write is recognised (and not reconciled again)."""
    store = Store()
    running = execution("run-1", "RUNNING")
    assert not store.holds_execution(running)
    store.put("execution", running)
    assert store.holds_execution(running)
    newer = {**running, "metadata": {**running["metadata"], "resourceVersion": "8"}}
    assert not store.holds_execution(newer)
    recreated = {**running, "metadata": {**running["metadata"], "uid": "u-other"}}
    assert not store.holds_execution(recreated)
    finished = execution("run-2", "SUCCESS")
    store.put("execution", finished)
    assert store.holds_execution(finished)  # packed: compared by resourceVersion


def test_the_echo_of_an_executions_last_write_is_known_without_decoding_it() -> None:
    """A finished execution is packed: its resourceVersion, kept beside it, says which version it is."""
    store = Store()
    finished = execution("run-2", "SUCCESS")
    store.put("execution", finished)
    packed = store.executions.packed(("ns", "run-2"))
    assert packed is not None
    assert packed.version == 7
    assert store.holds_execution(finished)
    later = {**finished, "metadata": {**finished["metadata"], "resourceVersion": "8"}}
    assert not store.holds_execution(later)


def test_an_older_copy_of_a_packed_execution_is_refused_by_its_revision_alone() -> None:
    store = Store()
    newer = execution("done", "SUCCESS")
    newer["metadata"]["resourceVersion"] = "9"
    store.put("execution", newer)
    packed = store.executions.packed(("ns", "done"))
    assert packed is not None
    store.executions._packed[("ns", "done")] = replace(packed, blob=b"not zlib")  # decoding it would fail
    store.put("execution", execution("done", "RUNNING"))  # resourceVersion 7: a late watch event
    assert store.executions.packed(("ns", "done")) is not None
    recreated = execution("done", None)
    recreated["metadata"].update(uid="u-new", resourceVersion="12")
    store.put("execution", recreated)
    assert store.executions.live(("ns", "done")) == recreated


def job(version: str, succeeded: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "run-1-a-1", "namespace": "ns", "resourceVersion": version, "labels": {}},
        "spec": {},
        "status": {"succeeded": succeeded} if succeeded else {},
    }


def test_a_created_jobs_answer_is_cached_unless_the_watch_showed_the_job_first() -> None:
    store = Store()
    store.put_created("job", job("5"))
    assert store.jobs[("ns", "run-1-a-1")]["metadata"]["resourceVersion"] == "5"
    watched = Store()
    watched.put("job", job("6", succeeded=1))  # the watch was faster, and the Job already ended
    watched.put_created("job", job("5"))
    assert watched.jobs[("ns", "run-1-a-1")]["metadata"]["resourceVersion"] == "6"
