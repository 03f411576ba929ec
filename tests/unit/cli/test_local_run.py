"""``overture local run``: the engine's decisions carried out by local processes.

These run real processes (``/bin/sh`` and ``python3``), in well under a second each; retries
and delays are skipped with ``--skip-delays`` so a flow with backoff stays fast.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from overture.api import FlowSpec, State
from overture.cli import main
from overture.processes import Clock, LocalRun, expand_references

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = main(["local", "run", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def final_lines(lines: list[str]) -> dict[str, str]:
    """The last state line of each task run, without its column padding: what a cluster run ends with."""
    found: dict[str, str] = {}
    for line in lines:
        match = re.match(r"^  (\S+)\s+([A-Z]+\b.*)$", line)
        if match and not match.group(2).startswith("|"):
            found[match.group(1)] = match.group(2)
    return found


def test_etl_example_prints_the_states_and_outputs_of_a_cluster_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run_cli(capsys, str(EXAMPLES / "02-etl-outputs.yaml"))
    assert code == 0
    assert final_lines(lines) == {
        "extract": 'SUCCESS {"rows": 42, "source": "games-2026"}',
        "transform": 'SUCCESS {"rows": 84}',
        "load": 'SUCCESS {"loaded": 84}',
    }
    assert "  load          | loading 84 rows from games-2026" in lines  # the task's own output, as --follow shows it
    assert re.fullmatch(r"etl-outputs-local-[0-9a-f]{6}: SUCCESS after \d+s", lines[-1])
    states = [line.split()[:2] for line in lines if "|" not in line][1:-1]
    assert states == [
        ["extract", "RUNNING"],
        ["extract", "SUCCESS"],
        ["transform", "RUNNING"],
        ["transform", "SUCCESS"],
        ["load", "RUNNING"],
        ["load", "SUCCESS"],
    ]


def test_errors_and_finally_run_after_a_failure_and_the_run_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run_cli(capsys, str(EXAMPLES / "07-errors-finally-retries.yaml"), "--skip-delays")
    assert code == 1
    ended = final_lines(lines)
    # a failure says where its log is, never what it printed (the log may hold secrets: issue 14);
    # here that is the terminal, not `kubectl logs`: no cluster is involved
    assert ended.pop("always-fails") == 'FAILED: Error, exit code 3; its log: the lines "always-fails | ..." above'
    assert ended == {"flaky": "SUCCESS", "alert": "SUCCESS", "cleanup": "SUCCESS"}
    assert "  always-fails     | the source is unreachable" in lines  # the log itself, on the terminal
    assert sum(1 for line in lines if re.match(r"  flaky\s+RETRYING", line)) == 2  # attempts 1 and 2 failed
    assert any(line.startswith("  alert            | task always-fails failed: Error, exit code 3;") for line in lines)
    assert any(
        re.match(r"  cleanup +\| tasks ended FAILED after [0-9hms]+; failed: always-fails$", line) for line in lines
    )
    assert 'task always-fails failed: Error, exit code 3; its log: the lines "always-fails | ..." above' in lines[-1]
    assert ": FAILED after " in lines[-1]


FAILS = "    - {id: t, type: python, script: 'print(\"working\"); 1/0'}\n"


def test_a_kept_run_points_to_the_log_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run_cli(capsys, write_flow(tmp_path, FAILS), "--keep")
    workdir = Path(lines[0].split("(work directory ")[1].rstrip(")"))
    try:
        assert code == 1
        failed = final_lines(lines)["t"]
        assert failed.startswith(f"FAILED: Error, exit code 1; its log: {workdir}/"), failed
        log = Path(failed.split("its log: ")[1])
        assert log.name == "log"
        assert log.read_text().splitlines()[0] == "working"
        assert log.read_text().splitlines()[-1] == "ZeroDivisionError: division by zero"
    finally:
        shutil.rmtree(workdir)


def test_a_run_without_logs_says_how_to_keep_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run_cli(capsys, write_flow(tmp_path, FAILS), "--no-logs")
    assert code == 1
    assert final_lines(lines)["t"] == (
        "FAILED: Error, exit code 1; its log: not printed (--no-logs); --keep keeps it in the work directory"
    )


def test_inputs_are_typed_and_wrong_ones_named_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    flow = str(EXAMPLES / "06-webhook-typed-inputs.yaml")
    code, lines, err = run_cli(capsys, flow, "-i", "bucket=raw", "-i", "files=many")
    assert code == 1
    assert lines == []
    assert "inputs.files: expected an integer, e.g. 42 (INT input)" in err
    code, lines, _ = run_cli(capsys, flow, "-i", "bucket=raw", "-i", "files=3", "--no-logs")
    assert code == 0
    assert final_lines(lines) == {"ingest": "SUCCESS"}


def write_flow(tmp_path: Path, tasks: str, name: str = "t") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"apiVersion: overture.dev/v1alpha1\nkind: Flow\nmetadata: {{name: {name}}}\nspec:\n  tasks:\n{tasks}"
    )
    return str(path)


def test_outputs_file_env_and_the_pod_path_both_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = write_flow(
        tmp_path,
        """    - {id: a, type: shell, commands: ['echo "{\\"via\\": \\"env\\"}" > "$OVERTURE_OUTPUTS_FILE"']}
    - id: b
      type: python
      script: |
        import json
        json.dump({"via": "path", "cwd_empty": not __import__("os").listdir(".")}, open("/overture/outputs.json", "w"))
""",
    )
    code, lines, _ = run_cli(capsys, flow)
    assert code == 0, lines
    assert final_lines(lines) == {"a": 'SUCCESS {"via": "env"}', "b": 'SUCCESS {"via": "path", "cwd_empty": true}'}


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            "{id: t, type: container, image: alpine:3, command: [echo]}",
            "container tasks do not run locally (image alpine:3); run this flow on a cluster",
        ),
        (
            "{id: t, type: template, template: {name: dbt, version: ^1}, with: {x: 1}}",
            "template tasks run on a cluster, which expands them from its TaskTemplates (dbt ^1); run this flow there",
        ),
    ],
)
def test_cluster_only_tasks_fail_with_a_clear_message(
    task: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = run_cli(capsys, write_flow(tmp_path, f"    - {task}\n"))
    assert code == 1
    assert final_lines(lines)["t"] == f"FAILED: {message}"


def test_secrets_come_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = write_flow(
        tmp_path,
        """    - id: s
      type: shell
      env: [{name: TOKEN, secretKeyRef: {name: api, key: token}}]
      commands: ["test \\"$TOKEN\\" = s3cret", "echo '{\\"ok\\": true}' > $(OVERTURE_OUTPUTS_FILE)"]
""",
    )
    code, lines, _ = run_cli(capsys, flow)
    assert code == 1
    assert "set TOKEN in your environment" in final_lines(lines)["s"]
    monkeypatch.setenv("TOKEN", "s3cret")
    code, lines, _ = run_cli(capsys, flow)
    assert code == 0, lines
    assert final_lines(lines)["s"] == 'SUCCESS {"ok": true}'


def test_a_task_timeout_kills_the_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = write_flow(tmp_path, "    - {id: slow, type: shell, timeout: 1s, commands: ['echo started', 'sleep 30']}\n")
    code, lines, _ = run_cli(capsys, flow)
    assert code == 1
    assert final_lines(lines)["slow"].startswith("FAILED: timed out")


def test_a_pause_without_delay_stops_the_local_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = write_flow(tmp_path, "    - {id: wait, type: pause}\n    - {id: after, type: shell, commands: [echo]}\n")
    code, _, err = run_cli(capsys, flow)
    assert code == 1
    assert "PAUSED: task wait waits to be resumed" in err


def test_a_killed_run_ends_killed(tmp_path: Path) -> None:
    flow = FlowSpec.model_validate({"tasks": [{"id": "slow", "type": "shell", "commands": ["sleep 30"]}]})
    seen: list[str] = []

    def on_status(status: dict[str, object]) -> None:
        runs = status.get("taskRuns") or []
        seen.append(str(status.get("state")))
        if runs and "KILL" not in "".join(seen):
            raise KeyboardInterrupt  # as Ctrl-C while the task runs

    run = LocalRun(flow, "k", {}, tmp_path, on_status=on_status, clock=Clock())
    status = run.run()
    assert status.state == State.KILLED
    assert status.task_runs[0].state == State.KILLED


def test_kubernetes_reference_expansion() -> None:
    env = {"A": "1"}
    assert expand_references("$(A) $(B) $$(A) $$HOME", env) == "1 $(B) $(A) $HOME"
