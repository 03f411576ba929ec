"""The integration tasks on the local cluster: http, sql and notify made by the operator, dbt in a pod.

One flow reads real PostgreSQL (``sql``), posts what it found to an HTTP server the test controls
(``http``, with a token from a Secret), builds a dbt model in the same database (the dbt image,
in a pod that reaches PostgreSQL on the pod bridge), then calls a broken endpoint that fails
twice; its ``errors`` handler mails the failure to an aiosmtpd server. The test reads what each
server received, what each task's outputs are, and what the run cost: Jobs and API requests.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from harness import Cluster, OperatorProcess, poll
from integrations import HttpServer, PostgresServer, SmtpServer, pod_host
from kubernetes import client
from store import StoreAccess

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DBT_IMAGE = "localhost/overture-dbt:dev"


def secret(cluster: Cluster, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    cluster.core.create_namespaced_secret(
        cluster.namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name), data=encoded)
    )


def runs(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["id"]: run for run in execution["status"]["taskRuns"]}


def flow_doc(pg: PostgresServer, http: HttpServer, smtp: SmtpServer, pods_reach: str) -> str:
    return f"""
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {{name: integrations}}
spec:
  inputs:
    - {{id: day, type: STRING}}
  tasks:
    - id: count
      type: sql
      connection: {{host: 127.0.0.1, port: {pg.port}, database: {pg.database}, user: {pg.user},
                   password: "{{{{ secret('warehouse', 'password') }}}}"}}
      query: SELECT player, score FROM games WHERE played = $1 ORDER BY score DESC
      parameters: ["{{{{ inputs.day }}}}"]
    - id: report
      type: http
      method: POST
      url: "{http.url("/api/reports")}"
      headers:
        - {{name: Authorization, value: "Bearer {{{{ secret('api', 'token') }}}}"}}
      json:
        day: "{{{{ inputs.day }}}}"
        best: "{{{{ outputs.count.rows[0].player }}}}"
        games: "{{{{ outputs.count.rowCount }}}}"
      expectedStatus: [201]
    - id: models
      type: container
      image: {DBT_IMAGE}
      command: [/opt/dbt/bin/overture-dbt]
      args: [run, --profiles-dir, .]
      env:
        - {{name: PGPASSWORD, secretKeyRef: {{name: warehouse, key: password}}}}
      inputFiles:
        dbt_project.yml: |
          name: games
          version: "1.0"
          profile: games
          model-paths: [models]
        profiles.yml: |
          games:
            target: dev
            outputs:
              dev:
                type: postgres
                host: "{pods_reach}"
                port: {pg.port}
                user: {pg.user}
                password: "{{% raw %}}{{{{ env_var('PGPASSWORD') }}}}{{% endraw %}}"
                dbname: {pg.database}
                schema: public
                threads: 1
        models/daily_best.sql: |
          select played, max(score) as best from games group by played
    - id: flaky
      type: http
      url: "{http.url("/api/broken")}"
      retry: {{maxAttempts: 2, interval: 1s}}
  errors:
    - id: mail
      type: notify
      message: >-
        Flow {{{{ flow.name }}}} failed on {{{{ inputs.day }}}}:
        see overture get execution {{{{ execution.id }}}}
      email:
        server: {{host: 127.0.0.1, port: {smtp.port}, tls: none}}
        from: overture@example.org
        to: [oncall@example.org]
        subject: "{{{{ flow.name }}}} failed"
"""


@pytest.fixture(scope="module")
def dbt_image(kubeconfig: str) -> str:
    """The dbt image (hack/image.sh dbt), built once and imported into this cluster's node."""
    env = {"PYTHON": str(ROOT / ".venv" / "bin" / "python")}
    result = subprocess.run(
        ["bash", str(ROOT / "hack" / "image.sh"), "dbt", "--import"],
        capture_output=True, text=True, check=False, env={**os.environ, **env}, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return DBT_IMAGE


@pytest.mark.realnode
def test_sql_http_dbt_and_a_failure_mailed(
    cluster: Cluster,
    operator_process: OperatorProcess,
    postgres: PostgresServer,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    kubeconfig: str,
    dbt_image: str,
) -> None:
    pods_reach = pod_host(kubeconfig)
    assert pods_reach, "the local cluster's real node (pods reach PostgreSQL on the pod bridge)"
    postgres.psql("DROP TABLE IF EXISTS games CASCADE; CREATE TABLE games (player text, played date, score int)")
    postgres.psql(
        "INSERT INTO games VALUES ('ann', '2026-01-31', 12), ('bob', '2026-01-31', 19), ('cy', '2026-01-30', 7)"
    )
    http_server.answer("/api/reports", 201, {"id": "rep-1"})
    http_server.answer("/api/broken", 500, {"error": "maintenance"})
    secret(cluster, "warehouse", {"password": postgres.password})
    secret(cluster, "api", {"token": "t0ken-123"})
    cluster.apply_flow(flow_doc(postgres, http_server, smtp_server, pods_reach))
    poll(lambda: (cluster.get("flows", "integrations").get("status") or {}).get("conditions"), 30, "flow status")
    mails_before = len(smtp_server.messages)
    before = operator_process.api_requests()

    name = cluster.run("integrations", {"day": "2026-01-31"})
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED", "WARNING"}, timeout=300)
    time.sleep(2)  # the last Events
    after = operator_process.api_requests()
    by_id = runs(execution)

    assert by_id["count"]["state"] == "SUCCESS"
    assert by_id["count"]["outputs"]["rows"] == [{"player": "bob", "score": 19}, {"player": "ann", "score": 12}]
    report = [r for r in http_server.requests if r.path == "/api/reports"][-1]
    assert report.json() == {"day": "2026-01-31", "best": "bob", "games": "2"}
    assert report.headers["Authorization"] == "Bearer t0ken-123"
    assert by_id["report"]["outputs"] == {"status": 201, "json": {"id": "rep-1"}}

    assert by_id["models"]["state"] == "SUCCESS", by_id["models"]
    dbt = by_id["models"]["outputs"]
    assert (dbt["command"], dbt["success"], dbt["counts"]) == ("run", True, {"success": 1})
    assert dbt["nodes"][0]["id"] == "model.games.daily_best"
    assert postgres.psql("SELECT best FROM daily_best WHERE played = '2026-01-31'") == "19"

    flaky = by_id["flaky"]
    assert flaky["state"] == "FAILED"
    assert [a["state"] for a in flaky["attempts"]] == ["FAILED", "FAILED"]
    assert "answered 500, expected 2xx" in flaky["message"]
    assert execution["status"]["state"] == "FAILED"

    assert by_id["mail"]["state"] == "SUCCESS"
    mail = poll(lambda: smtp_server.messages[mails_before:], 10, "the failure mail")[-1]
    assert mail["Subject"] == "integrations failed"
    assert f"see overture get execution {name}" in mail.get_content()

    jobs = [job.metadata.name for job in cluster.jobs(name)]
    assert len(jobs) == 1, jobs  # only dbt runs in a pod: sql, http and notify are made by the operator
    delta = {verb: after.get(verb, 0) - before.get(verb, 0) for verb in after}
    writes = {k: v for k, v in delta.items() if k in ("create", "update", "patch", "delete") and v}
    print(f"\nAPI requests for 5 task runs (4 calls and 1 pod; 6 attempts): {delta}; writes {writes}")
    # The two Secret keys the calls named, each read when its call was made, and the Namespace's
    # task policy (kube/namespaces.py), read at most once per Job created (it is kept 10 s).
    assert 2 <= delta.get("get", 0) <= 2 + len(jobs), delta


@pytest.mark.realnode
def test_sql_rows_to_a_csv_file_read_by_a_later_task(
    cluster: Cluster, postgres: PostgresServer, object_store: StoreAccess
) -> None:
    """``rowsTo: CsvFile``: the operator streams the query's rows into the attempt's first file
    slot in the store; a python task reads it through ``inputFiles`` as any task's file."""
    postgres.psql("DROP TABLE IF EXISTS visits; CREATE TABLE visits (day date, page text, n int)")
    postgres.psql(
        "INSERT INTO visits SELECT date '2026-01-01' + g % 30, 'page-' || g % 7, g FROM generate_series(1, 5000) g"
    )
    secret(cluster, "warehouse", {"password": postgres.password})
    cluster.apply_flow(f"""
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {{name: sql-to-file}}
spec:
  tasks:
    - id: export
      type: sql
      connection: {{host: 127.0.0.1, port: {postgres.port}, database: {postgres.database}, user: {postgres.user},
                   password: "{{{{ secret('warehouse', 'password') }}}}"}}
      query: SELECT day, page, n FROM visits WHERE n > $1 ORDER BY n
      parameters: ["1000"]
      rowsTo: CsvFile
    - id: load
      type: python
      inputFiles:
        visits.csv: "{{{{ outputs.export.files['rows.csv'] }}}}"
      script: |
        import csv, json
        rows = list(csv.DictReader(open("visits.csv")))
        total = sum(int(r["n"]) for r in rows)
        print("::" + json.dumps({{"outputs": {{"rows": len(rows), "first": rows[0], "total": total}}}}) + "::")
""")
    name = cluster.run("sql-to-file")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    by_id = runs(execution)
    assert execution["status"]["state"] == "SUCCESS", {k: r.get("message") for k, r in by_id.items()}
    export = by_id["export"]["outputs"]
    assert (export["columns"], export["rowCount"]) == (["day", "page", "n"], 4000)
    key = object_store.key_of(export["files"]["rows.csv"])
    assert key == f"{cluster.namespace}/{name}/{by_id['export']['attempts'][0]['job']}/files/0"
    assert object_store.read(key).startswith(b"day,page,n\n2026-01-12,page-0,1001\n")
    assert by_id["load"]["outputs"] == {
        "rows": 4000,
        "first": {"day": "2026-01-12", "page": "page-0", "n": "1001"},
        "total": sum(range(1001, 5001)),
    }
    assert [job.metadata.name for job in cluster.jobs(name)] == [by_id["load"]["attempts"][0]["job"]]  # sql: no pod


def test_a_failed_flow_notifies_slack_from_errors_and_finally(cluster: Cluster, http_server: HttpServer) -> None:
    """A Slack-compatible incoming webhook (an HTTP server the test controls) gets the ``errors``
    handler's message, with the failed task and its reason, then the ``finally`` one; the
    webhook's URL (its secret: Slack's carries the token in its path) is nowhere in the status."""
    hook = "/services/T0001/B0002/s3cr3t-t0ken"
    http_server.answer(hook, 200, b"ok", "text/plain")  # what Slack answers
    secret(cluster, "alerts", {"slack-url": http_server.url(hook)})
    cluster.apply_flow("""
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: nightly-load}
spec:
  tasks:
    - {id: load, type: fail, message: "the warehouse refused the load"}
  errors:
    - id: alert
      type: notify
      message: >-
        {{ flow.name }} failed at {{ error.taskId }}: {{ error.message }}
        (overture get execution {{ execution.id }})
      slack: {url: "{{ secret('alerts', 'slack-url') }}", channel: "#data-alerts"}
  finally:
    - id: done
      type: notify
      message: "{{ flow.name }} ended"
      slack: {url: "{{ secret('alerts', 'slack-url') }}"}
""")
    name = cluster.run("nightly-load")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED", "WARNING"}, timeout=60)
    assert execution["status"]["state"] == "FAILED"
    by_id = runs(execution)
    assert by_id["alert"]["state"] == by_id["done"]["state"] == "SUCCESS", by_id
    assert by_id["alert"]["outputs"] == by_id["done"]["outputs"] == {"sent": ["slack"]}

    received = [r for r in http_server.requests if r.path == hook]
    assert [r.method for r in received] == ["POST", "POST"]
    assert all(r.headers["Content-Type"] == "application/json" for r in received)
    assert [r.json() for r in received] == [
        {
            "text": f"nightly-load failed at load: the warehouse refused the load (overture get execution {name})",
            "channel": "#data-alerts",
        },
        {"text": "nightly-load ended"},
    ]  # errors first, then finally
    assert "s3cr3t-t0ken" not in json.dumps(execution)


@pytest.mark.realnode
def test_internal_addresses_and_missing_secrets_fail_the_task_with_the_reason(cluster: Cluster) -> None:
    cluster.apply_flow(
        """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: guarded}
spec:
  tasks:
    - id: metadata
      type: http
      url: http://169.254.169.254/latest/meta-data/iam/
      allowFailure: true
    - id: nosecret
      type: http
      url: "https://example.invalid/{{ secret('absent', 'token') }}"
"""
    )
    name = cluster.run("guarded")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED", "WARNING"}, timeout=120)
    by_id = runs(execution)
    assert by_id["metadata"]["state"] == "WARNING"
    assert "169.254.169.254 is a link-local address (cloud metadata lives there)" in by_id["metadata"]["message"]
    assert by_id["nosecret"]["state"] == "FAILED"
    assert "no Secret 'absent' with key 'token'" in by_id["nosecret"]["message"]
    assert cluster.jobs(name) == []
