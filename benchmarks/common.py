"""What every benchmark needs: the cluster, the operator as a subprocess, watches, tables, JSON.

Everything is asyncio on kubernetes_asyncio, the client the operator uses, so the bare-script
limit and the operator run with the same client settings (one ApiClient, up to 100 parallel
connections, no client-side rate limit).

Times are wall-clock seconds (``time.time()``) taken when a watch event reaches this process:
the operator reads the same watch streams, so a difference between two such times is what the
orchestrator added, watch delivery included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from overture.api import attempt_of_pod

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GROUP, VERSION = "overture.dev", "v1alpha1"
LABEL_EXECUTION = "overture.dev/execution"
BENCH_TAINT_KEY = "overture.dev/bench"
KWOK_TAINT_KEY = "kwok.x-k8s.io/node"
KWOK_TAINT = {"key": KWOK_TAINT_KEY, "value": "fake", "effect": "NoSchedule"}


def terminate_gracefully() -> None:
    """SIGTERM as Ctrl-C: asyncio cancels the benchmark, whose finally blocks stop the operator,
    the completer, restore node taints and delete the namespaces."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


# ------------------------------------------------------------------------------ numbers


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100), nearest-rank on sorted values; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "max": max(values) if values else None,
        "mean": statistics.fmean(values) if values else None,
    }


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def sec(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join("-" * w for w in widths)
    print(line)
    for index, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if index == 0:
            print(line)
    print(line, flush=True)


def machine() -> dict[str, Any]:
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        mem_kib = int(meminfo.readline().split()[1])
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    payload = {"benchmark": name, "when": stamp, "machine": machine(), **data}
    path = RESULTS / f"{name}-{stamp}.json"
    text = json.dumps(payload, indent=2, default=str)
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    print(f"wrote {path.relative_to(ROOT)}", flush=True)
    return path


# ------------------------------------------------------------------------------ cluster


def kubeconfig_path() -> str:
    """KUBECONFIG if set, else the local cluster of OVERTURE_CLUSTER_INSTANCE (or OVERTURE_CLUSTER_DIR)."""
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"].split(":")[0]
    instance = os.environ.get("OVERTURE_CLUSTER_INSTANCE", "")
    default = f"/tmp/overture-cluster-{instance}" if instance not in ("", "0") else "/tmp/overture-cluster"
    return str(Path(os.environ.get("OVERTURE_CLUSTER_DIR", default)) / "admin.kubeconfig")


async def api_client() -> client.ApiClient:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig_path(), client_configuration=cfg)
    return client.ApiClient(configuration=cfg)


class Api:
    """The typed APIs over one ApiClient."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.rbac = client.RbacAuthorizationV1Api(api)
        self.extensions = client.ApiextensionsV1Api(api)

    @classmethod
    async def connect(cls) -> Api:
        return cls(await api_client())

    async def close(self) -> None:
        await self.api.close()

    async def create_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        await self.core.create_namespace({"metadata": {"name": name, "labels": {"overture.dev/bench": "true"}}})
        for _ in range(120):  # pods need the default ServiceAccount
            try:
                await self.core.read_namespaced_service_account("default", name)
                return name
            except ApiException:
                await asyncio.sleep(0.25)
        raise RuntimeError(f"no default ServiceAccount in {name}")

    async def delete_namespace(self, name: str, wait: float = 0.0) -> bool:
        """Delete namespace ``name``; with ``wait``, wait until it is gone (at most ``wait``
        seconds; False if it is still there then). What is measured next must not share the API
        server with its deletion: 2,000 Jobs and their pods keep the namespace and garbage
        collectors, the API server and etcd busy for a minute."""
        with contextlib.suppress(ApiException):
            await self.core.delete_namespace(name)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                await self.core.read_namespace(name)
            except ApiException as exc:
                if exc.status == 404:
                    return True
            await asyncio.sleep(1.0)
        return wait <= 0

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        body.setdefault("metadata", {})["namespace"] = namespace
        result: dict[str, Any] = await self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, body
        )
        return result

    async def nodes(self) -> list[Any]:
        return list((await self.core.list_node()).items)


async def gather_limited(calls: list[Callable[[], Awaitable[Any]]], limit: int = 64) -> list[Any]:
    """Run coroutine factories with at most ``limit`` at once."""
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            for attempt in range(5):
                try:
                    return await call()
                except ApiException as exc:
                    if exc.status in (429, 500, 503, 504) and attempt < 4:
                        await asyncio.sleep(0.5 * (attempt + 1))
                        continue
                    raise
            return None

    return await asyncio.gather(*(one(c) for c in calls))


def is_kwok(node: Any) -> bool:
    annotations = node.metadata.annotations or {}
    return annotations.get(KWOK_TAINT_KEY) == "fake" or (node.metadata.labels or {}).get("type") == "kwok"


def is_ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


class Placement:
    """Where Job pods land, steered with taints on this cluster's nodes (restored on exit).

    The operator's Jobs carry no nodeSelector or toleration, so with the cluster in ``both``
    mode their pods go to the real node. ``use("kwok")`` taints the real node and lifts the kwok
    node's taint; ``use("real")`` puts things back; ``use("pending")`` taints every node, so the
    pods the Job controller makes stay Pending (the Job completer then decides alone).
    """

    def __init__(self, api: Api) -> None:
        self.api = api
        self.original: dict[str, list[dict[str, Any]]] = {}
        self.kinds: dict[str, str] = {}
        self.current = ""

    async def discover(self) -> set[str]:
        """The Ready nodes' kinds; their taints as hack/cluster sets them (undoing an interrupted run)."""
        for node in await self.api.nodes():
            if not is_ready(node):
                continue
            name = node.metadata.name
            self.kinds[name] = "kwok" if is_kwok(node) else "real"
            taints = [self.api.api.sanitize_for_serialization(t) for t in node.spec.taints or []]
            self.original[name] = [t for t in taints if t.get("key") != BENCH_TAINT_KEY]
        if "real" in self.kinds.values():  # both mode: the kwok node is tainted so pods opt in
            for name, kind in self.kinds.items():
                if kind == "kwok" and not any(t.get("key") == KWOK_TAINT_KEY for t in self.original[name]):
                    self.original[name].append(KWOK_TAINT)
        await self.restore()
        return set(self.kinds.values())

    def available(self) -> set[str]:
        return {"pending", *self.kinds.values()}

    async def use(self, where: str) -> None:
        if where == self.current:
            return
        for name, kind in self.kinds.items():
            taints = [t for t in self.original[name] if t.get("key") != BENCH_TAINT_KEY]
            if where == "kwok" and kind == "kwok":
                taints = [t for t in taints if t.get("key") != KWOK_TAINT_KEY]
            if where == "pending" or (where == "kwok" and kind != "kwok") or (where == "real" and kind != "real"):
                taints.append({"key": BENCH_TAINT_KEY, "value": "hold", "effect": "NoSchedule"})
            await self.api.core.patch_node(name, {"spec": {"taints": taints or None}})
        self.current = where

    async def restore(self) -> None:
        for name, taints in self.original.items():
            with contextlib.suppress(ApiException):
                await self.api.core.patch_node(name, {"spec": {"taints": taints or None}})
        self.current = ""


# ------------------------------------------------------------------------------ watches


async def watch_raw(
    list_call: Callable[..., Awaitable[Any]], *args: Any, label_selector: str = "", stop: asyncio.Event
) -> AsyncIterator[tuple[float, str, dict[str, Any]]]:
    """(arrival time, type, object) of every watch event, raw JSON (no model objects), until ``stop``."""
    listing = await list_call(*args, label_selector=label_selector, _preload_content=False)
    body = json.loads(await listing.read())
    rv = body["metadata"]["resourceVersion"]
    now = time.time()
    for item in body.get("items") or []:
        yield now, "ADDED", item
    while not stop.is_set():
        try:
            response = await list_call(
                *args,
                label_selector=label_selector,
                watch=True,
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=300,
                _preload_content=False,
            )
        except ApiException as exc:
            if exc.status == 410:
                rv = ""
                continue
            raise
        async with response:
            async for line in response.content:
                if not line.strip():
                    continue
                arrived = time.time()
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    rv = ""
                    break
                rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                if event.get("type") != "BOOKMARK":
                    yield arrived, event["type"], obj
                if stop.is_set():
                    return


def job_finished(job: dict[str, Any]) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return None


TERMINAL = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"}


async def wait_for_change(changed: asyncio.Event, predicate: Callable[[], bool], timeout: float) -> bool:
    """Until ``predicate()`` holds, re-checked whenever a watch sets ``changed`` (at least every
    second); False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), min(remaining, 1.0))
    return True


RECORDED_KINDS = ("jobs", "pods", "executions")  # what a Recorder can watch


@dataclass
class Recorder:
    """When Jobs, their pods and Executions of one namespace appeared and finished, as seen here.

    ``kinds`` are the watches opened: each is a stream the API server serves and this process
    decodes, so a benchmark watches only what it reads. A client of Overture waits for its
    Executions (``kubectl get executions -w``, ``overture run --wait``); a bare script waits for
    its Jobs and pods."""

    api: Api
    namespace: str | None
    job_added: dict[str, float] = field(default_factory=dict)
    job_done: dict[str, float] = field(default_factory=dict)
    pod_done: dict[str, float] = field(default_factory=dict)  # by Job name
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)  # last seen pod by Job name
    exec_added: dict[str, float] = field(default_factory=dict)
    exec_done: dict[str, float] = field(default_factory=dict)
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    exec_events: int = 0
    kinds: tuple[str, ...] = RECORDED_KINDS
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def _calls(self, kind: str) -> tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]:
        ns = self.namespace
        if kind == "jobs":
            return (
                (self.api.batch.list_namespaced_job, (ns,)) if ns else (self.api.batch.list_job_for_all_namespaces, ())
            )
        if kind == "pods":
            return (self.api.core.list_namespaced_pod, (ns,)) if ns else (self.api.core.list_pod_for_all_namespaces, ())
        if ns:
            return self.api.custom.list_namespaced_custom_object, (GROUP, VERSION, ns, "executions")
        return self.api.custom.list_cluster_custom_object, (GROUP, VERSION, "executions")

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(RECORDED_KINDS))
        if unknown or not self.kinds:
            raise ValueError(f"Recorder kinds {unknown or '()'}: choose from {', '.join(RECORDED_KINDS)}")

    async def start(self) -> None:
        ready = [asyncio.Event() for _ in self.kinds]
        for kind, flag in zip(self.kinds, ready, strict=True):
            self.tasks.append(asyncio.create_task(self._run(kind, flag)))
        await asyncio.wait_for(asyncio.gather(*(f.wait() for f in ready)), 30)

    async def _run(self, kind: str, ready: asyncio.Event) -> None:
        call, args = self._calls(kind)
        selector = LABEL_EXECUTION if kind in ("jobs", "pods") else ""
        gen = watch_raw(call, *args, label_selector=selector, stop=self.stop)
        ready.set()
        async for arrived, type_, obj in gen:
            getattr(self, f"_on_{kind}")(arrived, type_, obj)
            self.changed.set()

    def _on_jobs(self, t: float, type_: str, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        self.job_added.setdefault(name, t)
        if job_finished(job):
            self.job_done.setdefault(name, t)

    def _on_pods(self, t: float, type_: str, pod: dict[str, Any]) -> None:
        job = attempt_of_pod(pod["metadata"])  # its Job's name, or its own (the pod task runtime)
        if not job:
            return
        self.pods[job] = pod
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self.pod_done.setdefault(job, t)

    def _on_executions(self, t: float, type_: str, execution: dict[str, Any]) -> None:
        name = execution["metadata"]["name"]
        self.exec_events += 1
        self.exec_added.setdefault(name, t)
        self.executions[name] = execution
        if (execution.get("status") or {}).get("state") in TERMINAL:
            self.exec_done.setdefault(name, t)

    def done_at(self, job: str) -> float | None:
        """When the task of ``job`` was first seen finished: its pod or the Job, whichever first."""
        times = [t for t in (self.pod_done.get(job), self.job_done.get(job)) if t is not None]
        return min(times) if times else None

    async def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        return await wait_for_change(self.changed, predicate, timeout)

    async def close(self) -> None:
        self.stop.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# ------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def proc_hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Operator:
    """``python -m overture operator`` in a subprocess, as tests/e2e/harness.py runs it.

    ``OVERTURE_BENCH_PROFILE=DIR`` samples it with ``py-spy record`` (collapsed stacks in
    DIR/NAME.folded; ``python -m benchmarks.profile DIR/NAME.folded`` prints the top functions).
    """

    def __init__(self, name: str, namespaces: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.namespaces = namespaces
        self.port = free_port()
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.log_path = RESULTS / f"operator-{name}.log"
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.profiler: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 120) -> float:
        """Start and wait for /readyz; returns the seconds it took."""
        env = {**os.environ, "KUBECONFIG": kubeconfig_path(), **self.env}
        command = [sys.executable, "-m", "overture", "operator", "--port", str(self.port)]
        for namespace in self.namespaces:
            command += ["--namespace", namespace]
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}; log: {self.log_path}")
            if await asyncio.to_thread(self._ready):
                ready = time.monotonic() - started
                self._profile()
                return ready
            await asyncio.sleep(0.1)
        raise RuntimeError(f"operator not ready after {timeout:.0f}s; log: {self.log_path}")

    def _profile(self) -> None:
        """``OVERTURE_BENCH_PROFILE``: sample the ready operator. Not from its start: ``overture
        operator`` starts itself again as ``python -OO`` (same pid), and py-spy, attached before
        that, stops with the first image (it recorded only the imports). ``--nonblocking``: the
        operator is not paused for each sample, so its CPU figure is its own."""
        profile_dir = os.environ.get("OVERTURE_BENCH_PROFILE")
        if not profile_dir:
            return
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        out = Path(profile_dir) / f"{self.name}.folded"
        self.profiler = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                "100",
                "--nonblocking",
                "--format",
                "raw",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as reply:
            return str(reply.read().decode())

    async def requests(self) -> dict[str, float]:
        """overture_api_requests by verb, from /metrics."""
        counts: dict[str, float] = {}
        for line in (await asyncio.to_thread(self.metrics_text)).splitlines():
            if line.startswith("overture_api_requests_total{"):
                verb = line.split('verb="', 1)[1].split('"', 1)[0]
                counts[verb] = float(line.rsplit(" ", 1)[1])
        return counts

    async def watch_events(self) -> dict[str, float]:
        """overture_watch_events by "kind/outcome" (queued a reconcile, echo, set aside, unchanged), from /metrics."""
        counts: dict[str, float] = {}
        for line in (await asyncio.to_thread(self.metrics_text)).splitlines():
            if line.startswith("overture_watch_events_total{"):
                kind = line.split('kind="', 1)[1].split('"', 1)[0]
                outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
                counts[f"{kind}/{outcome}"] = float(line.rsplit(" ", 1)[1])
        return counts

    async def reconciles(self) -> tuple[int, float]:
        """(count, total seconds) of reconciles, from overture_reconcile_seconds."""
        count, total = 0, 0.0
        for line in (await asyncio.to_thread(self.metrics_text)).splitlines():
            if line.startswith("overture_reconcile_seconds_count"):
                count = int(float(line.rsplit(" ", 1)[1]))
            elif line.startswith("overture_reconcile_seconds_sum"):
                total = float(line.rsplit(" ", 1)[1])
        return count, total

    async def settled_requests(self, limit: float = 30.0) -> dict[str, float]:
        """Requests by verb once the count stops moving (Events are posted in the background)."""
        last = await self.requests()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            now = await self.requests()
            if now == last:
                break
            last = now
        return last

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss_mib(self) -> float:
        return proc_rss_mib(self.pid)

    def stop(self) -> None:
        if self.profiler is not None:
            self.profiler.send_signal(signal.SIGINT)
            try:
                self.profiler.wait(30)
            except subprocess.TimeoutExpired:
                self.profiler.kill()
            self.profiler = None
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@contextlib.asynccontextmanager
async def running(operator: Operator) -> AsyncIterator[Operator]:
    await operator.start()
    try:
        yield operator
    finally:
        operator.stop()


class Completer:
    """``python -m benchmarks.completer`` in a subprocess: marks every Job done as soon as it exists."""

    def __init__(self, name: str = "completer") -> None:
        self.log_path = RESULTS / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KUBECONFIG": kubeconfig_path()}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.completer"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # it prints "ready" once its watch runs
            if self.proc.poll() is not None:
                raise RuntimeError(f"completer exited; log: {self.log_path}")
            if b"ready" in self.log_path.read_bytes():
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"completer not ready; log: {self.log_path}")

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=10)
            self.proc = None


def flow_body(name: str, tasks: int, triggers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A flow of ``tasks`` sequential trivial shell tasks."""
    spec: dict[str, Any] = {
        "tasks": [{"id": f"t{i:02d}", "type": "shell", "commands": ["true"]} for i in range(tasks)],
        # keep every run we measure: the default (newest 100) would delete them under our eyes
        "retention": {"keep": 100000},
    }
    if triggers:
        spec["triggers"] = triggers
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Flow", "metadata": {"name": name}, "spec": spec}


def execution_body(name: str, flow: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Execution",
        "metadata": {"name": name},
        "spec": {"flowRef": {"name": flow}, "trigger": {"type": "manual"}},
    }


async def wait_flow_ready(api: Api, namespace: str, names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        listing = await api.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "flows")
        for item in listing.get("items") or []:
            conditions = (item.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                pending.discard(item["metadata"]["name"])
        if pending:
            await asyncio.sleep(0.5)
    if pending:
        raise RuntimeError(f"flows not Ready after {timeout:.0f}s: {sorted(pending)[:5]}")


def parse_requests_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    return {verb: int(after.get(verb, 0) - before.get(verb, 0)) for verb in sorted(set(before) | set(after))}


WRITE_VERBS = ("create", "update", "patch", "delete")
