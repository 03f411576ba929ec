"""Triggers end to end: schedules that fire once per tick across SIGKILLs and two operators,
webhooks, a flow trigger chaining two flows, and resource triggers on a ConfigMap and a Secret.

Schedules tick every second (a 6-field cron, which the harness's operators accept), and the flows
they start have no pod (an ``if`` whose branch is not taken), so a tick costs milliseconds.
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from harness import GROUP, ROOT, VERSION, Cluster, OperatorProcess, poll, post
from kubernetes import client, watch

pytestmark = pytest.mark.e2e

NOOP_TASKS = [
    {"id": "noop", "type": "if", "condition": "false", "then": [{"id": "never", "type": "shell", "commands": ["true"]}]}
]


def flow(name: str, triggers: list[dict[str, Any]], inputs: list[dict[str, Any]] | None = None, **spec: Any) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Flow",
        "metadata": {"name": name},
        "spec": {"inputs": inputs or [], "tasks": spec.pop("tasks", NOOP_TASKS), "triggers": triggers, **spec},
    }


def executions(cluster: Cluster, selector: str) -> list[dict[str, Any]]:
    listing = cluster.custom.list_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "executions", label_selector=selector
    )
    return list(listing["items"])


def tick_of(execution: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(execution["spec"]["trigger"]["date"]).astimezone(UTC)


def suspend(cluster: Cluster, name: str) -> None:
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "flows", name, {"spec": {"suspend": True}}
    )


def assert_one_per_tick(found: list[dict[str, Any]]) -> list[datetime]:
    ticks = sorted(tick_of(e) for e in found)
    assert len(ticks) == len(set(ticks)), f"a tick fired twice: {ticks}"
    gaps = [(a, b) for a, b in itertools.pairwise(ticks) if b - a != timedelta(seconds=1)]
    assert not gaps, f"ticks missing between {gaps}"
    return ticks


# --- schedules -------------------------------------------------------------------------------


def test_schedule_tick_delay_over_20_ticks(cluster: Cluster) -> None:
    seen: dict[str, float] = {}
    stop = threading.Event()

    def record() -> None:
        stream = watch.Watch()
        for event in stream.stream(
            cluster.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            cluster.namespace,
            "executions",
            label_selector="overture.dev/flow=every-second",
            timeout_seconds=90,
        ):
            seen.setdefault(event["object"]["metadata"]["name"], time.time())
            if stop.is_set():
                stream.stop()

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()
    cluster.apply_flow(flow("every-second", [{"id": "tick", "type": "schedule", "cron": "* * * * * *"}]))
    found = poll(
        lambda: (lambda items: items if len(items) >= 22 else None)(
            executions(cluster, "overture.dev/flow=every-second")
        ),
        90,
        "22 ticks of every-second",
        interval=0.5,
    )
    suspend(cluster, "every-second")
    stop.set()
    ticks = assert_one_per_tick(found)
    by_name = {e["metadata"]["name"]: e for e in found}
    observed = sorted(seen[n] - tick_of(e).timestamp() for n, e in by_name.items() if n in seen)
    created = sorted(
        (datetime.fromisoformat(e["metadata"]["creationTimestamp"].replace("Z", "+00:00")) - tick_of(e)).total_seconds()
        for e in found
    )
    print(
        f"\ntick -> Execution seen by a watch, over {len(observed)} ticks: "
        f"median {statistics.median(observed) * 1000:.0f} ms, max {max(observed) * 1000:.0f} ms"
        f"\ntick -> creationTimestamp (1 s resolution), over {len(created)} ticks: "
        f"median {statistics.median(created):.0f} s, max {max(created):.0f} s"
    )
    assert len(ticks) >= 20
    assert len(observed) >= 20
    assert statistics.median(observed) < 1.0
    assert found[0]["spec"]["trigger"]["type"] == "schedule"
    status = cluster.get("flows", "every-second")["status"]["triggers"][0]
    assert status["id"] == "tick"
    assert status["timezone"] == "UTC"
    assert "lastTick" in status


def test_schedule_fires_once_per_tick_with_two_operators_and_across_sigkill(
    cluster: Cluster, operator_process: OperatorProcess, tmp_path
) -> None:
    selector = "overture.dev/flow=twice-guarded"
    # a second operator without leader election: both fire every tick, the names make one win
    second = OperatorProcess(
        operator_process.kubeconfig, tmp_path / "second.log", env={"OVERTURE_LEADER_ELECTION": "false"}
    )
    second.start()
    try:
        cluster.apply_flow(
            flow("twice-guarded", [{"id": "tick", "type": "schedule", "cron": "* * * * * *", "catchUp": "all"}])
        )
        poll(lambda: len(executions(cluster, selector)) >= 6 or None, 60, "6 ticks with two operators")
        operator_process.kill()
        poll(lambda: len(executions(cluster, selector)) >= 9 or None, 30, "3 more ticks from the second operator")
        second.kill()
        down_at = datetime.now(UTC)
        poll(lambda: datetime.now(UTC) > down_at + timedelta(seconds=3), 10, "3 ticks with no operator")
        operator_process.start()
        back_at = datetime.now(UTC)

        def caught_up() -> list[dict[str, Any]] | None:
            items = executions(cluster, selector)
            return items if items and max(tick_of(e) for e in items) >= back_at + timedelta(seconds=2) else None

        found = poll(caught_up, 60, "ticks after the restart (the restarted operator waits for the Lease)")
        suspend(cluster, "twice-guarded")
    finally:
        second.kill()
    ticks = assert_one_per_tick(found)
    assert ticks[0] < down_at < back_at < ticks[-1]
    logs = (tmp_path / "second.log").read_text()
    assert "Created Execution" in logs


# --- webhooks --------------------------------------------------------------------------------


def test_webhook_right_and_wrong_keys(cluster: Cluster, operator_process: OperatorProcess) -> None:
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="hooks"), string_data={"ingest": "s3cret"}),
    )
    cluster.apply_flow(
        flow(
            "ingest",
            [
                {
                    "id": "on-upload",
                    "type": "webhook",
                    "keySecretRef": {"name": "hooks", "key": "ingest"},
                    "inputs": {"files": "{{ trigger.body.files }}"},
                }
            ],
            inputs=[{"id": "files", "type": "INT", "min": 1}],
        )
    )
    path = f"/webhooks/{cluster.namespace}/ingest/on-upload"
    port = operator_process.port

    def accepted() -> tuple[int, dict[str, Any]] | None:
        status, reply = post(port, path, b'{"files": 3}', {"X-Overture-Key": "s3cret", "Idempotency-Key": "upload-1"})
        return (status, reply) if status != 401 else None  # 401 until the operator has seen the flow

    status, reply = poll(accepted, 30, "the webhook accepts the right key")
    assert status == 201
    name = reply["execution"]
    execution = cluster.wait_state(name, {"SUCCESS"}, timeout=30)
    assert execution["spec"]["trigger"]["type"] == "webhook"
    assert execution["spec"]["trigger"]["data"] == {"files": 3}
    assert execution["status"]["inputs"] == {"files": 3}
    again = post(port, path, b'{"files": 3}', {"X-Overture-Key": "s3cret", "Idempotency-Key": "upload-1"})
    assert again == (200, {"execution": name, "created": False})

    wrong = post(port, path, b'{"files": 3}', {"X-Overture-Key": "guess"})
    unknown = post(port, f"/webhooks/{cluster.namespace}/no-such-flow/on-upload", b"{}", {"X-Overture-Key": "s3cret"})
    assert wrong == unknown == (401, {"error": "invalid key or unknown webhook"})
    invalid = post(port, f"{path}?key=s3cret", b'{"files": 0}')
    assert invalid[0] == 422
    assert "spec.inputs.files" in invalid[1]["error"]
    assert post(port, f"{path}?key=s3cret", b"x" * (1024 * 1024 + 1))[0] == 413
    webhook_runs = executions(cluster, "overture.dev/trigger=on-upload")
    assert [e["metadata"]["name"] for e in webhook_runs] == [name]


# --- flow triggers ---------------------------------------------------------------------------

UPSTREAM_TASKS = [
    {
        "id": "extract",
        "type": "python",
        "script": 'import json; json.dump({"rows": 42}, open("/overture/outputs.json", "w"))',
    }
]


@pytest.mark.realnode
def test_flow_trigger_chains_two_flows_with_outputs(cluster: Cluster) -> None:
    cluster.apply_flow(flow("raw-load", [], tasks=UPSTREAM_TASKS))
    cluster.apply_flow(
        flow(
            "report",
            [
                {
                    "id": "after-raw",
                    "type": "flow",
                    "flows": [{"name": "raw-load"}],
                    "states": ["SUCCESS"],
                    "inputs": {"rows": "{{ trigger.outputs.extract.rows }}", "upstream": "{{ trigger.execution }}"},
                }
            ],
            inputs=[{"id": "rows", "type": "INT"}, {"id": "upstream", "type": "STRING"}],
        )
    )
    poll(lambda: cluster.get("flows", "report").get("status", {}).get("triggers"), 30, "report's triggers registered")
    upstream = cluster.run("raw-load")
    cluster.wait_state(upstream, {"SUCCESS"}, timeout=120)
    found = poll(lambda: executions(cluster, "overture.dev/flow=report"), 30, "report started by raw-load's end")
    assert len(found) == 1
    downstream = cluster.wait_state(found[0]["metadata"]["name"], {"SUCCESS"}, timeout=30)
    assert downstream["status"]["inputs"] == {"rows": 42, "upstream": upstream}
    assert downstream["spec"]["trigger"]["type"] == "flow"
    assert downstream["spec"]["trigger"]["data"]["outputs"] == {"extract": {"rows": 42}}


def test_flow_trigger_ignores_other_states_and_fires_once(cluster: Cluster) -> None:
    cluster.apply_flow(flow("quick", []))
    cluster.apply_flow(
        flow(
            "on-failure",
            [{"id": "after", "type": "flow", "flows": [{"name": "quick"}], "states": ["FAILED"]}],
        )
    )
    cluster.apply_flow(
        flow(
            "on-success",
            [{"id": "after", "type": "flow", "flows": [{"name": "quick"}], "states": ["SUCCESS"]}],
        )
    )
    poll(lambda: cluster.get("flows", "on-success").get("status", {}).get("triggers"), 30, "triggers registered")
    upstream = cluster.run("quick")
    cluster.wait_state(upstream, {"SUCCESS"}, timeout=60)
    started = poll(lambda: executions(cluster, "overture.dev/flow=on-success"), 30, "on-success started")
    assert started[0]["spec"]["trigger"]["data"]["execution"] == upstream
    assert executions(cluster, "overture.dev/flow=on-failure") == []


# --- resource triggers -----------------------------------------------------------------------


def test_resource_trigger_fires_on_configmap_and_secret_creation(cluster: Cluster) -> None:
    cluster.apply_flow(
        flow(
            "on-landing",
            [
                {
                    "id": "landed",
                    "type": "resource",
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "matchLabels": {"overture.dev/landed": "true"},
                    "inputs": {"file": "{{ trigger.object.data.file }}"},
                },
                {"id": "secret-made", "type": "resource", "apiVersion": "v1", "kind": "Secret"},
            ],
            inputs=[{"id": "file", "type": "STRING", "required": False}],
        )
    )
    poll(lambda: cluster.get("flows", "on-landing").get("status", {}).get("triggers"), 30, "triggers registered")
    cluster.core.create_namespaced_config_map(
        cluster.namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other"), data={"file": "ignored.csv"}),
    )
    cluster.core.create_namespaced_config_map(
        cluster.namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="games-2026", labels={"overture.dev/landed": "true"}),
            data={"file": "s3://raw/games-2026.csv"},
        ),
    )
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="token"), string_data={"password": "hunter2"}),
    )
    landed = poll(lambda: executions(cluster, "overture.dev/trigger=landed"), 30, "the ConfigMap trigger fired")
    execution = cluster.wait_state(landed[0]["metadata"]["name"], {"SUCCESS"}, timeout=30)
    assert execution["status"]["inputs"] == {"file": "s3://raw/games-2026.csv"}
    assert execution["spec"]["trigger"]["data"]["metadata"]["name"] == "games-2026"
    assert execution["spec"]["trigger"]["data"]["event"] == "created"

    def secret_runs() -> list[dict[str, Any]] | None:
        runs = executions(cluster, "overture.dev/trigger=secret-made")
        return [e for e in runs if e["spec"]["trigger"]["data"]["metadata"]["name"] == "token"] or None

    secret_run = poll(secret_runs, 30, "the Secret trigger fired")[0]
    assert "hunter2" not in json.dumps(secret_run)
    assert "data" not in secret_run["spec"]["trigger"]["data"]
    # the unlabelled ConfigMap was created first, in the same watch: it would have been seen by now
    assert len(executions(cluster, "overture.dev/trigger=landed")) == 1


def test_suspended_flow_fires_nothing(cluster: Cluster) -> None:
    cluster.apply_flow(flow("asleep", [{"id": "tick", "type": "schedule", "cron": "* * * * * *"}], suspend=True))
    poll(
        lambda: (cluster.get("flows", "asleep").get("status", {}).get("triggers") or [{}])[0].get("message"),
        30,
        "the schedule registered as suspended",
    )
    started = datetime.now(UTC)
    poll(lambda: datetime.now(UTC) > started + timedelta(seconds=3), 10, "three ticks")
    assert executions(cluster, "overture.dev/flow=asleep") == []


# --- backfill --------------------------------------------------------------------------------


def backfill(cluster: Cluster, kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "overture", "backfill", *args, "-n", cluster.namespace, "--kubeconfig", kubeconfig]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_backfill_creates_one_execution_per_tick_once(cluster: Cluster, operator_process: OperatorProcess) -> None:
    cluster.apply_flow(
        flow(
            "hourly",
            [
                {
                    "id": "every-hour",
                    "type": "schedule",
                    "cron": "0 * * * *",
                    "timezone": "Europe/Paris",
                    "inputs": {"hour": "{{ trigger.date }}"},
                }
            ],
            inputs=[{"id": "hour", "type": "DATETIME"}],
        )
    )
    args = ("hourly", "--from", "2026-03-29T00:00", "--to", "2026-03-29T05:00")
    dry = backfill(cluster, operator_process.kubeconfig, *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    # spring forward: 00:00 01:00 03:00 04:00 05:00 Paris time (02:00 does not exist)
    assert dry.stdout.count("(dry run)") == 5
    assert executions(cluster, "overture.dev/flow=hourly") == []

    first = backfill(cluster, operator_process.kubeconfig, *args, "--concurrency", "2")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(" created") == 5
    again = backfill(cluster, operator_process.kubeconfig, *args)
    assert again.stdout.count("exists already") == 5
    found = executions(cluster, "overture.dev/backfill")
    assert sorted(e["spec"]["trigger"]["date"] for e in found) == [
        "2026-03-29T00:00:00+01:00",
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T04:00:00+02:00",
        "2026-03-29T05:00:00+02:00",
    ]
    assert {e["spec"]["trigger"]["type"] for e in found} == {"backfill"}
    for execution in found:
        cluster.wait_state(execution["metadata"]["name"], {"SUCCESS"}, timeout=30)


def test_a_webhook_condition_filters_calls(cluster: Cluster, operator_process: OperatorProcess) -> None:
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="hooks"), string_data={"deploy": "s3cret"}),
    )
    example = ROOT / "examples" / "14-trigger-conditions.yaml"
    cluster.apply_flow(yaml.safe_load(example.read_text()))
    path = f"/webhooks/{cluster.namespace}/trigger-conditions/on-push"
    key = {"X-Overture-Key": "s3cret"}

    def answered() -> tuple[int, dict[str, Any]] | None:
        status, reply = post(operator_process.port, path, b'{"event": "push", "ref": "refs/heads/dev"}', key)
        return (status, reply) if status != 401 else None  # 401 until the operator has seen the flow

    status, reply = poll(answered, 30, "the webhook answers")
    assert (status, reply) == (200, {"skipped": "trigger 'on-push': condition rendered 'False'"})
    status, reply = post(operator_process.port, path, b'{"event": "push", "ref": "refs/heads/main"}', key)
    assert status == 201
    execution = cluster.wait_state(reply["execution"], {"SUCCESS", "FAILED"}, timeout=120)
    assert execution["status"]["inputs"] == {"ref": "refs/heads/main"}
    assert len(executions(cluster, "overture.dev/trigger=on-push")) == 1


def test_a_flow_trigger_on_all_of_its_flows_waits_for_each(cluster: Cluster) -> None:
    cluster.apply_flow(flow("orders-load", []))
    cluster.apply_flow(flow("customers-load", []))
    cluster.apply_flow(yaml.safe_load((ROOT / "examples" / "15-flow-trigger-all.yaml").read_text()))
    poll(lambda: cluster.get("flows", "daily-report").get("status", {}).get("conditions"), 30, "report read")
    orders = cluster.run("orders-load")
    cluster.wait_state(orders, {"SUCCESS"}, timeout=60)
    time.sleep(3)  # not a race: asserting that nothing happens needs a moment in which it could have
    assert executions(cluster, "overture.dev/flow=daily-report") == []
    customers = cluster.run("customers-load")
    cluster.wait_state(customers, {"SUCCESS"}, timeout=60)
    started = poll(lambda: executions(cluster, "overture.dev/flow=daily-report"), 30, "daily-report started")
    assert len(started) == 1
    assert started[0]["spec"]["inputs"] == {"runs": f"{orders} {customers}"}
    again = cluster.run("customers-load")  # orders has not succeeded again since: nothing new
    cluster.wait_state(again, {"SUCCESS"}, timeout=60)
    time.sleep(3)
    assert len(executions(cluster, "overture.dev/flow=daily-report")) == 1
