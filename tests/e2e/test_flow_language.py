"""The flow language of issue 17 on the real cluster: trigger rules (a skipped branch skips its
follow-ups, the join runs, a failure handler runs and the run still fails) and retry policies
(exit codes, retry.when, warningOnRetry)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from harness import ROOT, Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]


def states(execution: dict[str, Any]) -> dict[str, str]:
    return {run["id"]: run["state"] for run in execution["status"]["taskRuns"]}


def test_the_branch_pattern_runs_the_chosen_branch_and_the_join(cluster: Cluster) -> None:
    cluster.apply_flow(yaml.safe_load((ROOT / "examples" / "09-trigger-rules.yaml").read_text()))
    name = cluster.run("trigger-rules", inputs={"mode": "incremental"})
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    assert states(execution) == {
        "full": "SKIPPED",
        "incremental": "SUCCESS",
        "rebuild-index": "SKIPPED",
        "publish": "SUCCESS",
        "alert": "SKIPPED",
    }
    runs = {run["id"]: run for run in execution["status"]["taskRuns"]}
    assert runs["rebuild-index"]["message"] == "dependency full was skipped"
    assert sorted(job.metadata.labels["overture.dev/task"] for job in cluster.jobs(name)) == [
        "incremental",
        "publish",
    ]


def test_a_failure_handler_runs_and_the_run_fails(cluster: Cluster) -> None:
    cluster.apply_flow(
        {
            "apiVersion": "overture.dev/v1alpha1",
            "kind": "Flow",
            "metadata": {"name": "failure-handler"},
            "spec": {
                "tasks": [
                    {"id": "load", "type": "shell", "commands": ["exit 3"]},
                    {"id": "publish", "type": "shell", "dependsOn": ["load"], "commands": ["echo never"]},
                    {"id": "alert", "type": "shell", "depends": "load.Failed", "commands": ["echo alerting"]},
                ]
            },
        }
    )
    name = cluster.run("failure-handler")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    assert execution["status"]["state"] == "FAILED"
    assert states(execution) == {"load": "FAILED", "alert": "SUCCESS"}
    assert execution["status"]["message"].startswith("task load failed")


def test_retry_policies_retry_only_what_they_name(cluster: Cluster) -> None:
    cluster.apply_flow(yaml.safe_load((ROOT / "examples" / "10-retry-policies.yaml").read_text()))
    name = cluster.run("retry-policies")
    execution = cluster.wait_state(name, {"SUCCESS", "WARNING", "FAILED"}, timeout=240)
    assert execution["status"]["state"] == "WARNING", execution["status"]
    runs = {run["id"]: run for run in execution["status"]["taskRuns"]}
    assert runs["fetch"]["state"] == "WARNING"
    assert runs["fetch"]["message"] == "succeeded at attempt 2 (retry.warningOnRetry)"
    assert [a["exitCode"] for a in runs["fetch"]["attempts"]] == [75, 0]
    assert len(runs["parse"]["attempts"]) == 1
    assert runs["parse"]["message"].endswith("(not retried: retry.when rendered 'False')")


def test_a_parent_reads_its_childs_flow_outputs(cluster: Cluster) -> None:
    for example in ("11-flow-outputs.yaml", "12-subflow-outputs.yaml"):
        cluster.apply_flow(yaml.safe_load((ROOT / "examples" / example).read_text()))
    name = cluster.run("report-day")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=240)
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    runs = {run["id"]: run for run in execution["status"]["taskRuns"]}
    child = cluster.get("executions", runs["counted"]["childExecution"])
    assert child["status"]["outputs"]["rows"] == "42"
    assert child["status"]["outputs"]["source"]["table"] == "moves"
    assert runs["counted"]["outputs"]["outputs"] == child["status"]["outputs"]
    assert "42 rows in moves" in cluster.pod_log(runs["report"]["attempts"][0]["job"])


def test_each_outputs_are_read_by_item(cluster: Cluster) -> None:
    cluster.apply_flow(yaml.safe_load((ROOT / "examples" / "04-fan-out-each.yaml").read_text()))
    name = cluster.run("fan-out-each")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=300)
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    runs = {run["id"]: run for run in execution["status"]["taskRuns"]}
    assert "b.csv has 100 bytes, of 4 files" in cluster.pod_log(runs["summary"]["attempts"][0]["job"])


def test_log_and_return_need_no_pod(cluster: Cluster) -> None:
    cluster.apply_flow(yaml.safe_load((ROOT / "examples" / "13-steps-without-pods.yaml").read_text()))
    name = cluster.run("steps-without-pods")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    runs = {run["id"]: run for run in execution["status"]["taskRuns"]}
    assert [job.metadata.labels["overture.dev/task"] for job in cluster.jobs(name)] == ["list"]
    assert runs["target[1]"]["outputs"]["value"]["table"] == "moves"
    assert runs["done"]["outputs"]["message"].startswith("3 tables planned; moves to raw/moves/")
    assert any(e.reason == "TaskLog" and e.message.startswith("say[0]: games goes to") for e in cluster.events(name))


def test_errors_of_a_flowable_run_before_the_flows(cluster: Cluster) -> None:
    cluster.apply_flow(yaml.safe_load((ROOT / "examples" / "16-flowable-errors.yaml").read_text()))
    name = cluster.run("flowable-errors")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    assert execution["status"]["state"] == "FAILED"
    assert states(execution) == {
        "load": "FAILED",
        "extract": "SUCCESS",
        "write": "FAILED",
        "clean-partial": "SUCCESS",
        "alert": "SUCCESS",
    }
    runs = {run["id"]: run for run in execution["status"]["taskRuns"]}
    assert runs["clean-partial"]["outputs"]["message"].startswith("removing what write left behind (")
    # A failure's message names its exit code and where its log is, never the log's text (which
    # may hold secrets; issue 14): "the disk is full" stays in `kubectl logs`.
    message = runs["clean-partial"]["outputs"]["message"]
    assert "exit code 1; its log: kubectl logs job/" in message, message
    assert "the disk is full" not in message, message
    assert runs["alert"]["outputs"]["message"] == "the load failed at write"
