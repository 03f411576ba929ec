"""TaskTemplates and ClusterTaskTemplates on a real API server, with the operator.

- one template used four times with different parameters (Argo's diamond, examples/) runs to
  SUCCESS with each task's outputs, and the Execution records the version and spec hash it ran;
  what it costs (pods, the operator's API writes) is printed;
- the API server refuses a change to a published version (the CRD's CEL rule);
- a missing or wrong-typed parameter, an unknown version or template mark the Flow Invalid naming
  the field, and publishing the missing version makes it Ready;
- a ClusterTaskTemplate runs from a tenant's namespace, and that tenant (a token user bound to the
  chart's flow-author role) may read templates but not publish or change them.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import GROUP, VERSION, Cluster, OperatorProcess, poll
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tenancy import Tenants, execution, helm, tenants
from test_chart import render

from overture.api.task_template import spec_hash
from overture.cli import main

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ECHO = yaml.safe_load((ROOT / "examples" / "templates" / "echo.yaml").read_text())
DIAMOND = yaml.safe_load((ROOT / "examples" / "19-task-templates.yaml").read_text())


def echo(version: str, name: str = "echo", kind: str = "TaskTemplate") -> dict[str, Any]:
    body = copy.deepcopy(ECHO)
    body["kind"] = kind
    body["metadata"] = {"name": f"{name}-{version.replace('.', '-')}"}
    body["spec"]["name"] = name
    body["spec"]["version"] = version
    return body


def publish(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = cluster.custom.create_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "tasktemplates", body
    )
    return created


def ready_condition(cluster: Cluster, name: str) -> dict[str, Any]:
    """The Flow's Ready condition once the operator has read its current generation."""

    def read() -> dict[str, Any] | None:
        flow = cluster.get("flows", name)
        status = flow.get("status") or {}
        if status.get("observedGeneration") != flow["metadata"]["generation"]:
            return None
        return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)

    return poll(read, 30, f"flow {name} read")


def template_flow(name: str, *tasks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Flow",
        "metadata": {"name": name},
        "spec": {"tasks": list(tasks)},
    }


def use(task_id: str, version: str, kind: str = "TaskTemplate", name: str = "echo", **with_: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "type": "template",
        "template": {"name": name, "version": version, "kind": kind},
        "with": with_,
    }


@pytest.mark.realnode
def test_one_template_used_four_times_runs_each_with_its_parameters(
    cluster: Cluster, operator_process: OperatorProcess
) -> None:
    for version in ("1.0.0", "1.1.0", "2.0.0"):  # ^1.0 picks 1.1.0
        publish(cluster, echo(version))
    stored = cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "tasktemplates", "echo-1-1-0"
    )
    cluster.apply_flow(copy.deepcopy(DIAMOND))
    assert ready_condition(cluster, "template-diamond")["status"] == "True"
    before = operator_process.api_requests()

    name = cluster.run("template-diamond")
    execution_ = cluster.wait_state(name, {"SUCCESS", "FAILED", "WARNING"}, timeout=240)
    time.sleep(2)  # the last held status and Events
    after = operator_process.api_requests()

    status = execution_["status"]
    assert status["state"] == "SUCCESS", status
    outputs = {run["taskId"]: run.get("outputs") for run in status["taskRuns"]}
    assert outputs == {
        "a": {"said": "A", "letters": 1},
        "b": {"said": "B B", "letters": 3},
        "c": {"said": "C after A", "letters": 9},
        "d": {"said": "B B and C after A", "letters": 17},
    }
    assert [t["type"] for t in status["flowSpec"]["tasks"]] == ["container"] * 4
    assert status["templates"] == [
        {
            "taskId": task,
            "kind": "TaskTemplate",
            "name": "echo",
            "version": "1.1.0",
            "objectName": "echo-1-1-0",
            "specHash": spec_hash(stored["spec"]),
        }
        for task in ("a", "b", "c", "d")
    ]
    jobs = cluster.jobs(name)
    assert len(jobs) == 4
    print(f"\nCost of a run of 4 template tasks: {cost(cluster, name, before, after)}")

    # the same four tasks written out as container tasks (the snapshot's): what templates add
    plain = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Flow", "metadata": {"name": "plain-diamond"}}
    cluster.apply_flow({**plain, "spec": status["flowSpec"]})
    assert ready_condition(cluster, "plain-diamond")["status"] == "True"
    before = operator_process.api_requests()
    name = cluster.run("plain-diamond")
    assert cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=240)["status"]["state"] == "SUCCESS"
    time.sleep(2)
    print(f"The same as 4 container tasks: {cost(cluster, name, before, operator_process.api_requests())}")


def cost(cluster: Cluster, name: str, before: dict[str, float], after: dict[str, float]) -> str:
    """Pods of the run and the operator's API requests between ``before`` and ``after``."""
    pods = cluster.core.list_namespaced_pod(cluster.namespace, label_selector=f"overture.dev/execution={name}").items
    delta = {
        verb: after.get(verb, 0) - before.get(verb, 0) for verb in after if after.get(verb, 0) > before.get(verb, 0)
    }
    writes = {k: v for k, v in delta.items() if k in ("create", "update", "patch", "delete")}
    return f"{len(pods)} pods; API requests {delta}; writes {writes} ({sum(writes.values()):.0f})"


def test_a_published_version_cannot_change(cluster: Cluster, operator_process: OperatorProcess) -> None:
    publish(cluster, echo("1.0.0"))
    for change in (
        {"spec": {"container": {"image": "busybox:1.36"}}},
        {"spec": {"version": "1.0.1"}},
        {"spec": {"parameters": {"properties": {"message": {"type": "string", "default": "hi"}}}}},
    ):
        with pytest.raises(ApiException) as refused:
            cluster.custom.patch_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, "tasktemplates", "echo-1-0-0", change
            )
        assert refused.value.status == 422
        assert "a published template version cannot change; publish a new version as a new object" in str(
            refused.value.body
        )
    # its metadata is not the published version: labels may change
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "tasktemplates", "echo-1-0-0", {"metadata": {"labels": {"team": "data"}}}
    )
    body = cluster.custom.get_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "tasktemplates", "echo-1-0-0")
    assert body["spec"] == echo("1.0.0")["spec"]


def test_bad_parameters_and_unknown_versions_mark_the_flow_invalid(
    cluster: Cluster, operator_process: OperatorProcess
) -> None:
    publish(cluster, echo("1.0.0"))
    cases = {
        "missing": (
            use("t", "^1"),
            "spec.tasks[0].with.message: missing; TaskTemplate echo 1.0.0 requires it (string: What to say)",
        ),
        "wrong-type": (
            use("t", "^1", message="hi", repeat="twice"),
            'spec.tasks[0].with.repeat: "twice" is not an integer (TaskTemplate echo 1.0.0: repeat is integer)',
        ),
        "no-version": (
            use("t", "^2", message="hi"),
            "spec.tasks[0].template.version: TaskTemplate 'echo' has no version matching '^2' (published: 1.0.0)",
        ),
        "no-template": (
            use("t", "^1", name="echoo", message="hi"),
            f"spec.tasks[0].template.name: no TaskTemplate 'echoo' in namespace '{cluster.namespace}'"
            " (TaskTemplates there: echo); apply it, or set kind: ClusterTaskTemplate if it is a ClusterTaskTemplate",
        ),
    }
    for name, (task, _) in cases.items():
        cluster.apply_flow(template_flow(name, task))
    for name, (_, message) in cases.items():
        condition = ready_condition(cluster, name)
        assert (condition["status"], condition["reason"], condition["message"]) == ("False", "Invalid", message)
    refused = cluster.run("no-version")
    failed = cluster.wait_state(refused, {"FAILED"}, timeout=30)
    assert "spec.tasks[0].template.version" in failed["status"]["message"]

    publish(cluster, echo("2.0.0"))  # the version the flow asks for appears: Ready, the Flow untouched
    poll(lambda: ready_condition(cluster, "no-version")["status"] == "True", 30, "no-version Ready")


def test_the_schema_of_a_namespace_describes_with_from_its_templates(
    cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publish(cluster, echo("1.0.0"))
    publish(cluster, echo("1.2.0"))
    capsys.readouterr()
    assert main(["schema", "--kubeconfig", kubeconfig, "-n", cluster.namespace]) == 0
    schema = json.loads(capsys.readouterr().out)
    rules = list(schema["definitions"]["task"]["allOf"])  # every task list refers to this definition
    with_ = next(
        r["then"]["properties"]["with"]
        for r in rules
        if r["if"]["properties"]["template"]["properties"]
        == {"name": {"const": "echo"}, "kind": {"const": "TaskTemplate"}}
    )
    assert with_["description"] == "Parameters of TaskTemplate echo 1.2.0"
    assert with_["required"] == ["message"]
    assert sorted(with_["properties"]) == ["message", "repeat"]


@pytest.mark.realnode
def test_a_cluster_template_serves_a_tenant_that_may_not_change_it(
    tenants: Tenants,
    kubeconfig: str,
    helm: str,
) -> None:
    tenant = tenants.a
    name = f"echo-{uuid.uuid4().hex[:6]}"
    admin = client.CustomObjectsApi(config.new_client_from_config(config_file=kubeconfig))
    rbac = client.RbacAuthorizationV1Api(config.new_client_from_config(config_file=kubeconfig))
    shared = echo("1.0.0", name=name, kind="ClusterTaskTemplate")
    admin.create_cluster_custom_object(GROUP, VERSION, "clustertasktemplates", shared)
    object_name = shared["metadata"]["name"]
    suffix = uuid.uuid4().hex[:6]
    readers = [
        o
        for o in render(helm, "overture", "overture", f"fullnameOverride=ovt-tt-{suffix}")
        if o["metadata"]["name"].endswith(("-cluster-template-reader", "-template-readers"))
    ]
    assert sorted(o["kind"] for o in readers) == ["ClusterRole", "ClusterRoleBinding"]
    try:
        for obj in readers:
            if obj["kind"] == "ClusterRole":
                rbac.create_cluster_role(obj)
            else:
                rbac.create_cluster_role_binding(obj)
        flow = template_flow("shared", use("hello", "~1.0", kind="ClusterTaskTemplate", name=name, message="tenant"))
        tenant.custom.create_namespaced_custom_object(GROUP, VERSION, tenant.namespace, "flows", flow)
        assert ready_condition(tenant.admin, "shared")["status"] == "True"
        tenant.custom.create_namespaced_custom_object(
            GROUP, VERSION, tenant.namespace, "executions", execution("shared-1", "shared", by=tenant.user)
        )
        done = tenant.admin.wait_state("shared-1", {"SUCCESS", "FAILED"}, timeout=180)
        assert done["status"]["state"] == "SUCCESS", done["status"]
        assert done["status"]["taskRuns"][0]["outputs"] == {"said": "tenant", "letters": 6}
        assert done["status"]["templates"][0]["kind"] == "ClusterTaskTemplate"

        # the author reads templates (the cluster's, through the readers' binding) ...
        poll(
            lambda: _allowed(
                lambda: tenant.custom.get_cluster_custom_object(GROUP, VERSION, "clustertasktemplates", object_name)
            ),
            30,
            "the readers' binding in effect",
        )
        tenant.admin.custom.create_namespaced_custom_object(
            GROUP, VERSION, tenant.namespace, "tasktemplates", echo("1.0.0")
        )
        tenant.custom.list_namespaced_custom_object(GROUP, VERSION, tenant.namespace, "tasktemplates")
        # ... and publishes or changes none: platform teams own them
        attempts = {
            "patch the cluster template": lambda: tenant.custom.patch_cluster_custom_object(
                GROUP, VERSION, "clustertasktemplates", object_name, {"metadata": {"labels": {"mine": "yes"}}}
            ),
            "delete the cluster template": lambda: tenant.custom.delete_cluster_custom_object(
                GROUP, VERSION, "clustertasktemplates", object_name
            ),
            "publish a cluster template": lambda: tenant.custom.create_cluster_custom_object(
                GROUP, VERSION, "clustertasktemplates", echo("9.0.0", name=name, kind="ClusterTaskTemplate")
            ),
            "publish a template in its namespace": lambda: tenant.custom.create_namespaced_custom_object(
                GROUP, VERSION, tenant.namespace, "tasktemplates", echo("1.0.1")
            ),
            "delete its namespace's template": lambda: tenant.custom.delete_namespaced_custom_object(
                GROUP, VERSION, tenant.namespace, "tasktemplates", "echo-1-0-0"
            ),
        }
        for what, attempt in attempts.items():
            with pytest.raises(ApiException) as refused:
                attempt()
            assert refused.value.status == 403, what
    finally:
        admin.delete_cluster_custom_object(GROUP, VERSION, "clustertasktemplates", object_name)
        for obj in readers:
            try:
                if obj["kind"] == "ClusterRole":
                    rbac.delete_cluster_role(obj["metadata"]["name"])
                else:
                    rbac.delete_cluster_role_binding(obj["metadata"]["name"])
            except ApiException as exc:
                if exc.status != 404:
                    raise


def _allowed(call: Any) -> bool:
    try:
        call()
    except ApiException as exc:
        if exc.status == 403:
            return False
        raise
    return True
