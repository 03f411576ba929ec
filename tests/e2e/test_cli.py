"""The ``overture`` CLI against a real kube-apiserver and the operator: run, get/list, logs, steering.

Commands run in this process through ``overture.cli.main`` (the same code path as the console
script), each with ``--kubeconfig`` and ``-n`` of the test's namespace; what they print is read
from pytest's ``capsys``. Waits are polls with deadlines.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from harness import ROOT, Cluster, poll

from overture.cli import main

pytestmark = pytest.mark.e2e

ETL = ROOT / "examples" / "02-etl-outputs.yaml"

GATE = """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: gate}
spec:
  tasks:
    - {id: first, type: shell, commands: ["echo first"]}
    - id: approval
      type: pause
      onResume:
        - {id: approved, type: BOOLEAN}
    - {id: last, type: shell, commands: ["echo approved={{ outputs.approval.approved }}"]}
"""

# Attempt 1 hangs (to be killed); the attempt a restart starts succeeds at once.
SECOND_TIME_LUCKY = """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: lucky}
spec:
  tasks:
    - id: try
      type: shell
      commands:
        - trap 'exit 143' TERM  # the shell is PID 1 and would ignore the kill's SIGTERM for 30 s
        - test {{ taskrun.attempt }} -ge 2 || { sleep 120 & wait $!; }
        - echo attempt {{ taskrun.attempt }}
"""


class Cli:
    def __init__(self, kubeconfig: str, namespace: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.target = ["--kubeconfig", kubeconfig, "-n", namespace]
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main([*argv, *self.target])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def cli(cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(kubeconfig, cluster.namespace, capsys)


def created_name(out: str) -> str:
    match = re.search(r"execution\.overture\.dev/(\S+) created", out)
    assert match, out
    return match.group(1)


def final_lines(out: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in out.splitlines():
        match = re.match(r"^  (\S+)\s+([A-Z]+\b.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def runs_of(cluster: Cluster, name: str) -> dict[str, Any]:
    return {r["id"]: r for r in (cluster.get("executions", name).get("status") or {}).get("taskRuns") or []}


@pytest.mark.realnode
def test_run_follow_get_list_logs(cluster: Cluster, cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.apply_flow(ETL.read_text())
    code, out, err = cli("run", "etl-outputs", "--follow", "--timeout", "120")
    assert code == 0, out + err
    name = created_name(out)
    assert "  load          | loading 84 rows from games-2026" in out.splitlines()  # the pod's log, streamed
    assert re.search(rf"^{name}: SUCCESS after \d+s$", out, re.MULTILINE)

    # the same task states and outputs as a local run of the same file
    capsys.readouterr()
    assert main(["local", "run", str(ETL), "--no-logs"]) == 0
    assert final_lines(capsys.readouterr().out) == final_lines(out)

    code, out, _ = cli("list", "flows")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "TASKS", "TRIGGERS", "LAST", "RUN", "READY", "AGE"]
    code, out, _ = cli("list", "executions", "--flow", "etl-outputs")
    assert out.splitlines()[0].split() == ["NAME", "FLOW", "STATE", "TRIGGER", "STARTED", "DURATION", "AGE"]
    assert out.splitlines()[1].split()[:4] == [name, "etl-outputs", "SUCCESS", "manual"]
    code, out, _ = cli("list", "executions", "--flow", "other")
    assert out.strip() == "No executions found."
    code, out, _ = cli("get", "ex", name)
    assert [line.split()[:3] for line in out.splitlines()[4:]] == [
        ["extract", "SUCCESS", "1"],
        ["transform", "SUCCESS", "1"],
        ["load", "SUCCESS", "1"],
    ]
    code, out, _ = cli("get", "execution", name, "-o", "json")
    assert json.loads(out)["status"]["taskRuns"][2]["outputs"] == {"loaded": 84}

    code, out, _ = cli("logs", name)
    assert code == 0
    assert out.splitlines() == [
        f"==> extract attempt 1: SUCCESS (job {name}-extract-1) <==",
        "extracted 42 rows",
        f"==> transform attempt 1: SUCCESS (job {name}-transform-1) <==",
        "transformed into 84 rows",
        f"==> load attempt 1: SUCCESS (job {name}-load-1) <==",
        "loading 84 rows from games-2026",
    ]
    code, out, _ = cli("logs", name, "--task", "load")
    assert out.splitlines()[1:] == ["loading 84 rows from games-2026"]
    code, _, err = cli("logs", name, "--task", "lod")
    assert code == 1
    assert "has no such task run (runs: extract, transform, load)" in err
    code, _, err = cli("logs", name, "--attempt", "2")
    assert code == 1


@pytest.mark.realnode
def test_replay_from_a_task_reuses_earlier_outputs(cluster: Cluster, cli: Cli) -> None:
    cluster.apply_flow(ETL.read_text())
    code, out, _ = cli("run", "etl-outputs", "--wait", "--timeout", "120")
    assert code == 0, out
    source = created_name(out)
    code, _, err = cli("replay", source, "--from", "nope")
    assert code == 1
    assert "replay starts at one of: extract, transform, load" in err
    code, out, err = cli("replay", source, "--from", "transform", "--wait", "--timeout", "120")
    assert code == 0, out + err
    replay = created_name(out)
    execution = cluster.get("executions", replay)
    assert execution["spec"]["replay"] == {"execution": source, "fromTask": "transform"}
    assert execution["spec"]["trigger"]["type"] == "replay"
    runs = runs_of(cluster, replay)
    assert runs["extract"]["outputs"] == {"rows": 42, "source": "games-2026"}
    assert runs["load"]["outputs"] == {"loaded": 84}
    jobs = sorted(j.metadata.name for j in cluster.jobs(replay))
    assert jobs == [f"{replay}-load-1", f"{replay}-transform-1"]  # extract was copied, not run again


def test_unknown_flow_and_wrong_inputs_are_refused_before_anything_is_created(cluster: Cluster, cli: Cli) -> None:
    code, _, err = cli("run", "nope")
    assert code == 1
    assert f"no Flow 'nope' in namespace '{cluster.namespace}' (it has no flows)" in err
    cluster.apply_flow(yaml.safe_load((ROOT / "examples" / "06-webhook-typed-inputs.yaml").read_text()))
    code, _, err = cli("run", "webhook-ingest", "-i", "bucket=raw", "-i", "files=many", "-i", "dryRun=perhaps")
    assert code == 1
    assert "inputs.files: expected an integer, e.g. 42 (INT input)" in err
    assert "inputs.dryRun: expected true or false (BOOLEAN input)" in err
    code, _, err = cli("get", "execution", "nope")
    assert code == 1
    assert f"no Execution 'nope' in namespace '{cluster.namespace}'" in err
    code, out, _ = cli("list", "executions")
    assert out.strip() == "No executions found."


@pytest.mark.realnode
def test_pause_and_resume_with_typed_inputs(cluster: Cluster, cli: Cli) -> None:
    cluster.apply_flow(GATE)
    code, out, _ = cli("run", "gate")
    name = created_name(out)
    assert cli("pause", name)[0] == 0
    assert cluster.get("executions", name)["spec"]["suspend"] is True
    cluster.wait_state(name, {"PAUSED"}, timeout=60)
    assert cli("resume", name)[0] == 0
    poll(lambda: runs_of(cluster, name).get("approval", {}).get("state") == "PAUSED", 60, "approval waits")
    code, _, err = cli("resume", name, "-i", "approved=perhaps")
    assert code == 1
    assert "inputs.approved: expected true or false (BOOLEAN input)" in err
    code, _, _ = cli("resume", name, "-i", "approved=yes")
    assert code == 0
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=60)
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    assert execution["spec"]["suspend"] is False
    assert runs_of(cluster, name)["approval"]["outputs"] == {"approved": True}
    code, _, err = cli("pause", name)
    assert code == 1
    assert "already ended SUCCESS; nothing to pause" in err


@pytest.mark.realnode
def test_kill_then_restart(cluster: Cluster, cli: Cli) -> None:
    cluster.apply_flow(SECOND_TIME_LUCKY)
    code, out, _ = cli("run", "lucky")
    name = created_name(out)
    code, _, err = cli("restart", name)
    assert code == 1
    assert "only FAILED or KILLED executions restart" in err

    def attempt_running() -> bool:
        attempts = runs_of(cluster, name).get("try", {}).get("attempts") or []
        return bool(attempts) and attempts[-1]["state"] == "RUNNING"

    poll(attempt_running, 60, "the first attempt of task try running")
    assert cli("kill", name)[0] == 0
    cluster.wait_state(name, {"KILLED"}, timeout=60)
    code, _, err = cli("kill", name)
    assert code == 1
    assert "already ended KILLED" in err
    code, out, err = cli("restart", name, "--follow", "--timeout", "90")
    assert code == 0, out + err
    assert "  try" in out
    assert "| attempt 2" in out
    assert cluster.get("executions", name)["spec"]["restarts"] == 1
    assert [a["state"] for a in runs_of(cluster, name)["try"]["attempts"]] == ["KILLED", "SUCCESS"]
