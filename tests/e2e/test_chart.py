"""The Helm chart on a real kube-apiserver: the objects it creates, and what its RBAC allows.

`helm template` (the pinned helm of hack/tools.sh) renders charts/overture in namespaced RBAC
mode serving one namespace; the objects are created with the dynamic client, as `helm install`
would. Then the apiserver's own authorizer answers SubjectAccessReviews for the chart's
ServiceAccount: it may create Jobs and patch executions/status in the served namespace and
nothing in another one, and a real token of that ServiceAccount gets 403 outside it.

The operator pod of that release never starts (pullPolicy Never, an image no node has): the
objects are what is under test there. The last test runs the operator for real: the image built
without Docker by hack/image.sh (the Dockerfile's layout on the local cluster's python base),
imported into the local node as overture:dev, installed by the chart, and an Execution run
through it to SUCCESS; the same release runs the web UI (``ui.enabled``), which answers 401
without a token, shows the run to a person with theirs, and whose ServiceAccount holds nothing.
It needs the local cluster's real node and is skipped elsewhere.
"""

from __future__ import annotations

import random
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import CLUSTER_DIR
from harness import GROUP, ROOT, VERSION, Cluster, free_port, install_crds, poll
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


def render(
    helm: str, release: str, namespace: str, *values: str, values_file: Path | None = None
) -> list[dict[str, Any]]:
    """`helm template` with --set values (and a values file); the documents as dicts (empty ones dropped)."""
    args = [helm, "template", release, str(CHART), "--namespace", namespace]
    if values_file is not None:
        args += ["--values", str(values_file)]
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


def _delete_namespaces(core: client.CoreV1Api, *names: str) -> None:
    for name in names:
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise


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
    install_crds(kubeconfig)  # the chart's crds/ are the same files (tests/unit/deploy/test_chart_crds.py)
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
        _delete_namespaces(core_v1, rel.namespace, rel.served, rel.other)


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
    ours = sorted(n for n in names if n.startswith(release.fullname))
    # namespaced mode binds only the read-only observer cluster-wide, and lets everyone signed in
    # read ClusterTaskTemplates (rbac.templateReaders)
    assert ours == [f"{release.fullname}-observer", f"{release.fullname}-template-readers"]


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
    # the default task runtime, managed-job: the operator makes its Jobs' pods and writes their status
    ("create", "", "pods", ""),
    ("delete", "", "pods", ""),
    ("patch", "batch", "jobs", "status"),
    ("create", "", "events", ""),
    ("get", "", "secrets", ""),  # webhook keys (webhooks.enabled), secrets named by calls (calls.readSecrets)
    ("watch", "", "configmaps", ""),  # resource triggers
    ("watch", "overture.dev", "tasktemplates", ""),  # template tasks
]
# Never allowed, not even in the served namespace.
OPERATOR_MUST_NOT = [
    ("update", "", "pods", ""),
    ("update", "batch", "jobs", ""),
    ("update", "batch", "jobs", "status"),
    ("list", "", "secrets", ""),
    ("create", "", "secrets", ""),
    ("delete", "", "configmaps", ""),
    ("create", "coordination.k8s.io", "leases", ""),
    ("create", "overture.dev", "tasktemplates", ""),  # platform teams publish templates
    ("update", "overture.dev", "clustertasktemplates", ""),
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


def test_cluster_wide_the_service_account_only_observes_crds_and_namespaces(
    release: Release, api_client: client.ApiClient
) -> None:
    who = (api_client, release.service_account, _sa_groups(release))
    for verb in ("list", "watch"):
        assert can(*who, "", verb, "apiextensions.k8s.io", "customresourcedefinitions")
        assert can(*who, "", verb, "", "namespaces")
        assert can(*who, "", verb, "overture.dev", "clustertasktemplates")  # template tasks of every namespace
    for verb, group, resource in [
        ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
        ("delete", "", "namespaces"),
        ("create", "", "namespaces"),
        ("list", "", "secrets"),
        ("list", "", "nodes"),
    ]:
        assert not can(*who, "", verb, group, resource), f"{verb} {resource} cluster-wide"


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
    for verb in ("get", "list", "watch"):
        assert can(api_client, "alice", groups, release.served, verb, "overture.dev", "tasktemplates")
        assert can(api_client, "alice", groups, "", verb, "overture.dev", "clustertasktemplates")  # templateReaders
    for verb in ("create", "update", "patch", "delete"):
        assert not can(api_client, "alice", groups, release.served, verb, "overture.dev", "tasktemplates")
        assert not can(api_client, "alice", groups, "", verb, "overture.dev", "clustertasktemplates")
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


# ---------------------------------------------------------------- the operator image, installed


def host_port() -> int:
    """A free port below the ephemeral range, so it can never be one that free_port() handed to an
    operator process of this test session (the chart's pod uses hostNetwork and listens on the host)."""
    for _ in range(100):
        candidate = random.randint(20000, 29999)
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", candidate))
            except OSError:
                continue
        return candidate
    raise AssertionError("no free port in 20000-29999")


@pytest.mark.realnode
def test_the_chart_runs_the_operator_image_to_a_successful_execution(
    kubeconfig: str,
    api_client: client.ApiClient,
    core_v1: client.CoreV1Api,
    helm: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if kubeconfig != str(CLUSTER_DIR / "admin.kubeconfig"):
        pytest.skip("overture:dev is imported into the local cluster's node; elsewhere build it from the Dockerfile")
    # The session's cluster-wide operator would race the chart's for the served namespace: pause it.
    session_operator = request.getfixturevalue("operator_process")
    session_operator.stop()
    request.addfinalizer(session_operator.start)
    built = subprocess.run(
        ["bash", str(ROOT / "hack" / "image.sh"), "--import"], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, f"hack/image.sh --import failed:\n{built.stderr}"

    chart_port, ui_port = host_port(), host_port()
    suffix = uuid.uuid4().hex[:6]
    fullname, namespace, served = f"ovr-{suffix}", f"chart-op-{suffix}", f"chart-run-{suffix}"
    apiserver = urlsplit(api_client.configuration.host)
    # The local cluster's API server listens on 127.0.0.1 only and no Service reaches it: the
    # operator runs in the node's network namespace and is told where the API server is.
    values = {
        "fullnameOverride": fullname,
        "image": {"repository": "overture", "tag": "dev", "pullPolicy": "Never"},
        "rbac": {"scope": "namespaced", "namespaces": [served]},
        "hostNetwork": True,
        "operator": {
            "port": chart_port,
            "extraEnv": [
                {"name": "KUBERNETES_SERVICE_HOST", "value": apiserver.hostname},
                {"name": "KUBERNETES_SERVICE_PORT", "value": str(apiserver.port or 443)},
            ],
        },
        # The web UI too (token mode): its own Deployment, on the node's network like the operator.
        "ui": {
            "enabled": True,
            "port": ui_port,
            "extraEnv": [
                {"name": "KUBERNETES_SERVICE_HOST", "value": apiserver.hostname},
                {"name": "KUBERNETES_SERVICE_PORT", "value": str(apiserver.port or 443)},
            ],
        },
    }
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    objects = render(helm, "overture", namespace, values_file=values_file)
    for name in (namespace, served):
        _create_namespace(core_v1, name)
    install_crds(kubeconfig)
    apps, custom = client.AppsV1Api(api_client), client.CustomObjectsApi(api_client)
    try:
        apply(api_client, objects)

        def available() -> bool:
            status = apps.read_namespaced_deployment(fullname, namespace).status
            return (status.available_replicas or 0) >= 1

        poll(available, 90, f"deployment {namespace}/{fullname} Available")
        operator_pods = "app.kubernetes.io/instance=overture,app.kubernetes.io/name=overture"
        (pod,) = core_v1.list_namespaced_pod(namespace, label_selector=operator_pods).items
        ready = {c.type: c.status for c in pod.status.conditions}
        assert ready.get("Ready") == "True", f"the operator pod is not Ready (its /readyz probe): {ready}"
        assert pod.spec.containers[0].image == "overture:dev"

        flow = yaml.safe_load((ROOT / "examples" / "01-hello-world.yaml").read_text())
        custom.create_namespaced_custom_object(GROUP, VERSION, served, "flows", flow)
        execution = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Execution",
            "metadata": {"name": f"hello-{suffix}"},
            "spec": {
                "flowRef": {"name": flow["metadata"]["name"]},
                "inputs": {"name": "chart"},
                "requestedBy": Cluster(kubeconfig, served).username,  # the chart's policy checks it
            },
        }
        custom.create_namespaced_custom_object(GROUP, VERSION, served, "executions", execution)

        def finished() -> str | None:
            body = custom.get_namespaced_custom_object(GROUP, VERSION, served, "executions", f"hello-{suffix}")
            state = (body.get("status") or {}).get("state")
            return state if state in ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED") else None

        state = poll(finished, 90, f"execution {served}/hello-{suffix} to end")
        log = core_v1.read_namespaced_pod_log(pod.metadata.name, namespace)
        assert state == "SUCCESS", f"the execution ended {state}; operator log tail:\n{log[-3000:]}"
        assert f"execution={served}/hello-{suffix} state=SUCCESS" in log, "the chart's operator did not run it"
        check_the_charts_ui(kubeconfig, api_client, namespace, f"{fullname}-ui", ui_port, served, f"hello-{suffix}")
    finally:
        delete(api_client, objects)
        _delete_namespaces(core_v1, namespace, served)


def check_the_charts_ui(
    kubeconfig: str, api_client: client.ApiClient, namespace: str, name: str, port: int, served: str, run: str
) -> None:
    """The chart's UI (same image, `overture ui --auth token`) answers 401 without a token and shows
    the run to a person with theirs, while its own ServiceAccount may do nothing at all."""
    from ui_harness import make_admin_token

    apps = client.AppsV1Api(api_client)

    def available() -> bool:
        return (apps.read_namespaced_deployment(name, namespace).status.available_replicas or 0) >= 1

    poll(available, 90, f"deployment {namespace}/{name} Available")
    url = f"http://127.0.0.1:{port}"

    def status(path: str, token: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{url}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status), answer.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), b""

    assert status("/api/whoami")[0] == 401
    assert status("/api/whoami", "nothing")[0] == 401
    code, body = status(f"/api/namespaces/{served}/executions", make_admin_token(kubeconfig))
    assert code == 200
    assert run in body.decode()
    index = status("/")
    assert index[0] == 200
    assert b'<div id="app">' in index[1], "the image carries the UI's built files"
    authz = client.AuthorizationV1Api(api_client)
    for verb, resource, group in (("list", "flows", GROUP), ("list", "executions", GROUP), ("list", "secrets", "")):
        review = authz.create_subject_access_review(
            {
                "spec": {
                    "user": f"system:serviceaccount:{namespace}:{name}",
                    "resourceAttributes": {"verb": verb, "resource": resource, "group": group, "namespace": served},
                }
            }
        )
        assert not review.status.allowed, f"the UI's ServiceAccount may {verb} {resource}: it must hold nothing"
