"""The ``pod`` task runtime end to end (OVERTURE_TASK_RUNTIME=pod, kube/pods.py): the session
operator is restarted with it for this module, and every task attempt is a Pod the operator makes
itself, with no Job. What the Job gave for free is checked here: outputs, retries, a timeout, a
kill, a pod deleted under a running task, a quota that refuses the pod (the task waits), a
restarted operator (no pod made twice), two sharded replicas and the SIGKILL of one (each
execution reconciled by one replica at a time, no pod made twice), and ``overture logs``."""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import ROOT, STEPS, Cluster, OperatorProcess, poll, run_through_two_restarts
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from test_shards import held

from overture.cli import main
from overture.controller.shards import shard_of

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]

ETL = (ROOT / "examples" / "02-etl-outputs.yaml").read_text()


@pytest.fixture(scope="module", autouse=True)
def pod_runtime(operator_process: OperatorProcess) -> Iterator[None]:
    """The session operator, restarted with the pod runtime for this module, then as it was."""
    with operator_process.restarted_with({"OVERTURE_TASK_RUNTIME": "pod"}):
        yield


def pods(cluster: Cluster, execution: str) -> dict[str, Any]:
    selector = f"overture.dev/execution={execution}"
    return {
        p.metadata.name: p for p in cluster.core.list_namespaced_pod(cluster.namespace, label_selector=selector).items
    }


def runs_of(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in (execution.get("status") or {}).get("taskRuns") or []}


def flow(name: str, *tasks: str) -> str:
    return f"apiVersion: overture.dev/v1alpha1\nkind: Flow\nmetadata: {{name: {name}}}\nspec:\n  tasks:\n" + "".join(
        f"    - {task}\n" for task in tasks
    )


def run_etl(cluster: Cluster) -> tuple[str, dict[str, dict[str, Any]]]:
    """The example ETL flow run to its success, its outputs passed on: (its execution, its task runs)."""
    cluster.apply_flow(ETL)
    name = cluster.run("etl-outputs")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    runs = runs_of(execution)
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    assert runs["transform"]["outputs"] == {"rows": 84}
    assert runs["load"]["outputs"] == {"loaded": 84}
    return name, runs


def test_tasks_run_as_pods_with_their_outputs_and_logs(
    cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name, runs = run_etl(cluster)
    assert cluster.jobs(name) == []  # no Job at all
    made = pods(cluster, name)
    attempts = [runs[t]["attempts"][0] for t in ("extract", "transform", "load")]
    assert sorted(made) == sorted(a["job"] for a in attempts)  # each attempt's pod, under its name
    assert all(a["pod"] == a["job"] for a in attempts)
    owner = made[attempts[0]["job"]].metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("Execution", name, True)  # deleted with it
    log = cluster.core.read_namespaced_pod_log(attempts[2]["job"], cluster.namespace, container="task")
    assert "loading 84 rows from games-2026" in log
    capsys.readouterr()
    assert main(["logs", name, "--task", "load", "--kubeconfig", kubeconfig, "-n", cluster.namespace]) == 0
    assert "loading 84 rows from games-2026" in capsys.readouterr().out


def test_a_failed_attempt_is_retried_in_a_new_pod_and_a_failure_points_at_its_log(cluster: Cluster) -> None:
    cluster.apply_flow(
        flow(
            "retries",
            "{id: flaky, type: shell, commands: ['test {{ taskrun.attempt }} -ge 2'], "
            "retry: {maxAttempts: 2, interval: 1s}}",
            "{id: broken, type: shell, commands: ['exit 3']}",
        )
    )
    name = cluster.run("retries")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    runs = runs_of(execution)
    assert execution["status"]["state"] == "FAILED"
    assert [a["state"] for a in runs["flaky"]["attempts"]] == ["FAILED", "SUCCESS"]
    broken = runs["broken"]["attempts"][0]["job"]
    assert runs["broken"]["message"] == f"Error, exit code 3; its log: kubectl logs pod/{broken}"
    assert sorted(pods(cluster, name)) == sorted([f"{name}-flaky-1", f"{name}-flaky-2", broken])


def test_a_timeout_ends_the_pod(cluster: Cluster) -> None:
    cluster.apply_flow(flow("slow", "{id: slow, type: shell, commands: ['sleep 300'], timeout: 5s}"))
    name = cluster.run("slow")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
    run = runs_of(execution)["slow"]
    assert execution["status"]["state"] == "FAILED"
    assert "timed out" in run["message"], run


LONG = "{id: long, type: shell, commands: [\"trap 'exit 143' TERM\", 'sleep 300 & wait $!']}"


def test_a_kill_deletes_the_pod(cluster: Cluster) -> None:
    cluster.apply_flow(flow("long", LONG))
    name = cluster.run("long")
    poll(
        lambda: (runs_of(cluster.get("executions", name)).get("long") or {}).get("state") == "RUNNING", 60, "long runs"
    )
    poll(lambda: pods(cluster, name), 60, "its pod")
    cluster.patch_spec(name, {"kill": True})
    execution = cluster.wait_state(name, {"KILLED"}, timeout=60)
    assert runs_of(execution)["long"]["state"] == "KILLED"
    poll(lambda: not pods(cluster, name), 60, "the pod deleted")


def test_a_pod_deleted_under_a_running_task_fails_its_attempt_and_the_retry_runs(cluster: Cluster) -> None:
    cluster.apply_flow(
        flow(
            "doomed",
            "{id: doomed, type: shell, retry: {maxAttempts: 2, interval: 1s}, commands: "
            "[\"trap 'exit 143' TERM\", 'test {{ taskrun.attempt }} -ge 2 || { sleep 300 & wait $!; }']}",
        )
    )
    name = cluster.run("doomed")
    first = f"{name}-doomed-1"

    def running() -> bool:
        found = pods(cluster, name).get(first)
        return found is not None and found.status.phase == "Running"

    poll(running, 90, "the first attempt's pod running")
    cluster.core.delete_namespaced_pod(first, cluster.namespace)
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
    attempts = runs_of(execution)["doomed"]["attempts"]
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    assert [a["state"] for a in attempts] == ["FAILED", "SUCCESS"]
    assert "PodDeleted" in attempts[0]["message"] or "deleted before it ended" in attempts[0]["message"], attempts[0]


def no_pods_quota(cluster: Cluster) -> None:
    """A ResourceQuota of no pods in the test's namespace, once the API server counts it."""
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="no-pods"), spec=client.V1ResourceQuotaSpec(hard={"pods": "0"})
    )
    cluster.core.create_namespaced_resource_quota(cluster.namespace, quota)
    poll(
        lambda: (cluster.core.read_namespaced_resource_quota("no-pods", cluster.namespace).status.hard or {}).get(
            "pods"
        ),
        30,
        "the quota counted",
    )


def refusal(cluster: Cluster, execution: str) -> str:
    """The FailedCreate message the task ``one`` of ``execution`` waits with."""

    def waiting() -> str | None:
        attempts = (runs_of(cluster.get("executions", execution)).get("one") or {}).get("attempts") or []
        message = (attempts[-1].get("message") or "") if attempts else ""
        return message if "FailedCreate" in message else None

    return str(poll(waiting, 60, "the refusal in the task's attempt"))


def refused_then_run(cluster: Cluster, flow_name: str) -> str:
    """A one-task run of ``flow_name`` whose pod a quota refuses: it waits RUNNING with the
    refusal in its attempt, then, the quota gone, succeeds; its execution's name."""
    no_pods_quota(cluster)
    cluster.apply_flow(flow(flow_name, "{id: one, type: shell, commands: ['echo ran']}"))
    name = cluster.run(flow_name)
    message = refusal(cluster, name)
    assert "exceeded quota" in message and "no-pods" in message, message
    assert cluster.state(name) == "RUNNING"  # it waits: the quota may free up
    cluster.core.delete_namespaced_resource_quota("no-pods", cluster.namespace)
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    assert runs_of(execution)["one"]["attempts"][0].get("message") is None
    return name


def test_a_pod_refused_by_a_quota_waits_and_runs_when_there_is_room(cluster: Cluster) -> None:
    name = refused_then_run(cluster, "quota")
    assert list(pods(cluster, name)) == [f"{name}-one-1"]


def test_a_pod_waiting_on_a_quota_that_turns_invalid_fails_its_attempt(cluster: Cluster) -> None:
    """A LimitRange applied while the pod waits gives it a CPU limit below its request: asked for
    again, the pod is invalid (422, before the quota is even asked), and its attempt fails as
    an invalid pod's does at its first create, instead of every reconcile failing."""
    no_pods_quota(cluster)
    task = "{id: one, type: shell, commands: ['echo ran'], resources: {requests: {cpu: 500m}}}"
    cluster.apply_flow(flow("invalid-later", task))
    name = cluster.run("invalid-later")
    assert "exceeded quota" in refusal(cluster, name)
    limits = client.V1LimitRangeItem(type="Container", default={"cpu": "100m"}, default_request={"cpu": "50m"})
    cluster.core.create_namespaced_limit_range(
        cluster.namespace,
        client.V1LimitRange(
            metadata=client.V1ObjectMeta(name="low-cpu"), spec=client.V1LimitRangeSpec(limits=[limits])
        ),
    )
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=90)
    assert execution["status"]["state"] == "FAILED", execution["status"]
    message = runs_of(execution)["one"]["attempts"][0].get("message") or ""
    assert "the API server rejected the pod: 422" in message and "cpu limit" in message, message
    assert pods(cluster, name) == {}


def test_a_restarted_operator_makes_no_pod_twice(cluster: Cluster, operator_process: OperatorProcess) -> None:
    name, execution = run_through_two_restarts(cluster, operator_process)
    assert execution["status"]["state"] == "SUCCESS"
    assert sorted(pods(cluster, name)) == [f"{name}-s{i}-1" for i in range(1, STEPS + 1)]
    with pytest.raises(ApiException):
        cluster.batch.read_namespaced_job(f"{name}-s1-1", cluster.namespace)


def pods_made(cluster: Cluster, stop: threading.Event, made: dict[str, set[str]]) -> None:
    """Every task pod the namespace sees ADDED, by name: the uids each name had (two: made twice)."""
    version = cluster.core.list_namespaced_pod(cluster.namespace).metadata.resource_version
    while not stop.is_set():
        stream = watch.Watch()
        for event in stream.stream(
            cluster.core.list_namespaced_pod,
            cluster.namespace,
            label_selector="overture.dev/execution",
            resource_version=version,
            timeout_seconds=5,
        ):
            pod = event["object"]
            version = pod.metadata.resource_version
            made[pod.metadata.name].add(pod.metadata.uid)


def reconciled(log: str, namespace: str) -> set[str]:
    """The executions a replica's log shows it acted for: a pod created, an execution ended."""
    found = set()
    for line in log.splitlines():
        created = re.search(rf"Created pod: pod={re.escape(namespace)}/(\S+) task=(\S+) attempt=(\d+)", line)
        if created:
            found.add(created.group(1).removesuffix(f"-{created.group(2)}-{created.group(3)}"))
        ended = re.search(rf"Execution ended: execution={re.escape(namespace)}/(\S+) ", line)
        if ended:
            found.add(ended.group(1))
    return found


SHARDS = 4
PAIR = flow(
    "pod-pair", "{id: one, type: shell, commands: ['sleep 2']}", "{id: two, type: shell, commands: ['echo two']}"
)


def test_two_sharded_replicas_split_the_pods_and_one_takes_over_when_the_other_is_killed(
    cluster: Cluster, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    operator_process.stop()  # the session operator is unsharded: it would reconcile everything beside them
    env = {"OVERTURE_SHARDS": str(SHARDS), "OVERTURE_TASK_RUNTIME": "pod"}
    first = OperatorProcess(operator_process.kubeconfig, tmp_path / "first.log", env)
    second = OperatorProcess(operator_process.kubeconfig, tmp_path / "second.log", env)
    made: dict[str, set[str]] = defaultdict(set)
    stop = threading.Event()
    auditor = threading.Thread(target=pods_made, args=(cluster, stop, made), daemon=True)
    try:
        auditor.start()
        first.start()
        second.start()
        poll(
            lambda: (
                len(held(first.log_path)) == len(held(second.log_path)) == SHARDS // 2
                and held(first.log_path) | held(second.log_path) == set(range(SHARDS))
            ),
            60,
            "the shards split evenly between the replicas",
        )
        cluster.apply_flow(PAIR)
        names = [cluster.run("pod-pair") for _ in range(24)]  # many: some mid-run at the kill
        poll(lambda: any(pods(cluster, name) for name in names), 60, "the executions started")
        lost = held(first.log_path)
        before_kill = second.log_path.read_text(errors="replace")
        first.kill()
        poll(lambda: lost <= held(second.log_path), 60, "the survivor took the dead replica's shards")
        for name in names:
            execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
            assert execution["status"]["state"] == "SUCCESS", (name, execution["status"])
            assert sorted(pods(cluster, name)) == [f"{name}-one-1", f"{name}-two-1"]
            assert all(a["pod"] == a["job"] for r in runs_of(execution).values() for a in r["attempts"])
        stop.set()
        auditor.join(15)
        assert not {pod: uids for pod, uids in made.items() if len(uids) > 1}, "a pod made twice"
        assert {f"{name}-{task}-1" for name in names for task in ("one", "two")} <= set(made)
        lost_names = {name for name in names if shard_of((cluster.namespace, name), SHARDS) in lost}
        assert lost_names and lost_names != set(names), "both replicas had executions"  # the test tests something
        by_first = reconciled(first.log_path.read_text(errors="replace"), cluster.namespace) & set(names)
        by_second_before = reconciled(before_kill, cluster.namespace) & set(names)
        assert by_first <= lost_names, "the dead replica acted for executions of the survivor's shards"
        assert not by_second_before & lost_names, "the survivor acted for the other's executions while it lived"
        assert by_first, "the dead replica made pods before its end"
    finally:
        stop.set()
        first.kill()
        second.kill()
        operator_process.start()
