"""The operator as a real process against a real kube-apiserver, and helpers to drive it.

Tests never fake a Job's status: Jobs run on the cluster's node (or its kwok node), and the
operator under test is the `overture operator` command in a subprocess, killed with SIGKILL
when a test needs a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

ROOT = Path(__file__).resolve().parents[2]
GROUP, VERSION = "overture.dev", "v1alpha1"
T = TypeVar("T")


def kubectl_path() -> str:
    """The local cluster's own kubectl (built with it), else the one on PATH."""
    script = f"source {ROOT / 'hack' / 'cluster' / 'lib.sh'} && bin_dir kubernetes"
    built = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False).stdout.strip()
    found = shutil.which("kubectl", path=f"{built}{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, f"no kubectl in {built} nor on PATH (hack/cluster/build.sh builds it)"
    return found


def poll(predicate: Callable[[], T | None], timeout: float, message: str, interval: float = 0.25) -> T:
    """Call ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s: {message} (last: {last!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether the operator could listen on ``port`` now (bound as aiohttp binds: SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def answers_200(url: str, timeout: float = 1) -> bool:
    """Whether ``url`` answers 200 now (a probe: no answer is False, not an error)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to the operator's HTTP server (webhooks): the status and the JSON reply."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class OperatorProcess:
    def __init__(self, kubeconfig: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        if not port_is_free(self.port):
            # Kept across restarts, the port can meanwhile be another socket's (an outgoing
            # connection's ephemeral port): the operator would then retry its bind for a minute.
            self.port = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "OVERTURE_RESYNC_SECONDS": "20",
            "OVERTURE_ALLOW_SECONDS_CRON": "true",  # 6-field crons: schedule tests tick every second
            # http, sql and notify tasks reach the test's servers on this machine (integrations.py)
            "OVERTURE_CALLS_ALLOWED_NETWORKS": "127.0.0.1/32",
            **self.env,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "overture", "operator", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1
        try:
            poll(self.ready, 60, f"operator /readyz on port {self.port} (log: {self.log_path})")
        except AssertionError:
            self.kill()  # never leave a half-started operator behind to compete for the Lease
            raise

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"operator exited with {self.proc.returncode}; log: {self.log_path}")
        return answers_200(f"http://127.0.0.1:{self.port}/readyz")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, as a crash or an OOM kill."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    @contextlib.contextmanager
    def restarted_with(self, env: dict[str, str]) -> Iterator[None]:
        """This operator restarted with ``env`` added (``OVERTURE_TASK_RUNTIME=pod``), then as it was."""
        before = dict(self.env)
        self.stop()
        self.env.update(env)
        self.start()
        try:
            yield
        finally:
            self.stop()
            self.env = before
            self.start()

    def usage(self) -> tuple[float, float, float]:
        """(CPU seconds so far, RSS MiB now, peak RSS MiB) of the operator process, from /proc."""
        assert self.proc is not None, "the operator is not running"
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        with open(f"/proc/{self.proc.pid}/status") as status:
            fields = [line.split(":", 1) for line in status]
        memory = {key: int(value.split()[0]) / 1024 for key, value in fields if key.startswith("Vm")}
        return cpu, memory["VmRSS"], memory["VmHWM"]

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as reply:
            return str(reply.read().decode())

    def api_requests(self) -> dict[str, float]:
        """The operator's own Kubernetes API requests so far, by verb (its client-side counter)."""
        counts = {}
        for line in self.metrics().splitlines():
            if line.startswith("overture_api_requests_total{"):
                verb = line.split('verb="', 1)[1].split('"', 1)[0]
                counts[verb] = float(line.rsplit(" ", 1)[1])
        return counts


class Cluster:
    """Sync Kubernetes client helpers for one test namespace."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.namespace = namespace
        self._username: str | None = None

    @property
    def username(self) -> str:
        """Who this client is to the API server (``kubectl auth whoami``), asked once."""
        if self._username is None:
            review = client.AuthenticationV1Api(self.api).create_self_subject_review(
                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
            )
            self._username = str(review.status.user_info.username)
        return self._username

    def apply_flow(self, doc: dict[str, Any] | str) -> dict[str, Any]:
        body = yaml.safe_load(doc) if isinstance(doc, str) else doc
        body.setdefault("metadata", {})["namespace"] = self.namespace
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "flows", body
        )
        return result

    def run(self, flow: str, inputs: dict[str, Any] | None = None, name: str | None = None, **spec: Any) -> str:
        name = name or f"{flow[:40]}-{uuid.uuid4().hex[:6]}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Execution",
            "metadata": {"name": name, "namespace": self.namespace},
            # stamped as `overture run` does: the chart's admission policy checks it when installed
            "spec": {"flowRef": {"name": flow}, "inputs": inputs or {}, "requestedBy": self.username, **spec},
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "executions", body)
        return name

    def get(self, plural: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)
        return result

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, "executions", name, {"spec": spec})

    def state(self, name: str) -> str | None:
        status: dict[str, Any] = self.get("executions", name).get("status") or {}
        return status.get("state")

    def wait_state(self, name: str, states: set[str], timeout: float = 120) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            execution = self.get("executions", name)
            return execution if (execution.get("status") or {}).get("state") in states else None

        return poll(reached, timeout, f"execution {name} in {sorted(states)}")

    def jobs(self, execution: str) -> list[Any]:
        selector = f"overture.dev/execution={execution}"
        return list(self.batch.list_namespaced_job(self.namespace, label_selector=selector).items)

    def events(self, name: str) -> list[Any]:
        selector = f"involvedObject.name={name}"
        return list(self.core.list_namespaced_event(self.namespace, field_selector=selector).items)

    def pod_log(self, job: str) -> str:
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={job}").items
        return str(self.core.read_namespaced_pod_log(pods[0].metadata.name, self.namespace)) if pods else ""


STEPS = 5
FIVE_STEPS = "apiVersion: overture.dev/v1alpha1\nkind: Flow\nmetadata: {name: five-steps}\nspec:\n  tasks:\n" + "".join(
    f"    - {{id: s{i}, type: shell, commands: ['sleep 1']}}\n" for i in range(1, STEPS + 1)
)


def run_through_two_restarts(cluster: Cluster, operator: OperatorProcess) -> tuple[str, dict[str, Any]]:
    """Run ``five-steps`` (s1 to s5, one after the other) and SIGKILL the operator twice under it:
    once s2 has started, once s4 has (each time started again at once). The execution's name and
    what it ended as; the caller checks what was made (each step's Job or pod, once)."""
    cluster.apply_flow(FIVE_STEPS)
    name = cluster.run("five-steps")

    def started(task: str) -> bool:
        runs = {r["id"] for r in (cluster.get("executions", name).get("status") or {}).get("taskRuns", [])}
        return task in runs

    poll(lambda: started("s2"), 120, "s2 started")
    operator.kill()
    operator.start()
    poll(lambda: started("s4"), 120, "s4 started after a restart")
    operator.kill()
    operator.start()
    return name, cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)


def install_crds(kubeconfig: str) -> None:
    api = config.new_client_from_config(config_file=kubeconfig)
    ext = client.ApiextensionsV1Api(api)
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        try:
            ext.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = ext.read_custom_resource_definition(body["metadata"]["name"])
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(body["metadata"]["name"], body)

    def established() -> bool:
        for path in sorted((ROOT / "crds").glob("*.yaml")):
            crd = ext.read_custom_resource_definition(yaml.safe_load(path.read_text())["metadata"]["name"])
            conditions = {c.type: c.status for c in (crd.status.conditions or [])}
            if conditions.get("Established") != "True":
                return False
        return True

    poll(established, 30, "CRDs established")


def store_env(kubeconfig: str) -> dict[str, str]:
    """The artifact store and wrapper image of the local cluster (its cluster.env, beside the admin
    kubeconfig), for the operator: every task then runs under the wrapper, as in production."""
    state = Path(kubeconfig).with_name("cluster.env")
    if not state.exists():
        return {}
    pairs = (line.split("=", 1) for line in state.read_text().splitlines() if "=" in line)
    env = {k: v for k, v in pairs if k.startswith("OVERTURE_S3_") or k == "OVERTURE_WRAPPER_IMAGE"}
    if env:
        env["OVERTURE_ARTIFACT_ORPHAN_SECONDS"] = "15"  # the orphan sweep within a test's time
    return env


_SESSION_OPERATORS = 0


@pytest.fixture(scope="session")
def operator_process(kubeconfig: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    global _SESSION_OPERATORS
    if _SESSION_OPERATORS:
        raise RuntimeError(
            "a second session operator: a test module imports the operator_process fixture; "
            "it is registered once in tests/e2e/conftest.py, import only helpers from harness"
        )
    _SESSION_OPERATORS += 1
    install_crds(kubeconfig)
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    process = OperatorProcess(kubeconfig, log_path, env=store_env(kubeconfig))
    process.start()
    yield process
    process.stop()
    print(f"\noperator log: {log_path}")


@pytest.fixture
def cluster(kubeconfig: str, operator_process: OperatorProcess) -> Iterator[Cluster]:
    if operator_process.proc is None or operator_process.proc.poll() is not None:
        # a test that stopped or replaced the session operator failed before starting it again:
        # start it here, so that one failure is not every later test's failure too
        operator_process.start()
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    helper = Cluster(kubeconfig, namespace)
    helper.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    poll(lambda: _has_default_sa(helper), 30, f"default ServiceAccount in {namespace}")
    yield helper
    helper.core.delete_namespace(namespace)


def _has_default_sa(helper: Cluster) -> bool:
    try:
        helper.core.read_namespaced_service_account("default", helper.namespace)
    except ApiException:
        return False
    return True
