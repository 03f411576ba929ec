"""A webhook caller cannot run code, and a flow author cannot pick a task's privileges (issue 14,
parts 3 and 4).

Probes, each with what it did before the fix:

- a webhook value rendered into a shell task's ``commands`` closed the quote and ran shell, and
  ``$(DB_PASSWORD)`` in it was expanded by the kubelet (the task's env secret printed): someone
  holding only a webhook key ran code; now the value is text wherever it stands;
- ``serviceAccountName: deployer`` in a tenant's Flow ran its tasks with that account's token;
  now a flow may name only the accounts its namespace's ``overture.dev/service-accounts``
  annotation lists (a flow author cannot edit a Namespace): the chart's admission policy refuses
  the Flow, and the operator refuses the Job (a withdrawn account runs nothing more);
- task pods ran as root with the default account's token mounted, and in a namespace that
  enforces Pod Security ``restricted`` their pods were refused and the run hung; now they run
  non-root without a token and pass ``restricted``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from faults import post_webhook
from harness import GROUP, VERSION, OperatorProcess, poll
from kubernetes import client
from tenancy import Tenant, Tenants, bind, execution, flow, helm, refusal, tenants

from overture.kube.namespaces import TTL_SECONDS as NAMESPACE_POLICY_TTL

pytestmark = pytest.mark.e2e

__all__ = ["helm", "tenants"]  # fixtures


def _create(tenant: Tenant, plural: str, body: dict[str, Any]) -> None:
    tenant.custom.create_namespaced_custom_object(GROUP, VERSION, tenant.namespace, plural, body)


def _ended(tenant: Tenant, name: str) -> dict[str, Any]:
    return tenant.admin.wait_state(name, {"SUCCESS", "FAILED", "KILLED", "WARNING"}, timeout=180)


def _annotate(tenant: Tenant, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> None:
    """What a platform team does to the tenant's Namespace (the tenant may not)."""
    metadata = {k: v for k, v in (("labels", labels), ("annotations", annotations)) if v}
    tenant.admin.core.patch_namespace(tenant.namespace, {"metadata": metadata})


@pytest.mark.realnode
def test_a_webhook_value_runs_no_shell_and_expands_no_secret(
    tenants: Tenants, operator_process: OperatorProcess
) -> None:
    a = tenants.a
    password = "pw-" + uuid.uuid4().hex
    a.admin.core.create_namespaced_secret(
        a.namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="db"), string_data={"password": password})
    )
    key = uuid.uuid4().hex
    a.admin.core.create_namespaced_secret(
        a.namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="greet-key"), string_data={"key": key})
    )
    task = {
        "id": "greet",
        "type": "shell",
        "env": [{"name": "DB_PASSWORD", "secretKeyRef": {"name": "db", "key": "password"}}],
        "commands": [
            'echo "quoted: {{ inputs.name }}"',
            "echo bare: {{ inputs.name }}",
            "echo 'single: {{ inputs.name }}'",
        ],
    }
    hook = {
        "id": "hook",
        "type": "webhook",
        "keySecretRef": {"name": "greet-key", "key": "key"},
        "inputs": {"name": "{{ trigger.body.name }}"},
    }
    _create(a, "flows", flow("greet", [task], inputs=[{"id": "name", "type": "STRING"}], triggers=[hook]))
    poll(lambda: (a.admin.get("flows", "greet").get("status") or {}).get("conditions"), 30, "flow judged")
    hostile = "x\"; echo INJECTED-$((6*7)); echo \"$(DB_PASSWORD)' `echo TICKED` '"
    body = json.dumps({"name": hostile}).encode()
    path = f"/webhooks/{a.namespace}/greet/hook"
    status = post_webhook(operator_process.port, path, {"X-Overture-Key": key, "Idempotency-Key": "one"}, body)
    assert status == 201, status
    (run,) = poll(
        lambda: a.custom.list_namespaced_custom_object(GROUP, VERSION, a.namespace, "executions")["items"],
        30,
        "the webhook's execution",
    )
    done = _ended(a, run["metadata"]["name"])
    assert done["status"]["state"] == "SUCCESS", done["status"]
    (job,) = a.admin.jobs(run["metadata"]["name"])
    log = a.admin.pod_log(job.metadata.name)
    print(f"\n[hostile] the task's log with a hostile webhook value:\n{log}")
    assert "INJECTED-42" not in log and "TICKED" not in log.replace("`echo TICKED`", ""), "the value ran as shell"
    assert password not in log, "the kubelet expanded $(DB_PASSWORD) from the value"
    assert log.splitlines() == [f"quoted: {hostile}", f"bare: {hostile}", f"single: {hostile}"]


@pytest.mark.realnode
def test_a_flow_may_name_only_a_service_account_its_namespace_allows(tenants: Tenants) -> None:
    a = tenants.a
    for account in ("deployer", "runner"):
        a.admin.core.create_namespaced_service_account(
            a.namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=account))
        )
    _annotate(a, annotations={"overture.dev/service-accounts": "runner"})
    task = {"id": "who", "type": "shell", "commands": ["id -u"]}
    # the chart's admission policy says it when the Flow is written: the author may use the account
    # (tests/e2e/test_hostile_provenance.py) and the namespace allows it
    bind(a, "tenant-a-accounts", tenants.account_user_role)
    as_deployer = flow("as-deployer", [task], serviceAccountName="deployer")

    def refused_by_namespace() -> str | None:  # once the RoleBinding is in effect
        answer = refusal(a, as_deployer, keep=False)
        return answer if "not allowed in namespace" in answer else None

    admitted = poll(refused_by_namespace, 30, "a refusal that names the namespace")
    assert admitted.startswith("403"), admitted
    assert "deployer is not allowed in namespace" in admitted, admitted
    _create(a, "flows", flow("as-runner", [task], serviceAccountName="runner"))
    time.sleep(NAMESPACE_POLICY_TTL + 1)  # the operator read the Namespace before (the test above): its copy ages
    _create(a, "executions", execution("as-runner-1", "as-runner", by=a.user))
    allowed = _ended(a, "as-runner-1")
    assert allowed["status"]["state"] == "SUCCESS", allowed["status"]
    (job,) = a.admin.jobs("as-runner-1")
    assert job.spec.template.spec.service_account_name == "runner"
    # ...and the operator holds it whoever wrote the Flow: withdrawn, the account runs nothing more
    _annotate(a, annotations={"overture.dev/service-accounts": "loader"})
    time.sleep(NAMESPACE_POLICY_TTL + 1)
    _create(a, "executions", execution("as-runner-2", "as-runner", by=a.user))
    refused = _ended(a, "as-runner-2")
    assert refused["status"]["state"] == "FAILED"
    message = refused["status"]["taskRuns"][0]["message"]
    assert "'runner' is not allowed in namespace" in message, message
    assert "overture.dev/service-accounts" in message, message
    assert not a.admin.jobs("as-runner-2"), "a Job ran as an account the namespace no longer allows"
    print(f"\n[hostile] serviceAccountName: deployer -> {admitted[:160]!r}; withdrawn runner -> {message!r}")


@pytest.mark.realnode
def test_task_pods_run_under_pod_security_restricted_as_non_root_without_a_token(tenants: Tenants) -> None:
    b = tenants.b
    _annotate(b, labels={"pod-security.kubernetes.io/enforce": "restricted"})
    shell = {
        "id": "sh",
        "type": "shell",
        "commands": [
            "token=false; test -e /var/run/secrets/kubernetes.io/serviceaccount/token && token=true",
            'echo "{\\"uid\\": $(id -u), \\"token\\": $token}" > "$OVERTURE_OUTPUTS_FILE"',
        ],
    }
    python = {
        "id": "py",
        "type": "python",
        "script": "import json, os; json.dump({'uid': os.getuid()}, open(os.environ['OVERTURE_OUTPUTS_FILE'], 'w'))",
    }
    _create(b, "flows", flow("restricted", [shell, python]))
    _create(b, "executions", execution("restricted-1", "restricted", by=b.user))
    done = _ended(b, "restricted-1")
    assert done["status"]["state"] == "SUCCESS", done["status"]
    outputs = {r["id"]: r.get("outputs") for r in done["status"]["taskRuns"]}
    assert outputs == {"sh": {"uid": 65532, "token": False}, "py": {"uid": 65532}}, outputs
