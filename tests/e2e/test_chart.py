"""The Helm chart on a real kube-apiserver: the objects it creates, and what its RBAC allows.

`helm template` (the pinned helm of hack/tools.sh) renders charts/overture in namespaced RBAC
mode serving one namespace; the objects are created with the dynamic client, as `helm install`
would. Then the apiserver's own authorizer answers SubjectAccessReviews for the chart's
ServiceAccount: it may create Jobs and patch executions/status in the served namespace and
nothing in another one, and a real token of that ServiceAccount gets 403 outside it.

The operator pod of this release never starts (pullPolicy Never, an image no node has): the
objects are what is under test here, not the operator.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from harness import ROOT, install_crds, poll
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.e2e

CHART = ROOT / "charts" / "overture"


@pytest.fixture(scope="session")
def helm() -> str:
    """The pinned helm, built from the Go module proxy on first use (hack/tools.sh)."""
    built = subprocess.run(["bash", str(ROOT / "hack" / "tools.sh")], capture_output=True, text=True, check=False)
    if built.returncode != 0:
        pytest.fail(f"hack/tools.sh could not provide helm:\n{built.stderr}")
    return built.stdout.strip() + "/helm"


def render(helm: str, release: str, namespace: str, *values: str) -> list[dict[str, Any]]:
    """`helm template` with --set values; the documents as dicts (empty ones dropped)."""
    args = [helm, "template", release, str(CHART), "--namespace", namespace]
    for value in values:
        args += ["--set", value]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"helm template failed:\n{out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@dataclass
class Release:
    """One rendered and applied release, and where it lives."""

    fullname: str
    namespace: str  # the release namespace: Deployment, ServiceAccount, Lease
    served: str  # the one namespace it serves (rbac.namespaces)
    other: str  # a namespace it must not touch
    objects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def service_account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.fullname}"

    def rendered(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]


def _create_namespace(core: client.CoreV1Api, name: str) -> None:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"e2e": "chart"})))


def apply(api_client: client.ApiClient, objects: list[dict[str, Any]]) -> None:
    """Create every object, as `helm install` does (cluster-scoped ones without a namespace)."""
    dyn = dynamic.DynamicClient(api_client)
    for body in objects:
        resource = dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        namespace = body["metadata"].get("namespace") if resource.namespaced else None
        resource.create(body=body, namespace=namespace)


def delete(api_client: client.ApiClient, objects: list[dict[str, Any]]) -> None:
    dyn = dynamic.DynamicClient(api_client)
    for body in objects:
        resource = dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        if resource.namespaced:
            continue  # goes with its namespace
        try:
            resource.delete(name=body["metadata"]["name"])
        except ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture(scope="module")
def release(kubeconfig: str, api_client: client.ApiClient, core_v1: client.CoreV1Api, helm: str) -> Iterator[Release]:
    suffix = uuid.uuid4().hex[:6]
    rel = Release(
        fullname=f"ovt-{suffix}",  # ClusterRoles are cluster-wide: one name per test run
        namespace=f"chart-rel-{suffix}",
        served=f"chart-served-{suffix}",
        other=f"chart-other-{suffix}",
    )
    for name in (rel.namespace, rel.served, rel.other):
        _create_namespace(core_v1, name)
    install_crds(kubeconfig)  # the chart's crds/ are the same files (tests/unit/test_chart_crds.py)
    rel.objects = render(
        helm,
        "overture",
        rel.namespace,
        f"fullnameOverride={rel.fullname}",
        "rbac.scope=namespaced",
        f"rbac.namespaces={{{rel.served}}}",
        "image.pullPolicy=Never",  # no node has overture:0.1.0 and none may pull it
    )
    try:
        apply(api_client, rel.objects)
        yield rel
    finally:
        delete(api_client, rel.objects)
        for name in (rel.namespace, rel.served, rel.other):
            try:
                core_v1.delete_namespace(name, propagation_policy="Background")
            except ApiException as exc:
                if exc.status != 404:
                    raise


def test_the_chart_creates_a_locked_down_operator_deployment(release: Release, api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(api_client)
    deployment = apps.read_namespaced_deployment(release.fullname, release.namespace)
    assert deployment.spec.replicas == 1
    pod = deployment.spec.template.spec
    assert pod.service_account_name == release.fullname
    assert pod.security_context.run_as_non_root is True
    assert pod.security_context.run_as_user == 10001
    assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
    (container,) = pod.containers
    security = container.security_context
    assert security.read_only_root_filesystem is True
    assert security.allow_privilege_escalation is False
    assert security.capabilities.drop == ["ALL"]
    assert container.args[0] == "operator"
    assert f"--namespace={release.served}" in container.args
    env = {e.name: e.value for e in container.env}
    assert env["OVERTURE_NAMESPACES"] == release.served
    assert env["OVERTURE_LEASE_NAMESPACE"] == release.namespace
    assert (container.liveness_probe.http_get.path, container.readiness_probe.http_get.path) == ("/healthz", "/readyz")
    assert [(p.name, p.container_port) for p in container.ports] == [("http", 8080)]
    assert container.resources.requests and container.resources.limits


def test_the_chart_creates_service_account_service_and_roles(release: Release, core_v1: client.CoreV1Api) -> None:
    core_v1.read_namespaced_service_account(release.fullname, release.namespace)
    service = core_v1.read_namespaced_service(release.fullname, release.namespace)
    assert [(p.name, p.port) for p in service.spec.ports] == [("http", 8080)]
    rbac = client.RbacAuthorizationV1Api(core_v1.api_client)
    assert rbac.read_namespaced_role(f"{release.fullname}-operator", release.served).rules
    assert rbac.read_namespaced_role(f"{release.fullname}-leader-election", release.namespace).rules
    assert not rbac.list_namespaced_role(release.other).items, "nothing may be granted in an unlisted namespace"
    names = {r.metadata.name for r in rbac.list_cluster_role_binding().items}
    assert not any(n.startswith(release.fullname) for n in names), "namespaced mode grants nothing cluster-wide"


# ---------------------------------------------------------------- what the ServiceAccount may do

# (verb, group, resource, subresource): allowed in the served namespace, denied everywhere else.
OPERATOR_NEEDS = [
    ("create", "batch", "jobs", ""),
    ("delete", "batch", "jobs", ""),
    ("watch", "batch", "jobs", ""),
    ("patch", "overture.dev", "executions", "status"),
    ("update", "overture.dev", "executions", "status"),
    ("create", "overture.dev", "executions", ""),
    ("update", "overture.dev", "flows", "status"),
    ("list", "", "pods", ""),
    ("get", "", "pods", "log"),
    ("create", "", "events", ""),
    ("get", "", "secrets", ""),  # webhook keys (webhooks.enabled)
    ("watch", "", "configmaps", ""),  # resource triggers
]
# Never allowed, not even in the served namespace.
OPERATOR_MUST_NOT = [
    ("create", "", "pods", ""),
    ("update", "batch", "jobs", ""),
    ("list", "", "secrets", ""),
    ("create", "", "secrets", ""),
    ("delete", "", "configmaps", ""),
    ("create", "coordination.k8s.io", "leases", ""),
]


def can(
    api_client: client.ApiClient,
    user: str,
    groups: list[str],
    namespace: str,
    verb: str,
    group: str,
    resource: str,
    subresource: str = "",
) -> bool:
    """The apiserver's answer to: may `user` do `verb` on group/resource[/subresource] in `namespace`?"""
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            groups=groups,
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb=verb, group=group, resource=resource, subresource=subresource or None
            ),
        )
    )
    answer = client.AuthorizationV1Api(api_client).create_subject_access_review(review)
    return bool(answer.status.allowed)


def _sa_groups(release: Release) -> list[str]:
    return ["system:serviceaccounts", f"system:serviceaccounts:{release.namespace}", "system:authenticated"]


@pytest.mark.parametrize(("verb", "group", "resource", "subresource"), OPERATOR_NEEDS)
def test_service_account_may_run_the_served_namespace_only(
    release: Release, api_client: client.ApiClient, verb: str, group: str, resource: str, subresource: str
) -> None:
    who = (api_client, release.service_account, _sa_groups(release))
    what = (verb, group, resource, subresource)
    assert can(*who, release.served, *what), f"{release.service_account} may not {what} in {release.served}"
    assert not can(*who, release.other, *what), f"{release.service_account} may {what} in {release.other}"
    assert not can(*who, "", *what), f"{release.service_account} may {what} cluster-wide"


@pytest.mark.parametrize(("verb", "group", "resource", "subresource"), OPERATOR_MUST_NOT)
def test_service_account_gets_nothing_more(
    release: Release, api_client: client.ApiClient, verb: str, group: str, resource: str, subresource: str
) -> None:
    assert not can(
        api_client, release.service_account, _sa_groups(release), release.served, verb, group, resource, subresource
    )


def test_service_account_holds_its_lease_in_the_release_namespace_only(
    release: Release, api_client: client.ApiClient
) -> None:
    who = (api_client, release.service_account, _sa_groups(release))
    for verb in ("get", "create", "update"):
        assert can(*who, release.namespace, verb, "coordination.k8s.io", "leases")
        assert not can(*who, release.served, verb, "coordination.k8s.io", "leases")


def test_a_real_token_of_the_service_account_is_refused_outside(
    release: Release, api_client: client.ApiClient, core_v1: client.CoreV1Api
) -> None:
    """Not only the authorizer's opinion: requests with the ServiceAccount's own token."""
    token = core_v1.create_namespaced_service_account_token(
        release.fullname,
        release.namespace,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)),
    ).status.token
    configuration = client.Configuration()
    configuration.host = api_client.configuration.host
    configuration.ssl_ca_cert = api_client.configuration.ssl_ca_cert
    configuration.verify_ssl = api_client.configuration.verify_ssl
    configuration.api_key = {"authorization": f"Bearer {token}"}
    batch = client.BatchV1Api(client.ApiClient(configuration))
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "rbac-probe"},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}
        },
    }
    batch.create_namespaced_job(release.served, job, dry_run="All")  # allowed: nothing is created (dry run)
    with pytest.raises(ApiException) as refused:
        batch.create_namespaced_job(release.other, job, dry_run="All")
    assert refused.value.status == 403
    with pytest.raises(ApiException) as refused_list:
        batch.list_job_for_all_namespaces()
    assert refused_list.value.status == 403


# ---------------------------------------------------------------- roles for people


def test_flow_author_and_viewer_roles_bound_per_namespace(release: Release, api_client: client.ApiClient) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client)
    for role, user in (("flow-author", "alice"), ("viewer", "victor")):
        rbac.create_namespaced_role_binding(
            release.served,
            {
                "metadata": {"name": f"{user}-{role}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"{release.fullname}-{role}",
                },
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            },
        )
    groups = ["system:authenticated"]
    for verb in ("create", "get", "list", "watch", "update", "patch", "delete"):
        for resource in ("flows", "executions"):
            assert can(api_client, "alice", groups, release.served, verb, "overture.dev", resource)
            assert not can(api_client, "alice", groups, release.other, verb, "overture.dev", resource)
    assert not can(api_client, "alice", groups, release.served, "update", "overture.dev", "executions", "status")
    assert can(api_client, "victor", groups, release.served, "list", "overture.dev", "executions")
    assert can(api_client, "victor", groups, release.served, "get", "overture.dev", "flows", "status")
    assert not can(api_client, "victor", groups, release.served, "create", "overture.dev", "executions")


def test_flow_author_is_aggregated_into_the_builtin_edit_role(release: Release, api_client: client.ApiClient) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client)
    try:
        rbac.read_cluster_role("edit")
    except ApiException as exc:
        if exc.status == 404:
            pytest.skip("this cluster has no built-in edit ClusterRole")
        raise
    rbac.create_namespaced_role_binding(
        release.served,
        {
            "metadata": {"name": "erin-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "erin"}],
        },
    )
    poll(
        lambda: can(api_client, "erin", ["system:authenticated"], release.served, "create", "overture.dev", "flows"),
        30,
        "the edit role to aggregate the chart's flow-author rules",
    )
