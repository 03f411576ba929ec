"""7. Peer: Overture and Argo Workflows side by side, same cluster, same workloads, one at a time.

    python -m benchmarks.peer [--quick] [--workloads seq40,runs20,runs200,fanout1000] [--requeue 10s,2s]
                              [--engines overture,overture-pods,argo] (or overture-jobs)

``--workloads fanoutN`` (N other than 1,000) adds an N-item fan-out, 200 at a time as in
tests/e2e/test_limits.py's soak run: ``fanout10000`` is issue 16's 10,000-item each (long, so
never by default).

Argo Workflows (hack/argo/build.sh: v4.0.5 from the Go module proxy, cached) runs as its
``workflow-controller`` process on this machine, like the operator; its executor runs in the
pods (image ``localhost/argoexec:<v>``, built locally). Per workload, each engine gets a fresh
namespace and a fresh controller, and they take turns: Overture (its default task runtime,
``managed-job``: a Job per task whose pod and status it makes itself, kube/managed_jobs.py), then
"Overture (pods)" (the operator with ``OVERTURE_TASK_RUNTIME=pod``: it creates each task's pod
itself, no Job), then Argo with its default requeue (``DEFAULT_REQUEUE_TIME`` 10 s), then Argo
with 2 s. Never two at once. ``--engines overture-jobs`` (not by default) adds "Overture (built-in
Jobs)": the operator with ``OVERTURE_TASK_RUNTIME=job`` (Jobs the built-in Job controller runs,
the default until session 8). The kwok node completes pods owned by an Execution as it does a Job's or a Workflow's
(hack/cluster/up.sh: a cluster started before that change must be restarted for the pod runtime).

Workloads (busybox ``true`` tasks): 40 sequential tasks and 20 concurrent two-task runs on the
real node; 200 concurrent two-task runs and a 1,000-item fan-out (50 at a time) on the kwok node,
where pods complete at once (the real node cannot hold 400 pods on 2 cores).

Figures:
- **wall**: first run object seen ADDED -> last seen finished (watch events here, as in
  the other benchmarks).
- **writes per task**: counted by the API server, not by the engine: each engine's controller
  runs as a ServiceAccount of its own (cluster-admin), and FlowSchemas routed to the ``exempt``
  priority level (so nothing is throttled that was not before) count its requests
  (``apiserver_flowcontrol_dispatched_requests_total`` by ``flow_schema``; apiserver_request_total
  has no namespace or user label). Separate counters: the controller's writes (its Lease
  renewals apart: a constant per second, not per task), the pods' own writes (Argo's executor
  posts a WorkflowTaskResult per pod) and every other non-admin write in the namespace (kubelet
  pod status, the Job controller, the scheduler's bindings).
- **CPU per task**: the controller's CPU seconds (/proc) from the first create to the end / tasks.
- **RSS**: the controller's RSS at the end (and its peak, VmHWM).
- **Object size**: the biggest run object (Execution or Workflow) as last seen by the watch,
  compact JSON (what etcd stores is about that; its limit is 1.5 MiB).
- **Load**: the machine's 1-minute load average before and after each side.

Needs the local cluster in ``both`` mode (hack/cluster): the relay (socat on the pod bridge's
address -> the API server on 127.0.0.1; pods have no kube-proxy) and the image import need the
machine the cluster runs on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio.client.exceptions import ApiException

from benchmarks.common import (
    GROUP,
    RESULTS,
    ROOT,
    VERSION,
    WRITE_VERBS,
    Api,
    Operator,
    Placement,
    execution_body,
    flow_body,
    gather_limited,
    kubeconfig_path,
    print_table,
    proc_cpu_seconds,
    proc_hwm_mib,
    proc_rss_mib,
    stop_process,
    terminate_gracefully,
    wait_flow_ready,
    wait_for_change,
    watch_raw,
    write_result,
)
from overture.kube.pods import DEFAULT_TASK_RUNTIME, JOB

ARGO_GROUP, ARGO_VERSION = "argoproj.io", "v1alpha1"
FLOWCONTROL = ("flowcontrol.apiserver.k8s.io", "v1")
TASK_IMAGE = "busybox:1.36"
FANOUT_CONCURRENCY = 50
DEFAULT_REQUEUES = ("10s", "2s")  # Argo's default, and the value its docs suggest for short steps


# ------------------------------------------------------------------------------ workloads


@dataclass(frozen=True)
class Workload:
    """One scenario, rendered for each engine: ``runs`` runs of ``tasks`` sequential tasks, or
    one run fanning out over ``tasks`` items (``fanout``), ``concurrency`` at a time."""

    key: str
    title: str
    tasks: int
    runs: int = 1
    fanout: bool = False
    node: str = "real"  # where the pods run: the real node (busybox) or kwok (completed at once)
    timeout: float = 900
    concurrency: int = FANOUT_CONCURRENCY

    @property
    def task_runs(self) -> int:
        return self.tasks * self.runs


def workloads(quick: bool) -> list[Workload]:
    if quick:
        return [
            Workload("seq10", "10 sequential tasks", 10, timeout=300),
            Workload("runs5", "5 two-task runs at once", 2, runs=5, timeout=300),
            Workload("runs50", "50 two-task runs at once", 2, runs=50, node="kwok", timeout=300),
            Workload("fanout200", "200-item fan-out", 200, fanout=True, node="kwok", timeout=300),
        ]
    return [
        Workload("seq40", "40 sequential tasks", 40, timeout=900),
        Workload("runs20", "20 two-task runs at once", 2, runs=20, timeout=600),
        Workload("runs200", "200 two-task runs at once", 2, runs=200, node="kwok", timeout=900),
        Workload("fanout1000", "1,000-item fan-out", 1000, fanout=True, node="kwok", timeout=1200),
    ]


BIG_FANOUT_CONCURRENCY = 200  # tests/e2e/test_limits.py's soak shape: keeps the Job controller busier than 50


def big_fanout(items: int) -> Workload:
    """An N-item fan-out asked for by key (``fanout10000``): issue 16's 10,000-item each."""
    return Workload(
        f"fanout{items}",
        f"{items:,}-item fan-out",
        items,
        fanout=True,
        node="kwok",
        timeout=max(1200.0, items * 0.72),
        concurrency=BIG_FANOUT_CONCURRENCY,
    )


def chosen_workloads(quick: bool, only: list[str] | None) -> list[Workload]:
    """The default workloads, or those named in ``only`` (``fanoutN`` of any N too), in that order."""
    if not only:
        return workloads(quick)
    known = {w.key: w for w in workloads(quick)}
    chosen = []
    for key in only:
        items = key.removeprefix("fanout")
        if key in known:
            chosen.append(known[key])
        elif key.startswith("fanout") and items.isdigit() and int(items) > 0:
            chosen.append(big_fanout(int(items)))
        else:
            raise SystemExit(f"--workloads: unknown {key}; choose from {', '.join(known)} or fanoutN")
    return chosen


def overture_flow(workload: Workload) -> dict[str, Any]:
    if not workload.fanout:
        return flow_body(workload.key, workload.tasks)
    body = flow_body(workload.key, 0)
    body["spec"]["tasks"] = [
        {
            "id": "items",
            "type": "each",
            "items": f"{{{{ range({workload.tasks}) | list | json }}}}",
            "concurrencyLimit": workload.concurrency,
            "tasks": [{"id": "t", "type": "shell", "commands": ["true"]}],
        }
    ]
    return body


def argo_workflow(workload: Workload, name: str) -> dict[str, Any]:
    task = {"name": "task", "container": {"image": TASK_IMAGE, "imagePullPolicy": "IfNotPresent", "command": ["true"]}}
    if workload.fanout:
        main = {
            "name": "main",
            "parallelism": workload.concurrency,
            "steps": [[{"name": "t", "template": "task", "withSequence": {"count": str(workload.tasks)}}]],
        }
    else:
        main = {"name": "main", "steps": [[{"name": f"t{i:02d}", "template": "task"}] for i in range(workload.tasks)]}
    return {
        "apiVersion": f"{ARGO_GROUP}/{ARGO_VERSION}",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"entrypoint": "main", "templates": [main, task]},
    }


# ------------------------------------------------------------------------------ run objects


@dataclass
class Runs:
    """When each run object (Execution or Workflow) of a namespace was first seen and finished."""

    api: Api
    namespace: str
    group: str
    version: str
    plural: str
    finished: Callable[[dict[str, Any]], str | None]  # the terminal state, or None
    added: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    last: dict[str, dict[str, Any]] = field(default_factory=dict)  # sized once at the end, not per event
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run())
        await asyncio.sleep(0.5)  # the first LIST has returned (an empty namespace)

    async def _run(self) -> None:
        args = (self.group, self.version, self.namespace, self.plural)
        async for arrived, _, obj in watch_raw(self.api.custom.list_namespaced_custom_object, *args, stop=self.stop):
            name = obj["metadata"]["name"]
            self.added.setdefault(name, arrived)
            self.last[name] = obj
            state = self.finished(obj)
            if state and name not in self.done:
                self.done[name], self.states[name] = arrived, state
            self.changed.set()

    async def wait_all(self, names: list[str], timeout: float) -> bool:
        return await wait_for_change(self.changed, lambda: all(n in self.done for n in names), timeout)

    def biggest_bytes(self) -> int:
        """The biggest run object as last seen, compact JSON."""
        return max((len(json.dumps(o, separators=(",", ":")).encode()) for o in self.last.values()), default=0)

    async def close(self) -> None:
        self.stop.set()
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def execution_state(obj: dict[str, Any]) -> str | None:
    state = (obj.get("status") or {}).get("state")
    return str(state) if state in ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED") else None


def workflow_state(obj: dict[str, Any]) -> str | None:
    phase = (obj.get("status") or {}).get("phase")
    return str(phase) if phase in ("Succeeded", "Failed", "Error") else None


# ------------------------------------------------------------------------------ counting writes


COUNTERS = ("leases", "writes", "reads", "pods", "others")


def flow_schemas(prefix: str, namespace: str, engine_sa: str) -> list[dict[str, Any]]:
    """FlowSchemas that count one run's requests by who sent them, in matching order.

    All go to the ``exempt`` priority level, where the admin's requests (and so, before this
    benchmark, the operator's) already go: counted, never queued. The benchmark's own requests
    stay in the mandatory ``exempt`` FlowSchema (system:masters), so they are not counted.
    """
    engine = {"kind": "ServiceAccount", "serviceAccount": {"name": engine_sa, "namespace": namespace}}
    pods = {"kind": "ServiceAccount", "serviceAccount": {"name": "default", "namespace": namespace}}
    anyone = {"kind": "Group", "group": {"name": "system:authenticated"}}
    everywhere = {"apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"], "clusterScope": True}
    writes = [*WRITE_VERBS, "deletecollection"]
    rules: dict[str, dict[str, Any]] = {
        "leases": {
            "subjects": [engine],
            "resourceRules": [
                {"verbs": ["*"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "namespaces": ["*"]}
            ],
        },
        "writes": {"subjects": [engine], "resourceRules": [{**everywhere, "verbs": writes}]},
        "reads": {
            "subjects": [engine],
            "resourceRules": [{**everywhere, "verbs": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        },
        "pods": {"subjects": [pods], "resourceRules": [{**everywhere, "verbs": writes}]},
        "others": {
            "subjects": [anyone],
            "resourceRules": [{"verbs": writes, "apiGroups": ["*"], "resources": ["*"], "namespaces": [namespace]}],
        },
    }
    return [
        {
            "apiVersion": "/".join(FLOWCONTROL),
            "kind": "FlowSchema",
            "metadata": {"name": f"{prefix}-{key}", "labels": {"overture.dev/bench": "true"}},
            "spec": {
                "matchingPrecedence": 40 + index,
                "priorityLevelConfiguration": {"name": "exempt"},
                "rules": [rules[key]],
            },
        }
        for index, key in enumerate(COUNTERS)
    ]


class Counters:
    """The API server's per-FlowSchema request counts for one run (flow_schemas)."""

    def __init__(self, api: Api, prefix: str, namespace: str, engine_sa: str) -> None:
        self.api = api
        self.prefix = prefix
        self.bodies = flow_schemas(prefix, namespace, engine_sa)

    async def create(self) -> None:
        for body in self.bodies:
            await self.api.custom.create_cluster_custom_object(*FLOWCONTROL, "flowschemas", body)
        await asyncio.sleep(1.0)  # the API server's APF controller picks them up

    async def delete(self) -> None:
        for body in self.bodies:
            with contextlib.suppress(ApiException):
                await self.api.custom.delete_cluster_custom_object(
                    *FLOWCONTROL, "flowschemas", body["metadata"]["name"]
                )

    async def read(self) -> dict[str, int]:
        response = await self.api.api.call_api(
            "/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True
        )
        text = await response.text()
        counts = dict.fromkeys(COUNTERS, 0)
        for line in text.splitlines():
            if not line.startswith("apiserver_flowcontrol_dispatched_requests_total{"):
                continue
            schema = line.split('flow_schema="', 1)[1].split('"', 1)[0]
            key = schema.removeprefix(self.prefix + "-")
            if key in counts and schema.startswith(self.prefix + "-"):
                counts[key] += int(float(line.rsplit(" ", 1)[1]))
        return counts

    async def settled(self, limit: float = 60.0) -> dict[str, int]:
        """Counts once the controller's writes stop moving for 3 s (some are posted after the end)."""
        last = await self.read()
        deadline, still = time.monotonic() + limit, 0
        while time.monotonic() < deadline and still < 3:
            await asyncio.sleep(1.0)
            now = await self.read()
            still = still + 1 if (now["writes"], now["pods"]) == (last["writes"], last["pods"]) else 0
            last = now
        return last


# ------------------------------------------------------------------------------ identities


async def engine_kubeconfig(api: Api, namespace: str, name: str) -> Path:
    """A ServiceAccount ``name`` in ``namespace``, bound to cluster-admin, and a kubeconfig with its token.

    The controller gets the admin's rights but not its identity: system:masters requests are
    matched by the mandatory ``exempt`` FlowSchema, which no other FlowSchema can come before.
    """
    await api.core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    await api.rbac.create_cluster_role_binding(
        {
            "metadata": {"name": f"{namespace}-{name}", "labels": {"overture.dev/bench": "true"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
    )
    token = await api.core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 4 * 3600}}
    )
    admin = yaml.safe_load(Path(kubeconfig_path()).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token.status.token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": name, "namespace": namespace}}],
        "current-context": "bench",
    }
    path = RESULTS / "peer" / f"{namespace}-{name}.kubeconfig"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    return path


async def delete_binding(api: Api, namespace: str, name: str) -> None:
    with contextlib.suppress(ApiException):
        await api.rbac.delete_cluster_role_binding(f"{namespace}-{name}")


# ------------------------------------------------------------------------------ Argo


@dataclass(frozen=True)
class ArgoBuild:
    version: str
    bin: Path
    crds: Path
    image: str
    pod_gateway: str
    apiserver_port: int

    @classmethod
    def build(cls) -> ArgoBuild:
        """hack/argo/build.sh: builds once (~4 min cold), imports the executor image into the node."""
        print("[peer] hack/argo/build.sh (Argo Workflows from the Go module proxy; cached after the first run)")
        out = subprocess.run(
            ["bash", str(ROOT / "hack" / "argo" / "build.sh")], check=True, stdout=subprocess.PIPE, text=True
        ).stdout
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return cls(
            version=values["ARGO_VERSION"],
            bin=Path(values["ARGO_BIN"]),
            crds=Path(values["ARGO_CRDS"]),
            image=values["ARGOEXEC_IMAGE"],
            pod_gateway=values["POD_GATEWAY"],
            apiserver_port=int(values["APISERVER_PORT"]),
        )


async def install_crds(api: Api, directory: Path) -> None:
    """Create the CRDs of ``directory`` that are missing (both engines' own manifests) and wait
    until they are Established."""
    names = []
    for path in sorted(directory.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        names.append(body["metadata"]["name"])
        try:
            await api.extensions.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
    for _ in range(60):
        listing = await api.extensions.list_custom_resource_definition()
        established = {
            c.metadata.name
            for c in listing.items
            if any(x.type == "Established" and x.status == "True" for x in c.status.conditions or [])
        }
        if established >= set(names):
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"CRDs of {directory} not Established after 30 s")


class Relay:
    """socat on the pod bridge's address -> the API server on 127.0.0.1 (the cluster has no
    kube-proxy, and the API server listens on loopback only): Argo's executor in the pods
    reaches it as kubernetes.default.svc (a SAN of the API server's certificate) through a
    hostAlias. Started when the first Argo run on the real node needs it: the bridge exists
    once a pod ran."""

    def __init__(self, gateway: str, target_port: int) -> None:
        self.gateway = gateway
        self.target_port = target_port
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        if self.proc is not None and self.proc.poll() is None:
            return self.port
        with socket.socket() as sock:
            try:
                sock.bind((self.gateway, 0))
            except OSError as exc:
                raise RuntimeError(
                    f"no pod bridge with address {self.gateway} yet (the first pod makes it): {exc}"
                ) from exc
            self.port = int(sock.getsockname()[1])
        listen = f"TCP-LISTEN:{self.port},bind={self.gateway},fork,reuseaddr"
        log = (RESULTS / "peer" / "relay.log").open("wb")
        self.proc = subprocess.Popen(["socat", listen, f"TCP:127.0.0.1:{self.target_port}"], stderr=log)
        for _ in range(50):
            with contextlib.suppress(OSError), socket.create_connection((self.gateway, self.port), timeout=0.2):
                return self.port
            time.sleep(0.1)
        raise RuntimeError(f"relay on {self.gateway}:{self.port} did not start; log: {log.name}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=5)
            self.proc = None


def argo_config(relay: tuple[str, int] | None, metrics_port: int) -> dict[str, str]:
    """workflow-controller-configmap: Argo's defaults but the metrics port (the default 9090 may be
    taken on a shared machine) and, on the real node, the way to the API server (Relay)."""
    data = {"metricsConfig": yaml.safe_dump({"port": metrics_port})}
    if relay:
        host, port = relay
        data["executor"] = yaml.safe_dump(
            {
                "env": [
                    {"name": "KUBERNETES_SERVICE_HOST", "value": "kubernetes.default.svc"},
                    {"name": "KUBERNETES_SERVICE_PORT", "value": str(port)},
                ]
            }
        )
        data["workflowDefaults"] = yaml.safe_dump(
            {"spec": {"hostAliases": [{"ip": host, "hostnames": ["kubernetes.default.svc"]}]}}
        )
    return data


class ArgoController:
    """``workflow-controller`` in a subprocess, namespaced to one namespace, as the operator is."""

    def __init__(self, build: ArgoBuild, name: str, namespace: str, kubeconfig: Path, requeue: str) -> None:
        self.build = build
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.requeue = requeue
        self.log_path = RESULTS / "peer" / f"argo-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 60) -> None:
        command = [
            str(self.build.bin / "workflow-controller"),
            f"--kubeconfig={self.kubeconfig}",
            f"--namespace={self.namespace}",
            "--namespaced",
            f"--managed-namespace={self.namespace}",
            f"--executor-image={self.build.image}",
            "--executor-image-pull-policy=Never",  # no registry: the image was imported into the node
        ]
        env = {
            **os.environ,
            "DEFAULT_REQUEUE_TIME": self.requeue,
            "LEADER_ELECTION_IDENTITY": f"bench-{os.getpid()}",  # leader election on, as shipped
        }
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"workflow-controller exited with {self.proc.returncode}; log: {self.log_path}")
            if b"Starting Workflow Controller" in self.log_path.read_bytes():
                await asyncio.sleep(2.0)  # its informers' first LISTs (an empty namespace)
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"workflow-controller not leading after {timeout:.0f}s; log: {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


async def prepare_argo_namespace(api: Api, namespace: str, config: dict[str, str]) -> None:
    """The controller's ConfigMap, and the executor's Role from Argo's quick-start manifests
    (manifests/quick-start/base/executor/emissary/executor-role.yaml) for the pods' ServiceAccount."""
    await api.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "workflow-controller-configmap"}, "data": config}
    )
    await api.rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "executor"},
            "rules": [{"apiGroups": [ARGO_GROUP], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}],
        },
    )
    await api.rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "executor-default"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "executor"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
        },
    )


# ------------------------------------------------------------------------------ one measurement


@dataclass
class Side:
    engine: str  # "overture" | "argo"
    label: str  # what the table shows
    requeue: str = ""
    runtime: str = DEFAULT_TASK_RUNTIME  # Overture's task runtime (OVERTURE_TASK_RUNTIME): managed-job, job or pod


async def measure(
    api: Api, placement: Placement, workload: Workload, side: Side, argo: ArgoBuild | None, relay: Relay | None
) -> dict[str, Any]:
    namespace = await api.create_namespace(f"peer-{side.engine}{RUNTIME_SUFFIXES.get(side.runtime, '')}-{workload.key}")
    prefix = f"bench-{namespace}"
    counters = Counters(api, prefix, namespace, side.engine)
    result: dict[str, Any] = {
        "workload": workload.key,
        "engine": side.label,
        "node": workload.node,
        "load_before": os.getloadavg()[0],
    }
    runs: Runs | None = None
    controller: Operator | ArgoController | None = None
    kubeconfig: Path | None = None
    try:
        await placement.use(workload.node)
        kubeconfig = await engine_kubeconfig(api, namespace, side.engine)
        await counters.create()
        if side.engine == "overture":
            await api.create("flows", namespace, overture_flow(workload))
            env = {"KUBECONFIG": str(kubeconfig), "OVERTURE_TASK_RUNTIME": side.runtime}
            controller = Operator(f"peer-{workload.key}-{side.runtime}", [namespace], env=env)
            await controller.start()
            await wait_flow_ready(api, namespace, [workload.key])
            runs = Runs(api, namespace, GROUP, VERSION, "executions", execution_state)
            plural, group, version = "executions", GROUP, VERSION
            bodies = [execution_body(f"{workload.key}-{i:03d}", workload.key) for i in range(workload.runs)]
        else:
            assert argo is not None
            assert relay is not None
            route = (relay.gateway, relay.start()) if workload.node == "real" else None
            free = socket.socket()
            free.bind(("127.0.0.1", 0))
            metrics_port = free.getsockname()[1]
            free.close()
            await prepare_argo_namespace(api, namespace, argo_config(route, metrics_port))
            controller = ArgoController(argo, f"{workload.key}-{side.requeue}", namespace, kubeconfig, side.requeue)
            await controller.start()
            runs = Runs(api, namespace, ARGO_GROUP, ARGO_VERSION, "workflows", workflow_state)
            plural, group, version = "workflows", ARGO_GROUP, ARGO_VERSION
            bodies = [argo_workflow(workload, f"{workload.key}-{i:03d}") for i in range(workload.runs)]
        await runs.start()
        before = await counters.read()
        cpu_before = proc_cpu_seconds(controller.pid)
        operator_before = await controller.requests() if isinstance(controller, Operator) else {}

        def creator(body: dict[str, Any]) -> Callable[[], Any]:
            return lambda: api.custom.create_namespaced_custom_object(group, version, namespace, plural, body)

        await gather_limited([creator(b) for b in bodies])
        names = [b["metadata"]["name"] for b in bodies]
        finished = await runs.wait_all(names, workload.timeout)
        after = await counters.settled()
        cpu = proc_cpu_seconds(controller.pid) - cpu_before
        rss, hwm = proc_rss_mib(controller.pid), proc_hwm_mib(controller.pid)
        if isinstance(controller, Operator):  # the operator's own count, to check the API server's
            own = await controller.requests()
            result["operator_writes"] = sum(own.get(v, 0) - operator_before.get(v, 0) for v in WRITE_VERBS)
        counts = {k: after[k] - before[k] for k in COUNTERS}
        states = [runs.states.get(n, "unfinished") for n in names]
        good = {"SUCCESS", "Succeeded"}
        ok = sum(s in good for s in states)
        result.update(
            {
                "ok": ok,
                "runs": len(names),
                "states": sorted(set(states)),
                "finished": finished,
                "wall": (max(runs.done.values()) - min(runs.added[n] for n in names)) if finished else None,
                "task_runs": workload.task_runs,
                "requests": counts,
                "writes_per_task": counts["writes"] / workload.task_runs,
                "pod_writes_per_task": counts["pods"] / workload.task_runs,
                "other_writes_per_task": counts["others"] / workload.task_runs,
                "cpu_seconds": cpu,
                "cpu_per_task": cpu / workload.task_runs,
                "rss_mib": rss,
                "peak_rss_mib": hwm,
                "object_bytes": runs.biggest_bytes(),
            }
        )
    except Exception as exc:  # one failed side must not hide the others' figures
        print(f"[peer] {workload.key} {side.label}: failed: {type(exc).__name__}: {exc}", flush=True)
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if runs:
            await runs.close()
        if controller:
            controller.stop()
        await counters.delete()
        await delete_binding(api, namespace, side.engine)
        if kubeconfig:
            kubeconfig.unlink(missing_ok=True)  # a token of a cluster-admin
        await delete_and_wait(api, namespace)
    result["load_after"] = os.getloadavg()[0]
    print(f"[peer] {workload.key} {side.label}: {brief(result)}", flush=True)
    return result


async def delete_and_wait(api: Api, namespace: str, timeout: float = 300) -> None:
    """Delete the namespace and wait until it is gone: the next side must not share the API
    server with the garbage collection of this one's pods."""
    if not await api.delete_namespace(namespace, wait=timeout):
        print(f"[peer] namespace {namespace} still terminating after {timeout:.0f}s", flush=True)


def brief(r: dict[str, Any]) -> str:
    if "error" in r:
        return str(r["error"])
    wall = f"{r['wall']:.1f} s" if r["wall"] is not None else "unfinished"
    return (
        f"{r['ok']}/{r['runs']} ok, wall {wall}, writes/task {r['writes_per_task']:.2f} "
        f"(+pods {r['pod_writes_per_task']:.2f}, others {r['other_writes_per_task']:.2f}), "
        f"CPU/task {r['cpu_per_task'] * 1000:.0f} ms, RSS {r['rss_mib']:.0f} MiB, "
        f"object {r['object_bytes'] / 1024:.0f} KiB; load {r['load_before']:.1f} -> {r['load_after']:.1f}"
    )


# ------------------------------------------------------------------------------ report


def table_rows(results: list[dict[str, Any]], titles: dict[str, str]) -> list[list[str]]:
    rows = []
    for r in results:
        where = "real node" if r["node"] == "real" else "kwok node"
        head = [titles.get(r["workload"], r["workload"]), where, r["engine"]]
        if "error" in r:
            rows.append([*head, "failed: " + r["error"][:70], *[""] * (len(HEADER) - 4)])
            continue
        rows.append(
            [
                *head,
                f"{r['ok']}/{r['runs']}",
                f"{r['wall']:.1f} s" if r["wall"] is not None else "unfinished",
                f"{r['writes_per_task']:.2f}",
                f"{r['pod_writes_per_task']:.2f} / {r['other_writes_per_task']:.2f}",
                f"{r['cpu_per_task'] * 1000:.0f} ms",
                f"{r['rss_mib']:.0f} ({r['peak_rss_mib']:.0f})",
                f"{r['object_bytes'] / 1024:,.0f}",
                f"{r['load_before']:.1f} -> {r['load_after']:.1f}",
            ]
        )
    return rows


HEADER = [
    "workload",
    "pods on",
    "engine",
    "ok",
    "wall",
    "controller writes/task",
    "pod / other writes/task",
    "controller CPU/task",
    "RSS MiB (peak)",
    "object KiB",
    "load",
]


ENGINES = ("overture", "overture-pods", "argo")  # overture-pods: the operator with OVERTURE_TASK_RUNTIME=pod
BUILT_IN_JOBS = "overture-jobs"  # the operator with OVERTURE_TASK_RUNTIME=job: asked for by name only
RUNTIME_SUFFIXES = {"pod": "-pods", "job": "-jobs"}  # a side's namespace names its runtime (not the default)


async def bench(
    quick: bool = False,
    only: list[str] | None = None,
    requeues: list[str] | None = None,
    engines: list[str] | None = None,
    progress: Callable[[list[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Each workload's sides one after the other; ``progress`` is given the results so far after
    each side (benchmarks.scale saves them, so a run stopped part way keeps what finished)."""
    chosen = chosen_workloads(quick, only)
    engines = engines or list(ENGINES)
    unknown = sorted(set(engines) - {*ENGINES, BUILT_IN_JOBS})
    if unknown:
        raise SystemExit(f"--engines: unknown {', '.join(unknown)}; choose from {', '.join((*ENGINES, BUILT_IN_JOBS))}")
    sides = [Side("overture", "Overture")] if "overture" in engines else []
    if "overture-pods" in engines:
        sides.append(Side("overture", "Overture (pods)", runtime="pod"))
    if BUILT_IN_JOBS in engines:
        sides.append(Side("overture", "Overture (built-in Jobs)", runtime=JOB))
    if "argo" in engines:
        sides += [Side("argo", f"Argo (requeue {r})", r) for r in (requeues or list(DEFAULT_REQUEUES))]
    # Overture alone needs neither Argo's build nor the relay its pods reach the API server by.
    argo = await asyncio.to_thread(ArgoBuild.build) if "argo" in engines else None
    api = await Api.connect()
    placement = Placement(api)
    relay = Relay(argo.pod_gateway, argo.apiserver_port) if argo else None
    results: list[dict[str, Any]] = []
    try:
        available = await placement.discover()
        await install_crds(api, ROOT / "crds")
        if argo:
            await install_crds(api, argo.crds)
        for workload in chosen:
            if workload.node not in available:
                for side in sides:
                    results.append(
                        {
                            "workload": workload.key,
                            "engine": side.label,
                            "node": workload.node,
                            "error": f"no Ready {workload.node} node",
                        }
                    )
                continue
            for side in sides:  # one engine at a time, each with the cluster to itself
                started = time.monotonic()
                print(f"[peer] {workload.key} ({workload.title}, {workload.node} node): {side.label}", flush=True)
                results.append(await measure(api, placement, workload, side, argo, relay))
                if progress:
                    progress(results)
                print(f"[peer]   took {time.monotonic() - started:.0f} s", flush=True)
    finally:
        if relay:
            relay.stop()
        await placement.restore()
        await api.close()
    titles = {w.key: w.title for w in chosen}
    argo_version = argo.version if argo else "(not run)"
    print_table(
        f"7. Overture vs Argo Workflows {argo_version} (busybox `true` tasks; one engine at a time)",
        HEADER,
        table_rows(results, titles),
    )
    print(
        "   writes: counted by the API server per FlowSchema; controller = the engine's own (Lease renewals apart);\n"
        "   pod = the pods' ServiceAccount (Argo's executor); other = kubelet, Job controller, scheduler in the ns"
    )
    data = {
        "quick": quick,
        "argo_version": argo_version,
        "engines": engines,
        "fanout_concurrency": FANOUT_CONCURRENCY,
        "workloads": {
            w.key: {"title": w.title, "tasks": w.tasks, "runs": w.runs, "node": w.node, "concurrency": w.concurrency}
            for w in chosen
        },
        "results": results,
    }
    write_result("peer", data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (10 tasks, 5 and 50 runs, 200 items)")
    parser.add_argument("--workloads", help="comma-separated keys (default: all)")
    parser.add_argument(
        "--requeue", help=f"Argo's DEFAULT_REQUEUE_TIME values, comma-separated (default: {','.join(DEFAULT_REQUEUES)})"
    )
    parser.add_argument(
        "--engines", help=f"which engines to run, comma-separated (default: {','.join(ENGINES)}); e.g. overture alone"
    )
    args = parser.parse_args()
    terminate_gracefully()
    asyncio.run(
        bench(
            args.quick,
            args.workloads.split(",") if args.workloads else None,
            args.requeue.split(",") if args.requeue else None,
            args.engines.split(",") if args.engines else None,
        )
    )


if __name__ == "__main__":
    main()
