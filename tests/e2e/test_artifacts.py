"""Data between tasks through the artifact store, end to end (issue 15): real pods under the
wrapper, the local cluster's S3 server, the operator as a process with the store's settings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from faults import restart_store
from harness import ROOT, Cluster, OperatorProcess, poll, post
from kubernetes import client
from store import StoreAccess

from overture.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]

FLOW = "apiVersion: overture.dev/v1alpha1\nkind: Flow\n"


def runs(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["id"]: run for run in execution["status"]["taskRuns"]}


def failures(execution: dict[str, Any]) -> list[str]:
    """Every failed attempt's message: what an assertion on the state should show."""
    return [
        f"{run['id']} attempt {a['attempt']}: {a.get('message')}"
        for run in execution["status"].get("taskRuns") or []
        for a in run.get("attempts") or []
        if a["state"] == "FAILED"
    ] or [str(execution["status"].get("message"))]


def test_a_50_mb_csv_passes_between_python_tasks(cluster: Cluster, object_store: StoreAccess) -> None:
    cluster.apply_flow(
        FLOW
        + """
metadata: {name: csv}
spec:
  tasks:
    - id: extract
      type: python
      outputFiles: ["out/*.csv"]
      script: |
        import os
        os.makedirs("out")
        row = "2026-01-01,some-user-name,42,3.14159,a-longer-text-column-to-fill-the-row\\n"
        with open("out/data.csv", "w") as f:
            f.write("day,user,n,x,text\\n")
            f.write(row * (50_000_000 // len(row) + 1))  # 50 MB and a bit
    - id: load
      type: python
      inputFiles:
        data.csv: "{{ outputs.extract.files['out/data.csv'] }}"
      script: |
        import json, os
        rows = sum(1 for _ in open("data.csv")) - 1
        print("::" + json.dumps({"outputs": {"rows": rows, "bytes": os.path.getsize("data.csv")}}) + "::")
"""
    )
    name = cluster.run("csv")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=240)
    assert execution["status"]["state"] == "SUCCESS", failures(execution)
    task_runs = runs(execution)
    reference = task_runs["extract"]["outputs"]["files"]["out/data.csv"]
    key = object_store.key_of(reference)
    assert key and key.startswith(f"{cluster.namespace}/{name}/")
    size = object_store.keys(key.rsplit("/", 1)[0])[key]
    assert size >= 50_000_000
    assert task_runs["load"]["outputs"] == {"rows": 50_000_000 // 74 + 1, "bytes": size}


def test_a_busybox_file_is_read_by_a_python_task(cluster: Cluster) -> None:
    cluster.apply_flow(
        FLOW
        + """
metadata: {name: busybox-to-python}
spec:
  tasks:
    - id: make
      type: shell
      outputFiles: ["report/**"]
      outputsFrom: {parts: count.txt}
      commands:
        - mkdir -p report/parts && echo one > report/parts/a.txt && echo two > report/b.txt
        - ls report | wc -l | tr -d ' ' > count.txt
    - id: read
      type: python
      inputFiles:
        a.txt: "{{ outputs.make.files['report/parts/a.txt'] }}"
        b.txt: "{{ outputs.make.files['report/b.txt'] }}"
        note.txt: "inline {{ execution.flow }} {{ outputs.make.parts }}"
      script: |
        import json
        text = open("a.txt").read() + open("b.txt").read() + open("note.txt").read()
        json.dump({"text": text}, open("/overture/outputs.json", "w"))
"""
    )
    name = cluster.run("busybox-to-python")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
    assert execution["status"]["state"] == "SUCCESS", failures(execution)
    assert runs(execution)["make"]["outputs"]["parts"] == "2"  # outputsFrom: the file's text
    assert runs(execution)["read"]["outputs"] == {"text": "one\ntwo\ninline busybox-to-python 2"}


def test_20_kb_of_outputs_reach_a_later_template_and_the_status_stays_small(cluster: Cluster) -> None:
    cluster.apply_flow(
        FLOW
        + """
metadata: {name: big-outputs}
spec:
  tasks:
    - id: big
      type: python
      script: |
        import json
        json.dump({"blob": "x" * 20000, "n": 7}, open("/overture/outputs.json", "w"))
    - id: use
      type: shell
      commands:
        - |
          echo '::{"outputs": {"length": {{ outputs.big.blob | length }}, "n": {{ outputs.big.n }}}}::'
"""
    )
    name = cluster.run("big-outputs")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
    assert execution["status"]["state"] == "SUCCESS", failures(execution)
    task_runs = runs(execution)
    assert "outputs" not in task_runs["big"] or task_runs["big"]["outputs"] is None
    assert task_runs["big"]["outputsStored"]["size"] > 20000
    assert task_runs["use"]["outputs"] == {"length": 20000, "n": 7}
    assert len(str(execution["status"])) < 8000


def test_outputs_over_the_maximum_fail_the_task_in_its_pod(cluster: Cluster) -> None:
    cluster.apply_flow(
        FLOW
        + """
metadata: {name: huge-outputs}
spec:
  tasks:
    - id: huge
      type: python
      script: |
        import json
        json.dump({"blob": "x" * 1_500_000}, open("/overture/outputs.json", "w"))
"""
    )
    name = cluster.run("huge-outputs")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
    assert execution["status"]["state"] == "FAILED"
    message = runs(execution)["huge"]["attempts"][-1]["message"]
    assert "outputs: 1.4 MiB of outputs, over the limit of 1.0 MiB" in message, message


def test_the_store_restarted_during_a_run_fails_the_attempt_clearly_and_the_retry_succeeds(
    cluster: Cluster,
) -> None:
    cluster.apply_flow(
        FLOW
        + """
metadata: {name: store-outage}
spec:
  tasks:
    - id: write
      type: shell
      outputFiles: ["out.txt"]
      retry: {maxAttempts: 3, interval: 1s}
      commands:
        - echo started; sleep 8; echo data > out.txt
"""
    )
    name = cluster.run("store-outage")

    def started() -> bool:
        run = (cluster.get("executions", name).get("status") or {}).get("taskRuns") or []
        return bool(run and run[0]["attempts"] and run[0]["attempts"][0].get("pod"))

    poll(started, 60, "the first attempt's pod")
    # The pod's name reaches the status up to ~5 s after it starts (a routine change is held to be
    # written with the next one), so the task sleeps 8 s before its upload; the store stays down
    # 20 s, longer than that upload and the wrapper's own tries (1 s, then 2 s) after it.
    restart_store(down_seconds=20)
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    attempts = runs(execution)["write"]["attempts"]
    assert execution["status"]["state"] == "SUCCESS", failures(execution)
    first = attempts[0]
    assert first["state"] == "FAILED" and first["exitCode"] == 125, first
    assert "outputFiles: storing out.txt: PUT" in first["message"], first
    assert "(3 attempts)" in first["message"], first
    assert attempts[-1]["state"] == "SUCCESS"


def test_a_task_cannot_read_another_namespaces_artifact(cluster: Cluster, object_store: StoreAccess) -> None:
    other = f"s3://{object_store.bucket}/another-team/secret-execution/job/files/data.csv"
    cluster.apply_flow(
        FLOW
        + f"""
metadata: {{name: trespass}}
spec:
  tasks:
    - id: steal
      type: shell
      inputFiles: {{data.csv: "{other}"}}
      commands: ["cat data.csv"]
"""
    )
    name = cluster.run("trespass")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=60)
    assert execution["status"]["state"] == "FAILED"
    message = runs(execution)["steal"]["attempts"][-1]["message"]
    assert "belongs to another namespace" in message, message


def test_retention_and_deletion_leave_no_objects(cluster: Cluster, object_store: StoreAccess) -> None:
    cluster.apply_flow(
        FLOW
        + """
metadata: {name: kept-one}
spec:
  retention: {keep: 1}
  tasks:
    - id: make
      type: shell
      outputFiles: ["*.txt"]
      commands: ["echo a > a.txt; echo b > b.txt"]
"""
    )
    namespace = cluster.namespace + "/"
    first = cluster.run("kept-one")
    cluster.wait_state(first, {"SUCCESS"}, timeout=120)
    assert len(object_store.keys(f"{namespace}{first}/")) == 3  # two files and the log
    second = cluster.run("kept-one")
    cluster.wait_state(second, {"SUCCESS"}, timeout=120)
    poll(lambda: not object_store.keys(f"{namespace}{first}/"), 60, f"no object of {first} after retention")
    assert sorted(k.rsplit("/", 1)[1] for k in object_store.keys(namespace)) == ["0", "1", "log"]  # file slots

    cluster.custom.delete_namespaced_custom_object("overture.dev", "v1alpha1", cluster.namespace, "executions", second)
    poll(lambda: not object_store.keys(namespace), 60, f"no object left in {namespace} after deleting {second}")


def test_objects_of_an_execution_deleted_unseen_are_swept(cluster: Cluster, object_store: StoreAccess) -> None:
    """An Execution deleted while no operator ran leaves objects nobody was told to delete: the
    sweep (every OVERTURE_ARTIFACT_ORPHAN_SECONDS, 15 s in the harness) finds them."""
    cluster.apply_flow(FLOW + "metadata: {name: any-flow}\nspec: {tasks: [{id: a, type: shell, commands: [echo]}]}\n")
    ghost = f"{cluster.namespace}/ghost-execution/"
    object_store.write(ghost + "ghost-execution-a-1/log", b"from a run deleted while the operator was down")
    poll(lambda: not object_store.keys(ghost), 90, f"the sweep to delete {ghost}")


def test_a_file_input_from_the_cli_and_logs_after_the_pod_is_gone(
    cluster: Cluster,
    kubeconfig: str,
    object_store: StoreAccess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("ENDPOINT", "BUCKET", "REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"):
        monkeypatch.setenv(f"OVERTURE_S3_{name}", getattr(object_store, name.lower()))
    cluster.apply_flow(
        FLOW
        + """
metadata: {name: count-lines}
spec:
  inputs:
    - {id: data, type: FILE}
  tasks:
    - id: count
      type: shell
      inputFiles: {data.csv: "{{ inputs.data }}"}
      commands:
        - echo "counting {{ inputs.data }}"
        - |
          echo "::{\\"outputs\\": {\\"lines\\": $(wc -l < data.csv)}}::"
"""
    )
    local = tmp_path / "local.csv"
    local.write_text("a,b\n1,2\n3,4\n")
    target = ["--kubeconfig", kubeconfig, "-n", cluster.namespace]
    assert main(["run", "count-lines", "-i", f"data=@{local}", "--wait", "--timeout", "120", *target]) == 0
    name = re.search(r"execution\.overture\.dev/(\S+) created", capsys.readouterr().out)
    assert name is not None
    execution = cluster.get("executions", name.group(1))
    run = runs(execution)["count"]
    assert run["outputs"] == {"lines": 3}
    reference = execution["spec"]["inputs"]["data"]
    assert reference == f"s3://{object_store.bucket}/{cluster.namespace}/{name.group(1)}/inputs/data/local.csv"

    job = run["attempts"][0]["job"]
    cluster.batch.delete_namespaced_job(job, cluster.namespace, propagation_policy="Foreground")
    poll(
        lambda: not cluster.core.list_namespaced_pod(cluster.namespace, label_selector=f"job-name={job}").items,
        60,
        f"the pods of {job} gone",
    )
    capsys.readouterr()
    assert main(["logs", name.group(1), *target]) == 0
    out = capsys.readouterr().out
    assert f"counting {reference}" in out, out
    assert "[overture] fetched 1 input file(s)" in out, out


def test_a_webhook_passes_a_file_as_a_url(
    cluster: Cluster, operator_process: OperatorProcess, object_store: StoreAccess
) -> None:
    """A caller hands a file it holds elsewhere as an http(s) URL (here a presigned GET of its own
    object in the same S3 server): the pod fetches it; the operator never carries the bytes."""
    key = f"e2e/webhook-caller/{cluster.namespace}/upload.csv"
    object_store.write(key, b"id,name\n1,a\n2,b\n3,c\n")
    url = object_store.get_url(key)
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="hooks"), string_data={"upload": "s3cret"}),
    )
    cluster.apply_flow(
        FLOW
        + """
metadata: {name: on-upload}
spec:
  inputs:
    - {id: data, type: FILE}
  triggers:
    - {id: landed, type: webhook, keySecretRef: {name: hooks, key: upload}, inputs: {data: "{{ trigger.body.url }}"}}
  tasks:
    - id: count
      type: shell
      inputFiles: {data.csv: "{{ inputs.data }}"}
      outputsFrom: {lines: lines.txt}
      commands: ["wc -l < data.csv | tr -d ' ' > lines.txt"]
"""
    )
    path = f"/webhooks/{cluster.namespace}/on-upload/landed"
    headers = {"X-Overture-Key": "s3cret", "Content-Type": "application/json"}

    def accepted() -> tuple[int, dict[str, Any]] | None:
        status, reply = post(operator_process.port, path, json.dumps({"url": url}).encode(), headers)
        return (status, reply) if status != 401 else None  # 401 until the operator has seen the flow

    status, reply = poll(accepted, 30, "the webhook accepts the call")
    assert status == 201, reply
    bad = post(operator_process.port, path, b'{"url": "/etc/passwd"}', headers)
    assert bad[0] == 422 and "spec.inputs.data" in bad[1]["error"], bad
    execution = cluster.wait_state(reply["execution"], {"SUCCESS", "FAILED"}, timeout=120)
    assert execution["status"]["state"] == "SUCCESS", failures(execution)
    assert runs(execution)["count"]["outputs"] == {"lines": "4"}


def test_the_etl_files_example_runs(cluster: Cluster) -> None:
    cluster.apply_flow(yaml.safe_load((ROOT / "examples" / "08-etl-files.yaml").read_text()))
    name = cluster.run("etl-files")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    assert execution["status"]["state"] == "SUCCESS", failures(execution)
    task_runs = runs(execution)
    assert task_runs["extract"]["outputs"]["rows"] == 42
    assert task_runs["transform"]["outputs"]["kept"] == "22"  # scores 200..410
    assert task_runs["load"]["outputs"] == {"loaded": 22, "top": 410}
