"""The CLI's pure parts: NAME=VALUE inputs, typed input errors, kubectl-like tables, progress lines,
and the message when no cluster answers."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from overture.api import Input, InputType, parse_execution
from overture.cli import main
from overture.cli.common import CliError, Progress, parse_inputs, task_line, typed_inputs
from overture.cli.tables import human_age, jsonpath, object_table, task_run_table

NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)


def test_inputs_are_name_value_pairs() -> None:
    assert parse_inputs(["day=2026-01-31", "expr=a=b", "empty="]) == {"day": "2026-01-31", "expr": "a=b", "empty": ""}


@pytest.mark.parametrize("pair", ["day", "=x", " =x"])
def test_an_input_without_a_name_is_a_usage_error(pair: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_inputs([pair])
    assert caught.value.code == 2
    assert "NAME=VALUE" in str(caught.value)


def test_typed_inputs_name_every_wrong_input() -> None:
    declared = (
        Input(id="files", type=InputType.INT),
        Input(id="mode", type=InputType.SELECT, values=("append", "replace"), default="append"),
        Input(id="day", type=InputType.DATE, required=False),
    )
    assert typed_inputs(declared, {"files": "3", "day": "2026-01-31"}, "x") == {"files": 3, "day": "2026-01-31"}
    with pytest.raises(CliError) as caught:
        typed_inputs(declared, {"files": "many", "mode": "merge", "dya": "1"}, "flow 'f' cannot run")
    message = str(caught.value)
    assert message.startswith("flow 'f' cannot run:")
    assert "inputs.files: expected an integer, e.g. 42 (INT input)" in message
    assert "inputs.mode: 'merge' is not one of append, replace" in message
    assert "inputs.dya: the flow declares no such input (inputs: day, files, mode)" in message


def test_jsonpath_reads_printer_column_paths() -> None:
    obj = {"status": {"conditions": [{"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    assert jsonpath(obj, '.status.conditions[?(@.type=="Ready")].status') == "True"
    assert jsonpath(obj, '.status.conditions[?(@.type=="Gone")].status') is None
    assert jsonpath(obj, ".spec.flowRef.name") is None


@pytest.mark.parametrize(
    ("seconds", "age"),
    [
        (5, "5s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (86400 * 3, "3d"),
    ],
)
def test_ages_read_as_kubectl_prints_them(seconds: int, age: str) -> None:
    assert human_age(seconds) == age


def test_execution_table_has_kubectl_columns() -> None:
    execution = {
        "metadata": {"name": "etl-1", "namespace": "ns", "creationTimestamp": "2026-01-31T11:59:00Z"},
        "spec": {"flowRef": {"name": "etl"}, "trigger": {"type": "manual"}, "requestedBy": "alice"},
        "status": {"state": "SUCCESS", "startDate": "2026-01-31T11:59:30Z", "duration": "8s", "message": "done"},
    }
    lines = object_table("executions", [execution], NOW).splitlines()
    assert lines[0].split() == ["NAME", "FLOW", "STATE", "TRIGGER", "STARTED", "DURATION", "AGE"]
    assert lines[1].split() == ["etl-1", "etl", "SUCCESS", "manual", "30s", "8s", "60s"]
    wide = object_table("executions", [execution], NOW, wide=True, namespaces=True).splitlines()
    assert wide[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert wide[0].split()[-3:] == ["REQUESTED", "BY", "MESSAGE"]
    assert wide[1].split()[-2:] == ["alice", "done"]


def test_flow_table_shows_none_for_missing_values() -> None:
    flow = {"metadata": {"name": "f", "creationTimestamp": "2026-01-31T11:00:00Z"}, "status": {"taskCount": 2}}
    lines = object_table("flows", [flow], NOW).splitlines()
    assert lines[0].split() == ["NAME", "TASKS", "TRIGGERS", "LAST", "RUN", "READY", "AGE"]
    assert lines[1].split() == ["f", "2", "<none>", "<none>", "<none>", "60m"]


def test_task_run_table() -> None:
    status = {
        "taskRuns": [
            {
                "id": "a",
                "state": "SUCCESS",
                "attempts": [{}],
                "startDate": "2026-01-31T11:59:00Z",
                "endDate": "2026-01-31T11:59:03Z",
                "outputs": {"rows": 42},
            },
            {"id": "b", "state": "FAILED", "attempts": [{}, {}], "message": "exit code 3"},
        ]
    }
    lines = task_run_table(status, NOW).splitlines()
    assert lines[1].split() == ["a", "SUCCESS", "1", "3s", '{"rows":', "42}"]
    assert lines[2].split() == ["b", "FAILED", "2", "<none>", "exit", "code", "3"]


def test_task_run_table_of_a_big_execution_lists_the_runs_kept_in_full_and_counts_the_rest() -> None:
    runs = [
        {
            "id": f"w[{i}]",
            "taskId": "w",
            "state": "SUCCESS",
            "attempts": [{"attempt": 1, "job": f"j{i}", "state": "SUCCESS"}],
        }
        for i in range(300)
    ]
    runs[7] = {**runs[7], "state": "FAILED", "message": "exit code 1"}
    runs[-1] = {**runs[-1], "state": "RUNNING"}
    execution = {"metadata": {"name": "big"}, "spec": {"flowRef": {"name": "f"}}, "status": {"taskRuns": runs}}
    status = parse_execution(execution).to_wire()["status"]

    lines = task_run_table(status, NOW).splitlines()

    assert [line.split()[:2] for line in lines[1:3]] == [["w[7]", "FAILED"], ["w[299]", "RUNNING"]]
    assert (
        lines[3]
        == "... and 298 finished task runs more, archived in the status; by state: FAILED 1, RUNNING 1, SUCCESS 298"
    )


def test_progress_prints_changes_once_and_children_before_their_parent() -> None:
    out = io.StringIO()
    progress = Progress(width=6, out=out)
    running = {"taskRuns": [{"id": "each", "state": "RUNNING"}, {"id": "p[0]", "state": "RUNNING", "parent": "each"}]}
    progress.update(running)
    progress.update(running)
    done = {
        "taskRuns": [
            {"id": "each", "state": "SUCCESS"},
            {"id": "p[0]", "state": "SUCCESS", "parent": "each", "outputs": {"n": 1}},
        ]
    }
    progress.update(done)
    assert out.getvalue().splitlines() == [
        "  each   RUNNING",
        "  p[0]   RUNNING",
        '  p[0]   SUCCESS {"n": 1}',
        "  each   SUCCESS",
    ]


def test_task_lines_carry_attempts_and_messages() -> None:
    retrying = {"id": "t", "state": "RETRYING", "attempts": [{}, {}], "message": "exit code 1", "nextAttemptAt": "T"}
    assert task_line(retrying, 2) == "  t  RETRYING (attempt 2): exit code 1 (next attempt at T)"
    assert task_line({"id": "t", "state": "FAILED", "message": "boom\n  twice"}, 2) == "  t  FAILED: boom twice"


def test_no_cluster_reachable_names_the_kubeconfig_and_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: team}}]
current-context: ctx
"""
    )
    assert main(["list", "flows", "--kubeconfig", str(kubeconfig)]) == 1
    err = capsys.readouterr().err
    assert f"no cluster reachable (kubeconfig {kubeconfig}, context 'ctx', server http://127.0.0.1:1)" in err
    assert main(["run", "x", "--kubeconfig", str(tmp_path / "missing")]) == 1
    assert f"no cluster reachable: cannot load kubeconfig {tmp_path / 'missing'}" in capsys.readouterr().err
    assert main(["get", "fl", "--kubeconfig", str(kubeconfig), "--context", "other"]) == 1
    assert "no context 'other' in kubeconfig" in capsys.readouterr().err


def test_a_long_failure_keeps_the_end_of_the_log() -> None:
    tail = "Traceback (most recent call last):\n" + '  File "x.py", line 1\n' * 40 + "KeyError: 'rows'"
    line = task_line({"id": "load", "state": "FAILED", "message": tail}, width=6)
    assert line.startswith('  load   FAILED: Traceback (most recent call last): File "x.py", line 1 File ... ')
    assert line.endswith("KeyError: 'rows'")
    assert len(line) <= len("  load   FAILED: ") + 300
