"""Which Kubernetes the e2e tests run against, in order:

1. the cluster an explicit ``KUBECONFIG`` points at (a real cluster; nothing is started);
2. kind, through pytest-kind, when a Docker engine answers (``docker info``);
3. the local cluster of hack/cluster (started if it is not up, stopped only if we started it).
   ``OVERTURE_NODE`` picks its node (real, kwok, both, none; default real). If the real node
   cannot start on this machine, the control plane alone is used and tests marked ``realnode``
   are skipped, with the reason printed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = Path(os.environ.get("OVERTURE_CLUSTER_DIR", "/tmp/overture-cluster"))


def _docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _local_cluster_up(node: str) -> bool:
    result = subprocess.run(["bash", str(ROOT / "hack/cluster/up.sh"), f"--{node}"], check=False)
    return result.returncode == 0


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
    started = not (CLUSTER_DIR / "cluster.env").exists()
    node = os.environ.get("OVERTURE_NODE", "real")
    if not _local_cluster_up(node):
        print(f"\nthe local cluster did not start with OVERTURE_NODE={node}; using the control plane alone")
        subprocess.run(["bash", str(ROOT / "hack/cluster/down.sh")], check=False)
        if not _local_cluster_up("none"):
            pytest.exit("the local cluster did not start; see the log tail above", returncode=3)
    yield str(CLUSTER_DIR / "admin.kubeconfig")
    if started and not os.environ.get("OVERTURE_KEEP_CLUSTER"):
        subprocess.run(["bash", str(ROOT / "hack/cluster/down.sh")], check=False)


def _real_node_ready(kubeconfig_path: str) -> bool:
    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig_path))
    for node in api.list_node().items:
        annotations = node.metadata.annotations or {}
        if (node.metadata.labels or {}).get("type") == "kwok" or annotations.get("kwok.x-k8s.io/node") == "fake":
            continue
        if node.spec.taints and any(t.key == "kwok.x-k8s.io/node" for t in node.spec.taints):
            continue
        if any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []):
            return True
    return False


@pytest.fixture(autouse=True)
def _needs_real_node(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("realnode") is None:
        return
    path = request.getfixturevalue("kubeconfig")
    if not _real_node_ready(path):
        pytest.skip("needs a node that runs real containers; none is Ready in this cluster")
