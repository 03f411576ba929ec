"""Task files and big outputs in the engine (issue 15): the wrapper's manifest read back, file
references reaching later templates, outputs over the inline limit kept as a reference in status
and read from ``Observed.stored_outputs``, and a failure's message from the manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from support.flowdocs import parse_spec, shell
from support.sim import Cluster, make_execution, run_to_end

from overture.api import SpecError, State
from overture.engine import CreateJob, JobObservation, JobPhase, Observed
from overture.engine.attempts import failure_message
from overture.engine.outputs import read_manifest

FILES = {"out/data.csv": "s3://overture/n/run-1/run-1-extract-1/files/out/data.csv"}


def manifest(**fields: Any) -> str:
    return json.dumps({"overture": 1, "exitCode": 0, "ms": {"inputs": 0, "command": 1, "results": 1}, **fields})


def test_read_manifest_tells_a_manifest_from_plain_outputs() -> None:
    assert read_manifest('{"rows": 1}') is None
    assert read_manifest('{"overture": 2}') is None
    m = read_manifest(manifest(outputs={"a": 1}, logSize=10, warnings=["w"]))
    assert m is not None
    assert m.outputs == {"a": 1}
    assert m.log_size == 10
    assert m.warnings == ("w",)
    failed = read_manifest(manifest(exitCode=3, error="boom", logTail="password=hunter2\n"))
    assert failed is not None
    assert failed.error == "boom"
    job = JobObservation("j", JobPhase.FAILED, exit_code=3, termination_message=manifest(error="boom", logTail="pw\n"))
    assert failure_message(job) == "exit code 3: boom; its log: kubectl logs job/j"  # the wrapper's words, no log


@dataclass
class StoreCluster(Cluster):
    """Jobs end with a wrapper manifest; stored outputs are what the operator would have read."""

    stored: dict[str, dict[str, Any]] = field(default_factory=dict)

    def observe(self, now: datetime, **extra: Any) -> Observed:
        return super().observe(now, stored_outputs=dict(self.stored), **extra)


def by_task(request: CreateJob) -> tuple[bool, Any]:
    if request.task_id == "extract":
        return True, manifest(outputs={"files": FILES})
    if request.task_id == "big":
        return True, manifest(outputsSize=20016)
    if request.task_id == "broken":
        return False, manifest(exitCode=0, error='outputFiles: "*.csv" matched no file', logTail="done\n")
    return True, manifest()


def test_files_and_stored_outputs_reach_later_templates() -> None:
    flow, execution = make_execution(
        {
            "tasks": [
                {"id": "extract", "type": "python", "script": "x", "outputFiles": ["out/*.csv"]},
                {"id": "big", "type": "python", "script": "x"},
                {
                    "id": "load",
                    "type": "python",
                    "script": "{{ outputs.big.blob | length }}",
                    "inputFiles": {"data.csv": "{{ outputs.extract.files['out/data.csv'] }}"},
                },
            ]
        }
    )
    cluster = StoreCluster(script=by_task, stored={"run-1-big-1": {"blob": "x" * 20000}})
    execution, cluster = run_to_end(flow, execution, cluster)
    assert execution.status is not None
    assert execution.status.state == State.SUCCESS
    runs = {r.id: r for r in execution.status.task_runs}
    assert runs["big"].outputs is None
    assert runs["big"].outputs_stored is not None
    assert runs["big"].outputs_stored.job == "run-1-big-1"
    assert runs["big"].outputs_stored.size == 20016
    load = next(request for request, _ in cluster.jobs.values() if request.task_id == "load")
    assert load.command[-1] == "20000"
    assert dict(load.input_files) == {"data.csv": FILES["out/data.csv"]}


def test_a_wrapper_failure_is_the_attempts_message() -> None:
    flow, execution = make_execution({"tasks": [{"id": "broken", "type": "shell", "commands": ["true"]}]})
    execution, _ = run_to_end(flow, execution, StoreCluster(script=by_task))
    assert execution.status is not None
    message = execution.status.task_runs[0].message or ""
    assert 'outputFiles: "*.csv" matched no file' in message, message
    assert message.endswith("its log: kubectl logs job/run-1-broken-1"), message  # a pointer, no log text


def test_outputs_from_files_reach_the_job_request() -> None:
    flow, execution = make_execution(
        {"tasks": [{"id": "count", "type": "shell", "commands": ["wc -l < a > n"], "outputsFrom": {"lines": "n"}}]}
    )
    _, cluster = run_to_end(flow, execution, StoreCluster(script=by_task))
    (request,) = [request for request, _ in cluster.jobs.values()]
    assert dict(request.outputs_from) == {"lines": "n"}
    assert request.uses_store


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        (
            {"outputsFrom": {"files": "f.txt"}, "outputFiles": ["*.csv"]},
            "'files' is the output outputFiles fill; name this output differently",
        ),
        ({"outputsFrom": {"n": "../n"}}, "n: '../n' must be a path to a file (no ..)"),
        ({"outputsFrom": {"n": ""}}, "n: '' must be a path to a file (no ..)"),
    ],
)
def test_outputs_from_files_are_checked(task: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"tasks": [shell("count", **task)]})
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_a_container_task_needs_a_command_for_outputs_from_files() -> None:
    task = {"id": "c", "type": "container", "image": "busybox", "outputsFrom": {"n": "/tmp/n"}}
    with pytest.raises(SpecError) as caught:
        parse_spec({"tasks": [task]})
    assert any("outputsFrom need 'command'" in p for p in caught.value.problems), caught.value.problems
    assert parse_spec({"tasks": [{**task, "command": ["sh", "-c", "echo 1 > /tmp/n"]}]})
