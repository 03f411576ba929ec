"""Tenants: two namespaces, each with a user bound to the chart's ``flow-author`` ClusterRole by a
RoleBinding, checked with real RBAC on the local apiserver (the users of hack/cluster are bearer
tokens with no other grant).

- tenant-a cannot read, create, steer or trigger tenant-b's Flows and Executions (403 from the
  apiserver), cannot write any status, and cannot run a flow of b's namespace from its own
  (flowRef and subflow namespaces are refused by the operator);
- a's tasks run under the flow's ``serviceAccountName`` (the Job and the pod say so, and on the real
  node the pod's own token and namespace file do);
- a flow trigger does not fire across namespaces unless the operator allows it
  (``OVERTURE_ALLOW_CROSS_NAMESPACE_FLOW_TRIGGERS=true``);
- webhook keys are per trigger: trigger x's key does not start trigger y, nor b's trigger x.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from faults import list_executions, operator_with_env, post_webhook, state_of
from harness import GROUP, VERSION, Cluster, OperatorProcess, poll
from kubernetes import client
from tenancy import Tenants, bind, execution, flow, helm, refusal, status_of, tenants

pytestmark = pytest.mark.e2e

__all__ = ["helm", "tenants"]  # fixtures


def test_a_tenant_cannot_read_create_steer_or_trigger_anothers_flows(tenants: Tenants) -> None:
    a, b = tenants.a, tenants.b
    b.custom.create_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", flow("private"))
    b.custom.create_namespaced_custom_object(
        GROUP, VERSION, b.namespace, "executions", execution("private-1", "private", by=b.user)
    )
    # a's own namespace: everything a flow author does
    assert (
        status_of(lambda: a.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", flow("mine")))
        == 200
    )
    assert status_of(lambda: a.custom.list_namespaced_custom_object(GROUP, VERSION, a.namespace, "executions")) == 200
    a.custom.create_namespaced_custom_object(
        GROUP, VERSION, a.namespace, "executions", execution("mine-1", "mine", by=a.user)
    )
    a.admin.wait_state("mine-1", {"SUCCESS"}, timeout=60)

    denied = {
        "get B's flow": lambda: a.custom.get_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", "private"),
        "list B's flows": lambda: a.custom.list_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows"),
        "list B's executions": lambda: a.custom.list_namespaced_custom_object(
            GROUP, VERSION, b.namespace, "executions"
        ),
        "get B's execution": lambda: a.custom.get_namespaced_custom_object(
            GROUP, VERSION, b.namespace, "executions", "private-1"
        ),
        "list flows cluster-wide": lambda: a.custom.list_cluster_custom_object(GROUP, VERSION, "flows"),
        "create a flow in B": lambda: a.custom.create_namespaced_custom_object(
            GROUP, VERSION, b.namespace, "flows", flow("intruder")
        ),
        "run B's flow (create an execution in B)": lambda: a.custom.create_namespaced_custom_object(
            GROUP, VERSION, b.namespace, "executions", execution("intruder-1", "private", by=a.user)
        ),
        "kill B's execution": lambda: a.custom.patch_namespaced_custom_object(
            GROUP, VERSION, b.namespace, "executions", "private-1", {"spec": {"kill": True}}
        ),
        "edit B's flow": lambda: a.custom.patch_namespaced_custom_object(
            GROUP, VERSION, b.namespace, "flows", "private", {"spec": {"suspend": True}}
        ),
        "delete B's flow": lambda: a.custom.delete_namespaced_custom_object(
            GROUP, VERSION, b.namespace, "flows", "private"
        ),
        "read B's Events": lambda: a.core.list_namespaced_event(b.namespace),
        "read B's Secrets": lambda: a.core.list_namespaced_secret(b.namespace),
        "forge its own execution's status": lambda: a.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, a.namespace, "executions", "mine-1", {"status": {"state": "FAILED"}}
        ),
        "read Secrets of its own namespace": lambda: a.core.list_namespaced_secret(a.namespace),
    }
    answers = {what: status_of(call) for what, call in denied.items()}
    assert answers == dict.fromkeys(denied, 403), answers

    # ...nor from its own namespace: an execution or a subflow naming b's namespace does not run b's flow
    a.custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        a.namespace,
        "executions",
        execution("reach-1", "private", by=a.user, flowRef={"name": "private", "namespace": b.namespace}),
    )
    failed = a.admin.wait_state("reach-1", {"FAILED", "SUCCESS"}, timeout=60)
    assert failed["status"]["state"] == "FAILED"
    assert "spec.flowRef.namespace" in failed["status"]["message"]
    subflow = [{"id": "call", "type": "subflow", "flowRef": {"name": "private", "namespace": b.namespace}}]
    a.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", flow("reach", subflow))

    def judged() -> dict[str, Any] | None:
        status = a.admin.get("flows", "reach").get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)

    condition = poll(judged, 30, "flow reach judged")
    assert condition["status"] == "False"
    assert "spec.tasks[0].flowRef.namespace" in condition["message"]
    b_runs = sorted(e["metadata"]["name"] for e in list_executions(b.admin))
    assert b_runs == ["private-1"], b_runs
    assert state_of(b.admin.get("executions", "private-1")) == "SUCCESS"  # a's kill never reached it


WHOAMI = """
import base64, json, os
sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
outputs = {"token": False}
if os.path.exists(sa + "token"):
    payload = open(sa + "token").read().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    outputs = {"namespace": open(sa + "namespace").read(), "sub": claims["sub"]}
json.dump(outputs, open("/overture/outputs.json", "w"))
"""


@pytest.mark.realnode
def test_tasks_run_under_the_flows_service_account(tenants: Tenants) -> None:
    a = tenants.a
    a.admin.core.create_namespaced_service_account(
        a.namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="runner-a"))
    )
    # the platform team lets flows of this namespace use it (issue 14: none may, by default)
    a.admin.core.patch_namespace(
        a.namespace, {"metadata": {"annotations": {"overture.dev/service-accounts": "runner-a"}}}
    )
    bind(a, "tenant-a-accounts", tenants.account_user_role)  # and lets tenant-a's flows name accounts
    task = {"id": "whoami", "type": "python", "script": WHOAMI}
    poll(lambda: not refusal(a, flow("whoami", [task], serviceAccountName="runner-a")), 30, "flow whoami admitted")
    a.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", flow("whoami-default", [task]))
    for name in ("whoami", "whoami-default"):
        a.custom.create_namespaced_custom_object(
            GROUP, VERSION, a.namespace, "executions", execution(f"{name}-1", name, by=a.user)
        )
    expected = {"whoami": "runner-a", "whoami-default": "default"}
    for name, account in expected.items():
        done = a.admin.wait_state(f"{name}-1", {"SUCCESS", "FAILED"}, timeout=120)
        assert done["status"]["state"] == "SUCCESS", done["status"]
        outputs = done["status"]["taskRuns"][0]["outputs"]
        if account == "default":  # no account named: no token mounted
            assert outputs == {"token": False}
        else:
            assert outputs == {"namespace": a.namespace, "sub": f"system:serviceaccount:{a.namespace}:{account}"}
        (job,) = a.admin.jobs(f"{name}-1")
        assert (job.spec.template.spec.service_account_name or "default") == account
        pods = a.admin.core.list_namespaced_pod(a.namespace, label_selector=f"job-name={job.metadata.name}").items
        assert [p.spec.service_account_name for p in pods] == [account]
    print(
        f"\n[tenants] tasks of {a.namespace} ran as system:serviceaccount:{a.namespace}:runner-a (:default, no token)"
    )


def _no_execution_of(helper: Cluster, flow_name: str, seconds: float) -> None:
    """A bounded negative check: no execution of ``flow_name`` appears within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = list_executions(helper, f"overture.dev/flow={flow_name}")
        assert not found, f"{flow_name} fired: {[e['metadata']['name'] for e in found]}"
        time.sleep(0.5)


def test_a_flow_trigger_does_not_listen_across_namespaces_unless_allowed(
    tenants: Tenants, operator_process: OperatorProcess, tmp_path: Any
) -> None:
    a, b = tenants.a, tenants.b
    b.custom.create_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", flow("upstream"))
    trigger = {"id": "after", "type": "flow", "flows": [{"name": "upstream", "namespace": b.namespace}]}
    a.custom.create_namespaced_custom_object(
        GROUP, VERSION, a.namespace, "flows", flow("eavesdrop", triggers=[trigger])
    )
    own = {"id": "after", "type": "flow", "flows": [{"name": "upstream"}]}
    b.custom.create_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", flow("follower", triggers=[own]))
    for owner, name in ((a, "eavesdrop"), (b, "follower")):  # in the operator's cache before the upstream ends
        poll(
            lambda o=owner, n=name: (o.admin.get("flows", n).get("status") or {}).get("conditions"), 30, f"{name} seen"
        )
    b.custom.create_namespaced_custom_object(
        GROUP, VERSION, b.namespace, "executions", execution("upstream-1", "upstream", by=b.user)
    )
    b.admin.wait_state("upstream-1", {"SUCCESS"}, timeout=60)
    # the control: b's own follower fires; a's listener, decided in the same pass, must not
    poll(lambda: list_executions(b.admin, "overture.dev/flow=follower"), 30, "b's follower fired")
    _no_execution_of(a.admin, "eavesdrop", 3)

    with operator_with_env(
        operator_process, tmp_path / "cross.log", {"OVERTURE_ALLOW_CROSS_NAMESPACE_FLOW_TRIGGERS": "true"}
    ):
        b.custom.create_namespaced_custom_object(
            GROUP, VERSION, b.namespace, "executions", execution("upstream-2", "upstream", by=b.user)
        )
        b.admin.wait_state("upstream-2", {"SUCCESS"}, timeout=60)

        def heard() -> list[str]:
            found = list_executions(a.admin, "overture.dev/flow=eavesdrop")
            return [e["spec"]["trigger"]["data"]["execution"] for e in found]

        upstreams = poll(lambda: "upstream-2" in heard() and heard(), 30, "the allowed cross-namespace trigger fired")
    # the replay of recent endings at the allowed operator's start may also fire for upstream-1
    assert set(upstreams) <= {"upstream-1", "upstream-2"} and len(upstreams) == len(set(upstreams)), upstreams
    print(f"\n[tenants] cross-namespace flow trigger: silent by default; fired for {sorted(upstreams)} once allowed")


def test_webhook_keys_are_per_trigger(tenants: Tenants, operator_process: OperatorProcess) -> None:
    a, b = tenants.a, tenants.b
    keys = {
        "x": "key-of-x-" + uuid.uuid4().hex,
        "y": "key-of-y-" + uuid.uuid4().hex,
        "bx": "key-of-b-x-" + uuid.uuid4().hex,
    }
    a.admin.core.create_namespaced_secret(
        a.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="hooks"), string_data={"x": keys["x"], "y": keys["y"]}),
    )
    b.admin.core.create_namespaced_secret(
        b.namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="hooks"), string_data={"x": keys["bx"]})
    )
    hooks = [
        {"id": "x", "type": "webhook", "keySecretRef": {"name": "hooks", "key": "x"}},
        {"id": "y", "type": "webhook", "keySecretRef": {"name": "hooks", "key": "y"}},
    ]
    a.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", flow("hooks", triggers=hooks))
    b.custom.create_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", flow("hooks", triggers=hooks[:1]))
    port = operator_process.port

    def call(namespace: str, trigger: str, key: str) -> int:
        return post_webhook(port, f"/webhooks/{namespace}/hooks/{trigger}", {"X-Overture-Key": key}, b"{}")

    poll(lambda: call(a.namespace, "x", keys["x"]) == 201, 30, "a's trigger x accepts its own key")
    poll(lambda: call(b.namespace, "x", keys["bx"]) == 201, 30, "b's trigger x accepts its own key")
    answers = {
        "a/y with x's key": call(a.namespace, "y", keys["x"]),
        "a/x with y's key": call(a.namespace, "x", keys["y"]),
        "b/x with a's x key": call(b.namespace, "x", keys["x"]),
        "a/x with b's x key": call(a.namespace, "x", keys["bx"]),
        "a/y with its own key": call(a.namespace, "y", keys["y"]),
    }
    assert answers == {
        "a/y with x's key": 401,
        "a/x with y's key": 401,
        "b/x with a's x key": 401,
        "a/x with b's x key": 401,
        "a/y with its own key": 201,
    }
    fired = sorted(e["spec"]["trigger"]["id"] for e in list_executions(a.admin, "overture.dev/flow=hooks"))
    assert fired == ["x", "y"], fired
    assert [e["spec"]["trigger"]["id"] for e in list_executions(b.admin, "overture.dev/flow=hooks")] == ["x"]
    print(f"\n[tenants] webhook answers: {json.dumps(answers)}")
