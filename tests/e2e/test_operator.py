"""The operator end to end: real kube-apiserver, real Jobs, the operator as a real process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from harness import GROUP, ROOT, STEPS, VERSION, Cluster, OperatorProcess, poll, run_through_two_restarts

pytestmark = pytest.mark.e2e

ETL = (ROOT / "examples" / "02-etl-outputs.yaml").read_text()


def example(name: str) -> dict:
    path = next((ROOT / "examples").glob(f"*{name}.yaml"))
    return yaml.safe_load(Path(path).read_text())


def test_examples_are_ready(cluster: Cluster) -> None:
    # the task templates the examples use first, as the README says: kubectl apply -f examples/templates/
    for path in sorted((ROOT / "examples" / "templates").glob("*.yaml")):
        template = yaml.safe_load(path.read_text())
        assert template["kind"] == "TaskTemplate", f"{path}: a ClusterTaskTemplate would outlive the test"
        cluster.custom.create_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "tasktemplates", template)
    names = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        names.append(cluster.apply_flow(yaml.safe_load(path.read_text()))["metadata"]["name"])

    def all_ready() -> bool:
        for name in names:
            conditions = (cluster.get("flows", name).get("status") or {}).get("conditions") or []
            if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return False
        return True

    poll(all_ready, 30, f"flows {names} Ready")
    assert cluster.get("flows", "etl-outputs")["status"]["taskCount"] == 3


def test_invalid_flow_is_marked_invalid_with_the_field(cluster: Cluster) -> None:
    cluster.apply_flow(
        """
metadata: {name: broken}
spec:
  tasks:
    - {id: a, type: shell, commands: ["echo"], dependsOn: [ghost]}
    - {id: b, type: shell, commands: ["echo {{ outputs.nope.x }}"]}
""".replace("metadata:", "apiVersion: overture.dev/v1alpha1\nkind: Flow\nmetadata:", 1)
    )

    def invalid() -> dict | None:
        conditions = (cluster.get("flows", "broken").get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready" and c["status"] == "False"), None)

    condition = poll(invalid, 30, "flow broken marked Invalid")
    assert condition["reason"] == "Invalid"
    assert "spec.tasks[0].dependsOn[0]" in condition["message"]
    assert "spec.tasks[1].commands[0]" in condition["message"]
    name = cluster.run("broken")
    execution = cluster.wait_state(name, {"FAILED"}, timeout=60)
    assert "invalid" in execution["status"]["message"]


def test_unknown_input_fails_the_execution_naming_it(cluster: Cluster) -> None:
    cluster.apply_flow(example("hello-world"))
    name = cluster.run("hello-world", inputs={"nmae": "typo"})
    execution = cluster.wait_state(name, {"FAILED"}, timeout=60)
    assert "spec.inputs.nmae" in execution["status"]["message"]
    assert cluster.jobs(name) == []


@pytest.mark.realnode
def test_sequential_flow_passes_outputs(cluster: Cluster) -> None:
    cluster.apply_flow(ETL)
    name = cluster.run("etl-outputs")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    runs = {r["id"]: r for r in execution["status"]["taskRuns"]}
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    assert runs["extract"]["outputs"] == {"rows": 42, "source": "games-2026"}
    assert runs["transform"]["outputs"] == {"rows": 84}
    assert runs["load"]["outputs"] == {"loaded": 84}
    assert "loading 84 rows from games-2026" in cluster.pod_log(runs["load"]["attempts"][0]["job"])
    last = poll(lambda: (cluster.get("flows", "etl-outputs").get("status") or {}).get("lastExecution"), 30, "LAST RUN")
    assert last == {"name": name, "state": "SUCCESS", "startDate": execution["status"]["startDate"]}
    # Events are posted in the background after the status write: wait for the last one
    reasons = poll(lambda: [e.reason for e in cluster.events(name)] or None, 30, "the Ended Event")
    assert reasons == ["Ended"]  # Normal Events of progress are off by default (OVERTURE_TASK_EVENTS)


@pytest.mark.realnode
def test_dag_runs_independent_branches_at_the_same_time(cluster: Cluster) -> None:
    cluster.apply_flow(example("dag"))
    name = cluster.run("dag")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    runs = {r["id"]: r for r in execution["status"]["taskRuns"]}
    orders, customers = runs["orders"]["attempts"][0], runs["customers"]["attempts"][0]
    # both started before either ended: they overlapped
    assert orders["startDate"] < customers["endDate"] and customers["startDate"] < orders["endDate"]
    assert runs["report"]["startDate"] >= max(orders["endDate"], customers["endDate"])


@pytest.mark.realnode
def test_failing_task_is_retried_then_errors_and_finally_run(cluster: Cluster) -> None:
    cluster.apply_flow(example("errors-finally-retries"))
    name = cluster.run("errors-finally-retries")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=240)
    status = execution["status"]
    runs = {r["id"]: r for r in status["taskRuns"]}
    assert status["state"] == "FAILED"
    assert runs["flaky"]["state"] == "SUCCESS" and len(runs["flaky"]["attempts"]) == 3
    assert runs["always-fails"]["state"] == "FAILED"
    failed = runs["always-fails"]
    assert failed["message"] == f"Error, exit code 3; its log: kubectl logs job/{failed['attempts'][0]['job']}"
    assert "the source is unreachable" in cluster.pod_log(failed["attempts"][0]["job"])  # the log, not the status
    assert runs["alert"]["state"] == "SUCCESS" and runs["cleanup"]["state"] == "SUCCESS"
    log = cluster.pod_log(runs["alert"]["attempts"][0]["job"])
    assert "task always-fails failed" in log
    assert "tasks ended FAILED after " in cluster.pod_log(runs["cleanup"]["attempts"][0]["job"])
    assert len(cluster.jobs(name)) == 6  # 3 flaky attempts, always-fails, alert, cleanup


SLEEPER = """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: sleeper}
spec:
  tasks:
    - {id: first, type: shell, commands: ["echo first"]}
    - {id: wait, type: pause}
    - {id: long, type: shell, commands: ["sleep 300"]}
"""


@pytest.mark.realnode
def test_pause_resume_and_kill(cluster: Cluster) -> None:
    cluster.apply_flow(SLEEPER)
    name = cluster.run("sleeper")
    cluster.wait_state(name, {"PAUSED"}, timeout=120)
    cluster.patch_spec(name, {"resumes": 1})

    def long_started() -> bool:
        runs = {r["id"]: r for r in cluster.get("executions", name)["status"].get("taskRuns", [])}
        return "long" in runs

    poll(long_started, 60, "task long started after resume")
    cluster.patch_spec(name, {"kill": True})
    execution = cluster.wait_state(name, {"KILLED"}, timeout=60)
    runs = {r["id"]: r for r in execution["status"]["taskRuns"]}
    assert runs["wait"]["state"] == "SUCCESS"
    assert runs["long"]["state"] == "KILLED"
    poll(lambda: not [j for j in cluster.jobs(name) if j.metadata.name.endswith("-long-1")], 60, "long's Job deleted")


@pytest.mark.realnode
def test_operator_killed_mid_execution_finishes_without_duplicates(
    cluster: Cluster, operator_process: OperatorProcess
) -> None:
    name, execution = run_through_two_restarts(cluster, operator_process)
    assert execution["status"]["state"] == "SUCCESS"
    jobs = sorted(j.metadata.name for j in cluster.jobs(name))
    assert jobs == [f"{name}-s{i}-1" for i in range(1, STEPS + 1)]


@pytest.mark.realnode
def test_retention_deletes_old_executions_and_their_jobs(cluster: Cluster) -> None:
    cluster.apply_flow(
        """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: kept-two}
spec:
  retention: {keep: 2}
  tasks:
    - {id: hello, type: shell, commands: ["echo hi"]}
"""
    )
    names = []
    for index in range(3):
        names.append(cluster.run("kept-two", name=f"kept-two-{index}"))
        cluster.wait_state(names[-1], {"SUCCESS"}, timeout=90)

    def first_gone() -> bool:
        remaining = cluster.custom.list_namespaced_custom_object(
            "overture.dev", "v1alpha1", cluster.namespace, "executions"
        )["items"]
        return sorted(e["metadata"]["name"] for e in remaining) == names[1:]

    poll(first_gone, 60, "the oldest execution deleted, the newest two kept")
    poll(lambda: cluster.jobs(names[0]) == [], 60, "the deleted execution's Job garbage-collected")


@pytest.mark.realnode
def test_api_writes_per_task_run(cluster: Cluster, operator_process: OperatorProcess) -> None:
    """Counts the operator's own API requests (client-side counter; Lease renewals apart) for a 3-task run."""
    poll(lambda: "overture_leader 1.0" in operator_process.metrics(), 40, "the session operator leads")
    cluster.apply_flow(ETL)
    poll(lambda: (cluster.get("flows", "etl-outputs").get("status") or {}).get("conditions"), 30, "flow status")
    before = operator_process.api_requests()
    name = cluster.run("etl-outputs")
    cluster.wait_state(name, {"SUCCESS"}, timeout=120)
    time.sleep(2)  # let the last Events go out before reading the counter
    after = operator_process.api_requests()
    delta = {verb: after.get(verb, 0) - before.get(verb, 0) for verb in after}
    writes = sum(v for k, v in delta.items() if k in ("create", "update", "patch", "delete"))
    events = len(cluster.events(name))
    print(f"\nAPI requests for 3 task runs: {delta}; writes per task run {writes / 3:.1f} ({events} Events included)")
    assert delta.get("create", 0) >= 3  # at least the three Jobs: the counter really counts
    assert writes / 3 <= 8
