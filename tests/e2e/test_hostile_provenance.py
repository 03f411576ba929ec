"""Who asked for a run, and which ServiceAccount a flow may name (issue 14, part 3): the chart's
ValidatingAdmissionPolicies against real token users bound only to ``overture-flow-author``.

Probes, each with what it did before:

- a flow author created an Execution with ``trigger: {type: schedule}`` (or webhook, flow,
  resource, subflow, or a ``parent``) and it ran as if the operator had started it; now the API
  server refuses it, naming the operator as the only one who may;
- nothing recorded who created an Execution; now ``spec.requestedBy`` must be the creator's user
  name (``overture run`` and the UI write it), and it, ``spec.trigger`` and ``spec.parent``
  cannot change afterwards; steering (``kill``) still works;
- a flow author created an Execution carrying ``overture.dev/trigger-chain`` (the flows that led to
  a run, which stops trigger loops), or removed or changed it on a run the operator started (so a
  loop could run on); now only the operator writes it, and the refusal names the annotation;
- a flow author named ``serviceAccountName: deployer`` (any account its namespace allowed); now
  the author must also be allowed to ``use`` that account (a RoleBinding a platform team makes);
- the operator's own schedule, webhook and subflow runs still start, stamped with its user name
  (the subflow's child with its trigger chain).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from faults import list_executions, post_webhook
from harness import GROUP, VERSION, OperatorProcess, poll
from kubernetes import client
from tenancy import Tenant, Tenants, bind, execution, flow, helm, refusal, tenants

from overture.cli import main

pytestmark = pytest.mark.e2e

CHAIN = "overture.dev/trigger-chain"

__all__ = ["helm", "tenants"]  # fixtures


def _create_execution(tenant: Tenant, body: dict[str, Any]) -> str:
    """'' if the tenant could create the Execution ``body``, else the API server's status and answer."""
    try:
        tenant.custom.create_namespaced_custom_object(GROUP, VERSION, tenant.namespace, "executions", body)
    except client.ApiException as exc:
        return f"{exc.status} {exc.body}"
    return ""


def _patch_execution(tenant: Tenant, name: str, spec: dict[str, Any]) -> str:
    try:
        tenant.custom.patch_namespaced_custom_object(
            GROUP, VERSION, tenant.namespace, "executions", name, {"spec": spec}
        )
    except client.ApiException as exc:
        return f"{exc.status} {exc.body}"
    return ""


def _patch_annotations(tenant: Tenant, name: str, annotations: dict[str, str | None]) -> str:
    """'' if the tenant could merge ``annotations`` into the Execution's (None removes one)."""
    try:
        tenant.custom.patch_namespaced_custom_object(
            GROUP, VERSION, tenant.namespace, "executions", name, {"metadata": {"annotations": annotations}}
        )
    except client.ApiException as exc:
        return f"{exc.status} {exc.body}"
    return ""


def _message(answer: str) -> str:
    """The API server's message in a refusal (``'403 {json}'``)."""
    return str(json.loads(answer.split(" ", 1)[1])["message"])


def _admitted_once(check: Callable[[], str], what: str) -> None:
    """Poll ``check`` until it is '' (a new RoleBinding takes a moment to reach the authorizer)."""
    poll(lambda: not check(), 30, what)


def test_a_flow_author_cannot_forge_who_or_what_started_a_run(tenants: Tenants) -> None:
    a = tenants.a
    a.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", flow("plain"))
    forged = {
        kind: _create_execution(a, execution(f"forged-{kind}", "plain", by=a.user, trigger={"type": kind, "id": "x"}))
        for kind in ("schedule", "webhook", "flow", "resource", "subflow")
    }
    for kind, answer in forged.items():
        assert answer.startswith("403"), (kind, answer)
        assert f"spec.trigger.type: {kind} executions are started by the operator ({tenants.operator_user}) only" in (
            answer
        ), answer
    child = execution("forged-child", "plain", by=a.user, parent={"execution": "someone", "taskRun": "call"})
    answer = _create_execution(a, child)
    assert answer.startswith("403") and "spec.parent: only the operator" in answer, answer

    not_me = _create_execution(a, execution("not-me", "plain", by="tenant-b"))
    assert not_me.startswith("403"), not_me
    assert "spec.requestedBy: tenant-b is not you; it must be your user name, tenant-a" in not_me, not_me
    unsigned = execution("unsigned", "plain", by="")
    del unsigned["spec"]["requestedBy"]
    answer = _create_execution(a, unsigned)
    assert answer.startswith("403") and "spec.requestedBy: missing" in answer, answer

    # what a person may start: manual, backfill and replay runs, as themselves
    for kind in ("manual", "backfill"):
        body = execution(f"mine-{kind}", "plain", by=a.user, trigger={"type": kind})
        assert _create_execution(a, body) == "", kind
    assert a.admin.wait_state("mine-manual", {"SUCCESS"}, timeout=60)["spec"]["requestedBy"] == "tenant-a"
    changed = _patch_execution(a, "mine-manual", {"requestedBy": "tenant-b"})
    assert changed.startswith("403") and "spec.requestedBy cannot change" in changed, changed
    retyped = _patch_execution(a, "mine-backfill", {"trigger": {"type": "schedule"}})
    assert retyped.startswith("403") and "spec.trigger cannot change" in retyped, retyped
    assert _patch_execution(a, "mine-backfill", {"kill": True}) == ""  # steering is untouched
    print(f"\n[provenance] a forged schedule trigger -> {_message(forged['schedule'])}")
    print(f"[provenance] requestedBy tenant-b, written by tenant-a -> {_message(not_me)}")


def test_the_operator_still_starts_schedule_webhook_and_subflow_runs(
    tenants: Tenants, operator_process: OperatorProcess
) -> None:
    b = tenants.b
    key = uuid.uuid4().hex
    b.admin.core.create_namespaced_secret(
        b.namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="hook-key"), string_data={"key": key})
    )
    tick = {"id": "tick", "type": "schedule", "cron": "* * * * * *"}  # every second (the harness allows it)
    hook = {"id": "hook", "type": "webhook", "keySecretRef": {"name": "hook-key", "key": "key"}}
    for name, trigger in (("timed", tick), ("hooked", hook)):
        b.custom.create_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", flow(name, triggers=[trigger]))
    ticked = poll(lambda: list_executions(b.admin, "overture.dev/trigger=tick"), 30, "a schedule run")
    b.custom.patch_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", "timed", {"spec": {"suspend": True}})
    poll(lambda: (b.admin.get("flows", "hooked").get("status") or {}).get("conditions"), 30, "flow hooked judged")
    path = f"/webhooks/{b.namespace}/hooked/hook"
    assert post_webhook(operator_process.port, path, {"X-Overture-Key": key}, b"{}") == 201
    hooked = poll(lambda: list_executions(b.admin, "overture.dev/trigger=hook"), 30, "a webhook run")
    # and a subflow task's child: a run with a parent, which only the operator may create
    b.custom.create_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", flow("child"))
    call = [{"id": "call", "type": "subflow", "flowRef": {"name": "child"}}]
    b.custom.create_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", flow("parent", call))
    b.custom.create_namespaced_custom_object(
        GROUP, VERSION, b.namespace, "executions", execution("parent-1", "parent", by=b.user)
    )
    parent = b.admin.wait_state("parent-1", {"SUCCESS", "FAILED"}, timeout=60)
    assert parent["status"]["state"] == "SUCCESS", parent["status"]
    child = b.admin.get("executions", parent["status"]["taskRuns"][0]["childExecution"])
    # the operator writes the child's trigger chain: the policy lets its own create through
    assert child["metadata"]["annotations"][CHAIN] == f"{b.namespace}/parent", child["metadata"]
    for run, kind in ((ticked[0], "schedule"), (hooked[0], "webhook"), (child, "subflow")):
        assert run["spec"]["trigger"]["type"] == kind
        assert run["spec"]["requestedBy"] == tenants.operator_user, run["spec"]
        done = b.admin.wait_state(run["metadata"]["name"], {"SUCCESS", "FAILED"}, timeout=60)
        assert done["status"]["state"] == "SUCCESS", done["status"]


def test_only_the_operator_writes_the_trigger_chain(tenants: Tenants) -> None:
    a = tenants.a
    for name, tasks in (("leaf", None), ("caller", [{"id": "call", "type": "subflow", "flowRef": {"name": "leaf"}}])):
        a.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", flow(name, tasks))
    # a forged chain on create: it would only stop the author's own triggers, but it is the operator's record
    forged = execution("forged-chain", "leaf", by=a.user)
    forged["metadata"]["annotations"] = {CHAIN: f"{a.namespace}/leaf"}
    answer = _create_execution(a, forged)
    assert answer.startswith("403"), answer
    assert (
        f"metadata.annotations: overture.dev/trigger-chain is written by the operator ({tenants.operator_user}) only"
        in answer
    ), answer
    assert "stops triggers from looping; remove it" in answer, answer

    # a run the operator started carries its chain; the flow author may not drop or rewrite it
    assert _create_execution(a, execution("caller-1", "caller", by=a.user)) == ""
    caller = a.admin.wait_state("caller-1", {"SUCCESS", "FAILED"}, timeout=60)
    assert caller["status"]["state"] == "SUCCESS", caller["status"]
    child = caller["status"]["taskRuns"][0]["childExecution"]
    recorded = f"{a.namespace}/caller"
    assert a.admin.get("executions", child)["metadata"]["annotations"][CHAIN] == recorded
    removed = _patch_annotations(a, child, {CHAIN: None})
    assert removed.startswith("403"), removed
    why = f"it records the flows whose runs led to this one ({recorded})"
    assert f"overture.dev/trigger-chain cannot be removed: {why}" in removed, removed
    changed = _patch_annotations(a, child, {CHAIN: "elsewhere/other"})
    assert changed.startswith("403") and "overture.dev/trigger-chain cannot be changed" in changed, changed
    added = _patch_annotations(a, "caller-1", {CHAIN: recorded})
    assert added.startswith("403") and "overture.dev/trigger-chain cannot be added" in added, added
    assert f"only the operator ({tenants.operator_user}) writes it" in added, added
    assert a.admin.get("executions", child)["metadata"]["annotations"][CHAIN] == recorded
    # other annotations stay the author's to write
    assert _patch_annotations(a, child, {"team.example/note": "checked"}) == ""
    print(f"\n[provenance] trigger chain removed by tenant-a -> {_message(removed)}")


def test_a_flow_may_name_a_service_account_its_author_may_use(tenants: Tenants) -> None:
    a = tenants.a
    for account in ("deployer", "runner"):
        a.admin.core.create_namespaced_service_account(
            a.namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=account))
        )
    # the namespace allows both: what is left to decide is whether tenant-a may use them
    a.admin.core.patch_namespace(
        a.namespace, {"metadata": {"annotations": {"overture.dev/service-accounts": "deployer,runner"}}}
    )
    as_deployer = flow("as-deployer", serviceAccountName="deployer")
    refused = refusal(a, as_deployer)
    assert refused.startswith("403"), refused
    assert "tenant-a may not use ServiceAccount deployer in namespace" in refused, refused
    assert f"{tenants.account_user_role} (the verb use on serviceaccounts)" in refused, refused
    assert refusal(a, flow("no-account")) == ""  # no name: the namespace's default, no token

    # a platform team lets tenant-a use deployer only (a Role with resourceNames)
    rbac = client.RbacAuthorizationV1Api(a.admin.api)
    rule = {"apiGroups": [""], "resources": ["serviceaccounts"], "resourceNames": ["deployer"], "verbs": ["use"]}
    rbac.create_namespaced_role(a.namespace, {"metadata": {"name": "use-deployer"}, "rules": [rule]})
    rbac.create_namespaced_role_binding(
        a.namespace,
        {
            "metadata": {"name": "tenant-a-deployer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "use-deployer"},
            "subjects": [{"kind": "User", "name": "tenant-a", "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )
    _admitted_once(lambda: refusal(a, as_deployer), "flow as-deployer admitted once tenant-a may use deployer")
    as_runner = refusal(a, flow("as-runner", serviceAccountName="runner"))
    assert "tenant-a may not use ServiceAccount runner" in as_runner, as_runner

    # the chart's ClusterRole allows every account of the namespace
    bind(a, "tenant-a-accounts", tenants.account_user_role)
    _admitted_once(lambda: refusal(a, flow("as-runner", serviceAccountName="runner")), "flow as-runner admitted")
    print(f"\n[provenance] serviceAccountName: deployer without `use` -> {_message(refused)}")


def test_overture_run_stamps_the_user_who_ran_it(
    tenants: Tenants, user_kubeconfig: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    a = tenants.a
    a.custom.create_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", flow("by-cli"))
    target = ["--kubeconfig", user_kubeconfig("tenant-a"), "-n", a.namespace]
    capsys.readouterr()
    assert main(["run", "by-cli", *target]) == 0, capsys.readouterr()
    name = capsys.readouterr().out.split("execution.overture.dev/")[1].split()[0]
    assert a.admin.get("executions", name)["spec"]["requestedBy"] == "tenant-a"
    assert main(["get", "execution", name, "-o", "wide", *target]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "REQUESTED BY" in table[0], table
    assert "tenant-a" in table[1].split(), table
