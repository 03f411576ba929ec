"""A hostile tenant cannot read a Secret through the operator (issue 14, part 2).

Probes, each with what it did before the fix:

- a failing task's last log lines (its env secrets, as it printed them) were copied into the
  Execution's status and a Warning Event, which the ``viewer`` role reads; now a failure says its
  exit code and where its log is (``kubectl logs job/...``: the reader's own RBAC);
- a resource trigger with ``apiVersion: "../api/v1"`` watched the core group's Secrets in full (the
  path escaped the metadata-only rule): the Flow is now refused by the apiserver's schema;
- a resource trigger on Secrets (metadata only) still passed kubectl's last-applied annotation,
  a copy of the whole Secret; now it is dropped.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from faults import list_executions
from harness import GROUP, VERSION, poll
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tenancy import Tenant, Tenants, execution, flow, helm, refusal, tenants

pytestmark = pytest.mark.e2e

__all__ = ["helm", "tenants"]  # fixtures


def _secret(tenant: Tenant, name: str, value: str, annotations: dict[str, str] | None = None) -> None:
    tenant.admin.core.create_namespaced_secret(
        tenant.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, annotations=annotations), string_data={"password": value}
        ),
    )


def _leaks(text: str, value: str) -> bool:
    return value in text or base64.b64encode(value.encode()).decode() in text


@pytest.mark.realnode
def test_a_failing_tasks_log_stays_out_of_status_and_events(tenants: Tenants) -> None:
    a = tenants.a
    value = "pw-" + uuid.uuid4().hex
    _secret(a, "db", value)
    task = {
        "id": "leaky",
        "type": "shell",
        "env": [{"name": "DB_PASSWORD", "secretKeyRef": {"name": "db", "key": "password"}}],
        "commands": ['echo "connecting with $DB_PASSWORD"', "exit 3"],
    }
    a.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", flow("leaky", [task]))
    a.custom.create_namespaced_custom_object(
        GROUP, VERSION, a.namespace, "executions", execution("leaky-1", "leaky", by=a.user)
    )
    done = a.admin.wait_state("leaky-1", {"SUCCESS", "FAILED"}, timeout=120)
    assert done["status"]["state"] == "FAILED"
    events = poll(lambda: [e for e in a.admin.events("leaky-1") if e.type == "Warning"], 30, "a Warning Event")
    seen = {
        "the Execution": json.dumps(done),
        "its Events": json.dumps([a.admin.api.sanitize_for_serialization(e) for e in events]),
    }
    leaked = [where for where, text in seen.items() if _leaks(text, value)]
    assert not leaked, f"the secret printed by the task is in {leaked}"
    message = done["status"]["taskRuns"][0]["message"]
    assert "exit code 3" in message and "kubectl logs job/leaky-1-leaky-1" in message, message
    (job,) = a.admin.jobs("leaky-1")
    assert value in a.admin.pod_log(job.metadata.name)  # the log itself is where the pointer says
    print(f"\n[hostile] a failed task's message: {message!r}")


def test_a_resource_trigger_cannot_escape_its_api_group(tenants: Tenants) -> None:
    a = tenants.a
    value = "pw-" + uuid.uuid4().hex
    trigger = {"id": "grab", "type": "resource", "apiVersion": "../api/v1", "kind": "Secret", "inputs": {}}
    body = flow("escape", triggers=[{**trigger, "inputs": {"s": "{{ trigger.object | tojson }}"}}])
    body["spec"]["inputs"] = [{"id": "s", "type": "STRING"}]
    refusal = ""
    try:
        a.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", body)
    except ApiException as exc:
        refusal = f"{exc.status} {exc.body}"
    created = not refusal
    time.sleep(2 if created else 0)  # a watch, if any, has started
    _secret(a, "stolen", value)
    time.sleep(5 if created else 0)
    found = [e for e in list_executions(a.admin) if _leaks(json.dumps(e), value)]
    assert not found, f"{len(found)} executions hold the Secret's data"
    assert refusal.startswith("422") and "apiVersion" in refusal, refusal


def test_a_secret_trigger_shows_no_last_applied_copy(tenants: Tenants) -> None:
    a = tenants.a
    value = "pw-" + uuid.uuid4().hex
    trigger = {
        "id": "on-secret",
        "type": "resource",
        "apiVersion": "v1",
        "kind": "Secret",
        "matchLabels": {"watched": "yes"},
        "inputs": {"s": "{{ trigger.object | tojson }}"},
    }
    body = flow("secret-watch", triggers=[trigger])
    body["spec"]["inputs"] = [{"id": "s", "type": "STRING"}]
    # the platform team's flow: a tenant may not watch Secrets (the next test)
    a.admin.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", body)
    poll(lambda: (a.admin.get("flows", "secret-watch").get("status") or {}).get("conditions"), 30, "flow judged")
    time.sleep(2)  # the watch has started
    applied: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "stringData": {"password": value}}
    annotation = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)}
    a.admin.core.create_namespaced_secret(
        a.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="applied", labels={"watched": "yes"}, annotations=annotation),
            string_data={"password": value},
        ),
    )
    (fired,) = poll(lambda: list_executions(a.admin, "overture.dev/flow=secret-watch"), 30, "the trigger fired")
    assert '"name": "applied"' in fired["spec"]["inputs"]["s"]  # the object is there, its metadata
    assert not _leaks(json.dumps(fired), value), "the Secret's value reached the Execution"


@pytest.mark.parametrize("kind", ["ConfigMap", "Pod", "Secret"])
def test_a_resource_trigger_watches_only_what_its_author_may_watch(tenants: Tenants, kind: str) -> None:
    """A flow author with no right to read ConfigMaps (or Pods) got them whole through a resource
    trigger's ``{{ trigger.object }}``; the chart's admission policy now asks the API server
    whether the requester may watch that kind, as the requester."""
    a = tenants.a
    name = f"watch-{kind.lower()}"
    trigger = {"id": "seen", "type": "resource", "apiVersion": "v1", "kind": kind, "inputs": {}}
    body = flow(name, triggers=[trigger])
    refused = poll(lambda: refusal(a, body, keep=False), 30, "the admission policy in effect")
    assert refused.startswith("403"), refused
    assert f"may not watch {kind}" in refused, refused
    plural = f"{kind.lower()}s"
    rbac = client.RbacAuthorizationV1Api(a.admin.api)
    rbac.create_namespaced_role(
        a.namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name=f"read-{plural}"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=[plural], verbs=["get", "list", "watch"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        a.namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=f"read-{plural}"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=f"read-{plural}"),
            subjects=[client.RbacV1Subject(kind="User", name=a.user, api_group="rbac.authorization.k8s.io")],
        ),
    )
    poll(lambda: refusal(a, body) == "", 30, "the flow accepted once the tenant may watch")
    print(f"\n[hostile] a {kind} trigger by a tenant who may not watch {kind}s: {refused[:200]!r}")
