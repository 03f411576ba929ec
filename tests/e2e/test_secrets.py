"""Secrets: a flow reads a Secret through ``{{ secret('db', 'password') }}`` and through an env
``secretKeyRef``. The task sees the value (on the real node it writes its SHA-256 to its outputs,
and the test compares), and the value never appears in the Execution, its Events, the Flow, the
Job or pod spec (only ``secretKeyRef``), nor in the operator's log, in clear or in base64.

Not here: ``{{ secret() }}`` inside an env *value* is not expanded by the kubelet today (the
generated variable comes after the one that uses it); tests/unit/engine/test_job_env.py pins it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import pytest
from faults import delete_namespace, new_namespace
from harness import Cluster, OperatorProcess
from kubernetes import client

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]

FLOW = """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: uses-db}
spec:
  tasks:
    - id: connect
      type: python
      env:
        - {name: DB_PASSWORD, secretKeyRef: {name: db, key: password}}
      script: |
        import hashlib, json, os
        templated = "{{ secret('db', 'password') }}"
        digest = lambda text: hashlib.sha256(text.encode()).hexdigest()
        outputs = {"fromEnv": digest(os.environ["DB_PASSWORD"]), "fromTemplate": digest(templated)}
        json.dump(outputs, open("/overture/outputs.json", "w"))
        print("connected, password of", len(templated), "characters")
    - id: shell
      type: shell
      commands:
        - |
          printf '%s' "{{ secret('db', 'password') }}" | sha256sum | cut -c1-64 > /tmp/h
        - |
          printf '{"fromShell": "%s"}' "$(cat /tmp/h)" > /overture/outputs.json
"""


def _leaks(text: str, value: str) -> list[str]:
    """Where ``value`` shows in ``text``: in clear, base64 or as its SHA-256 would be fine (that is the point)."""
    encoded = base64.b64encode(value.encode()).decode()
    return [form for form, needle in (("clear", value), ("base64", encoded)) if needle in text]


def test_a_secret_reaches_the_task_and_nothing_else(kubeconfig: str, operator_process: OperatorProcess) -> None:
    helper: Cluster = new_namespace(kubeconfig, "secrets")
    value = "pw-" + secrets.token_hex(16)
    digest = hashlib.sha256(value.encode()).hexdigest()
    try:
        helper.core.create_namespaced_secret(
            helper.namespace,
            client.V1Secret(metadata=client.V1ObjectMeta(name="db"), string_data={"password": value}),
        )
        helper.apply_flow(FLOW)
        name = helper.run("uses-db")
        execution = helper.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
        assert execution["status"]["state"] == "SUCCESS", execution["status"]
        runs = {r["id"]: r for r in execution["status"]["taskRuns"]}
        assert runs["connect"]["outputs"] == {"fromEnv": digest, "fromTemplate": digest}
        assert runs["shell"]["outputs"] == {"fromShell": digest}

        api = helper.api
        jobs = helper.jobs(name)
        pods = helper.core.list_namespaced_pod(helper.namespace, label_selector=f"overture.dev/execution={name}").items
        places: dict[str, Any] = {
            "the Execution": execution,
            "the Flow": helper.get("flows", "uses-db"),
            "the Execution's Events": [api.sanitize_for_serialization(e) for e in helper.events(name)],
            "the namespace's Events": [
                api.sanitize_for_serialization(e) for e in helper.core.list_namespaced_event(helper.namespace).items
            ],
            "the Jobs": [api.sanitize_for_serialization(j) for j in jobs],
            "the pods' specs": [api.sanitize_for_serialization(p.spec) for p in pods],
        }
        leaks = {where: found for where, obj in places.items() if (found := _leaks(json.dumps(obj), value))}
        log = operator_process.log_path.read_text(errors="replace")
        if found := _leaks(log, value):
            leaks["the operator's log"] = found
        assert not leaks, f"the secret's value leaked into: {leaks}"

        # the Jobs carry references only: the declared env var and the template's generated one
        refs = set()
        for job in jobs:
            for env in job.spec.template.spec.containers[0].env or []:
                if env.value_from is not None and env.value_from.secret_key_ref is not None:
                    ref = env.value_from.secret_key_ref
                    refs.add((env.name.startswith("OVERTURE_SECRET_"), ref.name, ref.key))
                    assert env.value is None
        assert refs == {(False, "db", "password"), (True, "db", "password")}, refs
        print(
            f"\n[secrets] the task saw the value (sha256 {digest[:12]}...); not in the Execution, Flow, Events, "
            f"{len(jobs)} Jobs, {len(pods)} pod specs or the operator log ({len(log)} bytes); "
            f"Jobs hold {len(refs)} kinds of secretKeyRef"
        )
    finally:
        delete_namespace(helper)
