"""Tenants for the security tests: two namespaces, each with a token user of the local cluster bound
to the chart's ``flow-author`` ClusterRole by a RoleBinding (real RBAC: the users have no other
grant), the chart's admission policies on Flows and Executions (the session's operator, which runs
with the admin's kubeconfig, as their ``operatorUser``), and the builders those tests share.

``tenants`` is module-scoped: a module that imports it gets its own pair of namespaces.
"""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from faults import delete_namespace, new_namespace
from harness import GROUP, VERSION, Cluster, OperatorProcess, poll
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from test_chart import helm, render

__all__ = [
    "NOOP",
    "HealthProbe",
    "Tenant",
    "Tenants",
    "bind",
    "execution",
    "flow",
    "helm",
    "refusal",
    "status_of",
    "tenants",
]


NOOP = [
    {"id": "noop", "type": "if", "condition": "false", "then": [{"id": "never", "type": "shell", "commands": ["true"]}]}
]


def flow(name: str, tasks: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Flow",
        "metadata": {"name": name},
        "spec": {"tasks": tasks or NOOP, **spec},
    }


def execution(name: str, flow_name: str, *, by: str, **spec: Any) -> dict[str, Any]:
    """An Execution of ``flow_name`` that user ``by`` creates (``spec.requestedBy``, which the
    chart's policy checks against the creator, as ``overture run`` writes it)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Execution",
        "metadata": {"name": name},
        "spec": {"flowRef": {"name": flow_name}, "requestedBy": by, **spec},
    }


def bind(tenant: Tenant, name: str, cluster_role: str) -> None:
    """A RoleBinding of ``cluster_role`` to the tenant's user in its namespace (a platform team's grant)."""
    client.RbacAuthorizationV1Api(tenant.admin.api).create_namespaced_role_binding(
        tenant.namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=cluster_role),
            subjects=[client.RbacV1Subject(kind="User", name=tenant.user, api_group="rbac.authorization.k8s.io")],
        ),
    )


@dataclass
class Tenant:
    user: str
    admin: Cluster  # the namespace, seen by the cluster admin
    custom: client.CustomObjectsApi  # the API as this user
    core: client.CoreV1Api

    @property
    def namespace(self) -> str:
        return self.admin.namespace


@dataclass
class Tenants:
    a: Tenant
    b: Tenant
    author_role: str
    account_user_role: str  # the verb `use` on ServiceAccounts (a Flow may name an account)
    operator_user: str  # the only user that may start schedule, webhook, flow, resource runs


@pytest.fixture(scope="module")
def tenants(
    kubeconfig: str, user_kubeconfig: Callable[[str], str], helm: str, operator_process: OperatorProcess
) -> Iterator[Tenants]:
    """Namespaces A and B; the chart's user ClusterRoles; tenant-a bound in A, tenant-b in B."""
    suffix = uuid.uuid4().hex[:6]
    admin_api = config.new_client_from_config(config_file=kubeconfig)
    operator_user = Cluster(kubeconfig, "default").username  # the session's operator: the admin's kubeconfig
    objects = render(
        helm,
        "overture",
        "overture",
        f"fullnameOverride=ovt-tn-{suffix}",
        "rbac.aggregateToDefaultRoles=false",  # the built-in roles stay as they are
        f"admissionPolicy.operatorUser={operator_user}",
    )
    role_names = {f"ovt-tn-{suffix}-{role}" for role in ("flow-author", "viewer", "service-account-user")}
    roles = [o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] in role_names]
    assert {r["metadata"]["name"] for r in roles} == role_names
    policies = [o for o in objects if o["kind"].startswith("ValidatingAdmissionPolicy")]
    assert sorted(p["metadata"]["name"] for p in policies if p["kind"] == "ValidatingAdmissionPolicy") == [
        f"ovt-tn-{suffix}-executions",
        f"ovt-tn-{suffix}-flows",
    ]
    rbac = client.RbacAuthorizationV1Api(admin_api)
    admission = client.AdmissionregistrationV1Api(admin_api)
    for role in roles:
        rbac.create_cluster_role(role)
    for policy in policies:  # each policy before its binding
        if policy["kind"] == "ValidatingAdmissionPolicy":
            admission.create_validating_admission_policy(policy)
    for policy in policies:
        if policy["kind"] == "ValidatingAdmissionPolicyBinding":
            admission.create_validating_admission_policy_binding(policy)
    author = f"ovt-tn-{suffix}-flow-author"
    made = []
    try:
        for user in ("tenant-a", "tenant-b"):
            made.append(new_namespace(kubeconfig, user))
        api = {u: config.new_client_from_config(config_file=user_kubeconfig(u)) for u in ("tenant-a", "tenant-b")}
        a = Tenant("tenant-a", made[0], client.CustomObjectsApi(api["tenant-a"]), client.CoreV1Api(api["tenant-a"]))
        b = Tenant("tenant-b", made[1], client.CustomObjectsApi(api["tenant-b"]), client.CoreV1Api(api["tenant-b"]))
        for tenant in (a, b):
            bind(tenant, f"{tenant.user}-flows", author)

        def bound() -> bool:  # RBAC caches: wait until each tenant may list its own flows
            for tenant in (a, b):
                try:
                    tenant.custom.list_namespaced_custom_object(GROUP, VERSION, tenant.namespace, "flows")
                except ApiException:
                    return False
            return True

        poll(bound, 30, "the RoleBindings in effect")

        def judged() -> bool:  # the API server loads new policies a moment later: a dry run is refused
            unsigned = {**execution("probe", "none", by=""), "spec": {"flowRef": {"name": "none"}}}
            return (
                status_of(
                    lambda: a.custom.create_namespaced_custom_object(
                        GROUP, VERSION, a.namespace, "executions", unsigned, dry_run="All"
                    )
                )
                == 403
            )

        poll(judged, 30, "the admission policies in effect")
        yield Tenants(a, b, author, f"ovt-tn-{suffix}-service-account-user", operator_user)
    finally:
        for helper in made:
            delete_namespace(helper)
        for role in roles:
            try:
                rbac.delete_cluster_role(role["metadata"]["name"])
            except ApiException as exc:
                if exc.status != 404:
                    raise
        for name in sorted({p["metadata"]["name"] for p in policies}):
            for delete in (
                admission.delete_validating_admission_policy_binding,
                admission.delete_validating_admission_policy,
            ):
                try:
                    delete(name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise


def refusal(tenant: Tenant, body: dict[str, Any], keep: bool = True) -> str:
    """'' if the tenant could create the Flow ``body`` (deleted again unless ``keep``), else the
    API server's status and answer."""
    try:
        tenant.custom.create_namespaced_custom_object(GROUP, VERSION, tenant.namespace, "flows", body)
    except ApiException as exc:
        return f"{exc.status} {exc.body}"
    if not keep:
        name = body["metadata"]["name"]
        tenant.admin.custom.delete_namespaced_custom_object(GROUP, VERSION, tenant.namespace, "flows", name)
    return ""


def status_of(call: Callable[[], Any]) -> int:
    """The HTTP status of a call made as a tenant: 200 if it went through."""
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


class HealthProbe:
    """Polls the operator's /healthz every 0.1 s in a thread; the slowest answer (a timeout of 5 s
    counts as 5 s), to show that the HTTP port stayed responsive while a test did something."""

    def __init__(self, process: OperatorProcess) -> None:
        self.url = f"http://127.0.0.1:{process.port}/healthz"
        self.slowest = 0.0
        self.answers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as reply:
                    reply.read()
                self.answers += 1
            except OSError:
                pass
            self.slowest = max(self.slowest, time.monotonic() - started)
            self._stop.wait(0.1)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
