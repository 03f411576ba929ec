"""Which Kubernetes the e2e tests run against, in order:

1. the cluster an explicit ``KUBECONFIG`` points at (a real cluster; nothing is started or stopped);
2. kind, through pytest-kind, when a Docker engine answers (``docker info``);
3. the local cluster of hack/cluster: reused if it is already up (and then left up), otherwise
   started with ``hack/cluster/up.sh`` and stopped with ``hack/cluster/down.sh`` at the end of the
   session (``OVERTURE_KEEP_CLUSTER=1`` keeps it). ``OVERTURE_NODE`` picks its node: ``real``
   (default: kubelet + containerd), ``kwok`` (one fake node, Job pods complete at once), ``both``
   (the real node + a kwok node tainted ``kwok.x-k8s.io/node=fake:NoSchedule``) or ``none``. If the
   real node cannot start here, the control plane alone is used and ``realnode`` tests are skipped.

Fixtures and helpers:

- ``kubeconfig`` (session): path of the admin kubeconfig.
- ``api_client`` (session): a ``kubernetes.client.ApiClient`` for it; ``core_v1``, ``batch_v1``.
- ``node_kind`` (session): ``"real"``, ``"kwok"``, ``"both"`` or ``"none"``, from the nodes that
  are Ready (a kwok node is one annotated ``kwok.x-k8s.io/node: fake``).
- ``kwok_placement`` (session): ``{"node_selector": ..., "tolerations": ...}`` that puts a pod on
  the kwok node (skips the test if there is none).
- ``user_kubeconfig`` (session): ``user_kubeconfig("tenant-a")`` -> path of a non-admin user's
  kubeconfig (bearer token, no RBAC granted; local cluster only, skips elsewhere).
- ``namespace``: a fresh namespace for one test, deleted afterwards.
- markers ``realnode`` (skip unless a real node is Ready) and ``kwok`` (skip unless a kwok node is).
- ``wait_for(predicate, timeout, interval, message)``: poll until ``predicate()`` is truthy and
  return that value, or fail at the deadline with ``message`` and the last value seen. Also a fixture.
- ``object_store`` (session): the S3 store (``store.StoreAccess``) from ``OVERTURE_S3_*`` in the
  environment, else the local cluster's (cluster.env); skips the test when there is none.
- ``wrapper_image`` (session): the in-pod helper's image (``OVERTURE_WRAPPER_IMAGE``, same sources).
- ``postgres``, ``smtp_server``, ``http_server`` (session): real services for the integration tasks
  (tests/e2e/integrations.py); PostgreSQL and SMTP also listen where pods reach the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

# The operator fixtures are registered here, once for the whole directory. Importing them into
# test modules would give every module its own "session" operator: several would run at once.
from harness import cluster, operator_process
from integrations import HttpServer, PostgresServer, SmtpServer, free_port, pod_host
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from store import StoreAccess

ROOT = Path(__file__).resolve().parents[2]
HACK = ROOT / "hack" / "cluster"
_INSTANCE = os.environ.get("OVERTURE_CLUSTER_INSTANCE", "0")
CLUSTER_DIR = Path(
    os.environ.get("OVERTURE_CLUSTER_DIR") or ("/tmp/overture-cluster" + ("" if _INSTANCE == "0" else f"-{_INSTANCE}"))
)
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "operator": "Equal", "value": "fake", "effect": "NoSchedule"}
T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 60,
    interval: float = 0.5,
    message: str = "condition",
) -> T:
    """Call ``predicate`` until it returns something truthy and return it; fail after ``timeout`` s.

    An exception from the predicate is not swallowed. The last value is shown in the failure.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = predicate()
        if last:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {message} (last: {last!r})")
        time.sleep(min(interval, remaining))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs a Kubernetes API server (tests/e2e)")
    config.addinivalue_line("markers", "realnode: needs a node that runs real containers")
    config.addinivalue_line("markers", "kwok: needs a kwok (fake) node")


# ---------------------------------------------------------------- cluster selection


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _read_state() -> dict[str, str]:
    path = CLUSTER_DIR / "cluster.env"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _apiserver_ready(kubeconfig_path: str) -> bool:
    if not Path(kubeconfig_path).exists():
        return False
    try:
        api = config.new_client_from_config(config_file=kubeconfig_path)
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception:
        return False
    return True


def _up(node: str) -> bool:
    print(f"\n[e2e] starting the local cluster: hack/cluster/up.sh --{node}")
    return subprocess.run(["bash", str(HACK / "up.sh"), f"--{node}"], check=False).returncode == 0


def _down() -> None:
    subprocess.run(["bash", str(HACK / "down.sh")], check=False)


@pytest.fixture(scope="session")
def kubeconfig(request: pytest.FixtureRequest) -> Iterator[str]:
    explicit = os.environ.get("KUBECONFIG")
    if explicit:
        yield explicit
        return
    if _docker_available():
        kind = request.getfixturevalue("kind_cluster")
        yield str(kind.kubeconfig_path)
        return

    admin = str(CLUSTER_DIR / "admin.kubeconfig")
    state = _read_state()
    if state and _apiserver_ready(admin):
        print(f"\n[e2e] reusing the local cluster in {CLUSTER_DIR} (OVERTURE_NODE={state.get('OVERTURE_NODE')})")
        # wrapper/ may have changed since the cluster started: its pods must run the current one
        subprocess.run(["bash", str(HACK / "load-wrapper.sh")], check=False, stdout=subprocess.DEVNULL)
        yield admin  # somebody else's: leave it up
        return

    node = os.environ.get("OVERTURE_NODE", "real")
    if not _up(node):
        if node == "none":
            pytest.exit("the local cluster did not start; see the log tail above", returncode=3)
        print(f"\n[e2e] the local cluster did not start with OVERTURE_NODE={node}; using the control plane alone")
        _down()
        if not _up("none"):
            pytest.exit("the local cluster did not start; see the log tail above", returncode=3)
    try:
        yield admin
    finally:
        if not os.environ.get("OVERTURE_KEEP_CLUSTER"):
            _down()


@pytest.fixture(scope="session")
def api_client(kubeconfig: str) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def core_v1(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def batch_v1(api_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


# ---------------------------------------------------------------- nodes


def _is_kwok(node: Any) -> bool:
    annotations = node.metadata.annotations or {}
    return annotations.get(KWOK_ANNOTATION) == "fake" or (node.metadata.labels or {}).get("type") == "kwok"


def _ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def _node_kinds(kubeconfig_path: str) -> tuple[bool, bool]:
    """(a real node is Ready, a kwok node is Ready)"""
    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig_path))
    nodes = [n for n in api.list_node().items if _ready(n)]
    return any(not _is_kwok(n) for n in nodes), any(_is_kwok(n) for n in nodes)


@pytest.fixture(scope="session")
def node_kind(kubeconfig: str) -> str:
    """What runs pods here: "real", "kwok", "both" or "none" (waits up to 60 s for a Ready node)."""
    local = kubeconfig == str(CLUSTER_DIR / "admin.kubeconfig")
    expect_nodes = not local or _read_state().get("OVERTURE_NODE", "real") != "none"

    def kinds() -> tuple[bool, bool] | None:
        real, kwok = _node_kinds(kubeconfig)
        return (real, kwok) if (real or kwok) else None

    found = wait_for(kinds, 60, 1, "a Ready node") if expect_nodes else _node_kinds(kubeconfig)
    real, kwok = found if found else (False, False)
    return {(True, True): "both", (True, False): "real", (False, True): "kwok"}.get((real, kwok), "none")


@pytest.fixture(scope="session")
def kwok_placement(node_kind: str) -> dict[str, Any]:
    """nodeSelector + tolerations for a pod spec that must land on the kwok node."""
    if node_kind not in ("kwok", "both"):
        pytest.skip(f"needs a kwok node (this cluster: {node_kind})")
    return {"node_selector": {"type": "kwok"}, "tolerations": [dict(KWOK_TAINT)]}


@pytest.fixture(autouse=True)
def _node_markers(request: pytest.FixtureRequest) -> None:
    wants_real = request.node.get_closest_marker("realnode") is not None
    wants_kwok = request.node.get_closest_marker("kwok") is not None
    if not (wants_real or wants_kwok):
        return
    kind = request.getfixturevalue("node_kind")
    if wants_real and kind not in ("real", "both"):
        pytest.skip(f"needs a node that runs real containers; none is Ready in this cluster ({kind})")
    if wants_kwok and kind not in ("kwok", "both"):
        pytest.skip(f"needs a kwok node; none is Ready in this cluster ({kind})")


# ---------------------------------------------------------------- the artifact store


def _setting(kubeconfig: str, name: str) -> str | None:
    if os.environ.get(name):
        return os.environ[name]
    if kubeconfig == str(CLUSTER_DIR / "admin.kubeconfig"):
        return _read_state().get(name)
    return None


@pytest.fixture(scope="session")
def object_store(kubeconfig: str) -> StoreAccess:
    names = ("ENDPOINT", "BUCKET", "REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY")
    settings = {f"OVERTURE_S3_{n}": _setting(kubeconfig, f"OVERTURE_S3_{n}") or "" for n in names}
    access = StoreAccess.from_env(settings)
    if access is None:
        pytest.skip("no S3 store: set OVERTURE_S3_ENDPOINT, _BUCKET, _REGION, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY")
    return access


@pytest.fixture(scope="session")
def wrapper_image(kubeconfig: str) -> str:
    image = _setting(kubeconfig, "OVERTURE_WRAPPER_IMAGE")
    if not image:
        pytest.skip("no wrapper image: set OVERTURE_WRAPPER_IMAGE (the local cluster's real node has one)")
    return image


# ---------------------------------------------------------------- services the integration tasks talk to


def _service_hosts(kubeconfig: str) -> tuple[str, ...]:
    pods = pod_host(kubeconfig)
    return ("127.0.0.1", pods) if pods else ("127.0.0.1",)


@pytest.fixture(scope="session")
def postgres(kubeconfig: str) -> Iterator[PostgresServer]:
    server = PostgresServer(port=free_port(), hosts=_service_hosts(kubeconfig))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_server(kubeconfig: str) -> Iterator[SmtpServer]:
    server = SmtpServer(_service_hosts(kubeconfig))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    server.start()
    yield server
    server.stop()


# ---------------------------------------------------------------- users and namespaces


@pytest.fixture(scope="session")
def user_kubeconfig(kubeconfig: str) -> Callable[[str], str]:
    """user_kubeconfig("tenant-a") -> a kubeconfig of that non-admin (token) user of the local cluster."""

    def path(user: str) -> str:
        candidate = CLUSTER_DIR / "users" / f"{user}.kubeconfig"
        if kubeconfig != str(CLUSTER_DIR / "admin.kubeconfig") or not candidate.exists():
            pytest.skip(f"no kubeconfig for user {user!r} (token users exist only on the local cluster)")
        return str(candidate)

    return path


@pytest.fixture
def namespace(core_v1: client.CoreV1Api) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def has_default_sa() -> bool:
        try:
            core_v1.read_namespaced_service_account("default", name)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    wait_for(has_default_sa, 30, 0.2, f"serviceaccount default in namespace {name}")
    yield name
    try:
        core_v1.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return wait_for
