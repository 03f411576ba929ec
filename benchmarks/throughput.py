"""2. Throughput against the limit: N executions of a 2-task flow created at once.

    python -m benchmarks.throughput [--quick] [--sizes 100,500,1000] [--replicas 1,2] [--runtimes managed-job,pod]
                                    [--repeat 4]

For each N, in the same run:
- **overture**: N Executions of a flow of 2 trivial tasks are created at once (64 requests in
  flight); executions finished per minute (N / time from the first create to the last SUCCESS
  seen) and the latency of each from creation to SUCCESS (p50, p99). This process watches the
  Executions only, as a user waiting for them does (``kubectl get executions -w``); the Jobs and
  pods are the operator's to watch.
- **limit**: a bare script does the same work without the orchestrator: N chains, each creates
  task 1's Job (the same manifest, from ``overture.kube.jobs.build_job``), waits for it to be
  finished (Complete, and its pod ended if the Job controller made one: what the operator waits
  for), creates task 2's Job, waits again. It watches the Jobs and pods, as the operator does.
  Same client (``overture.kube.client.Kube.connect``, one kubernetes_asyncio ApiClient), same
  completer, same API server.

With ``--runtimes managed-job,pod`` each N is measured in each task runtime (default: the
operator's default, ``managed-job``), each against a limit that makes what that runtime makes:
``job``, the bare-Job limit above (plain Jobs, which the built-in Job controller runs);
``managed-job``, the bare managed-Job limit: the same Jobs with ``spec.managedBy`` and, from each
create's answer, its pod (``overture.kube.managed_jobs.job_pod``), each awaited until its pod
ended, as the operator does; ``pod`` (``OVERTURE_TASK_RUNTIME=pod``: the operator creates each
task's pod itself), the bare-Pod limit: the same chains of pods (``overture.kube.pods.build_pod``),
each awaited until it has ended. The completer completes Jobs the moment it sees them, so with
``job`` neither side waits for a pod it has not seen; with ``managed-job`` and ``pod`` both wait
for every pod to end.

Jobs (and pods) are completed by ``benchmarks.completer`` (no pod runs: every node is tainted for the run),
so what is measured is the orchestrator against the API server, not the kubelet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import statistics
import time
from typing import Any

from benchmarks.common import (
    WRITE_VERBS,
    Api,
    Completer,
    Operator,
    Placement,
    Recorder,
    execution_body,
    flow_body,
    gather_limited,
    kubeconfig_path,
    parse_requests_delta,
    print_table,
    running,
    sec,
    summary,
    terminate_gracefully,
    wait_flow_ready,
    write_result,
)
from overture.api import attempt_of_pod
from overture.engine import CreateJob
from overture.kube.client import Kube
from overture.kube.jobs import build_job
from overture.kube.managed_jobs import MANAGED_BY, job_pod
from overture.kube.pods import DEFAULT_TASK_RUNTIME, JOB, MANAGED_JOB, POD, build_pod

TIMEOUT = {100: 120.0, 500: 300.0, 1000: 420.0}
# Each run waits until its namespace is gone: deleting 2,000 Jobs (and their pods) takes the
# namespace and garbage collectors, the API server and etcd a minute, which the next run (Overture's,
# right after the limit's) paid for until session 6.
NAMESPACE_GONE_SECONDS = 300.0


def timeout_for(n: int) -> float:
    return TIMEOUT.get(n, max(60.0, n * 0.5))


def shards_held(operator: Operator) -> set[int]:
    """The shards a replica holds now, from its log (taken minus handed over; shard_leases.py logs both)."""
    shards: set[int] = set()
    with contextlib.suppress(OSError):
        for line in operator.log_path.read_text(errors="replace").splitlines():
            match = re.search(r"(Took|Handed) a shard.*: shard=(\d+)/", line)
            if match:
                (shards.add if match.group(1) == "Took" else shards.discard)(int(match.group(2)))
    return shards


SHARDS_PER_REPLICA = 4  # as the chart suggests (8 for 2 replicas): split evenly, 4 + 4


async def wait_shards_split(operators: list[Operator], shards: int, timeout: float = 60.0) -> list[int]:
    """Until every shard is held once and every replica holds some; how many each holds."""
    deadline = time.monotonic() + timeout
    held: list[set[int]] = []
    while time.monotonic() < deadline:
        held = [shards_held(operator) for operator in operators]
        if all(held) and sum(len(h) for h in held) == shards and len(set().union(*held)) == shards:
            return [len(h) for h in held]
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the {len(operators)} replicas did not split the {shards} shards in {timeout:.0f} s: {held}")


async def overture_run(api: Api, n: int, replicas: int = 1, runtime: str = DEFAULT_TASK_RUNTIME) -> dict[str, Any]:
    """N executions through ``replicas`` operators; with more than 1, sharded (OVERTURE_SHARDS=4 per replica)."""
    namespace = await api.create_namespace(f"bench-tp-{n}" + ("-pods" if runtime == POD else ""))
    rec = Recorder(api, namespace, kinds=("executions",))  # what Overture's user waits for
    shards = SHARDS_PER_REPLICA * replicas if replicas > 1 else 1
    env = {"OVERTURE_SHARDS": str(shards)} if replicas > 1 else {}
    env["OVERTURE_TASK_RUNTIME"] = runtime
    split = [1]
    try:
        await api.create("flows", namespace, flow_body("two", 2))
        async with contextlib.AsyncExitStack() as stack:
            operators = [
                await stack.enter_async_context(running(Operator(f"throughput-{n}-r{replicas}-{i}", [namespace], env)))
                for i in range(replicas)
            ]
            if replicas > 1:
                split = await wait_shards_split(operators, shards)
            await wait_flow_ready(api, namespace, ["two"])
            await rec.start()
            before = [await operator.requests() for operator in operators]
            cpu_before = [operator.cpu_seconds() for operator in operators]
            reconciles_before = [await operator.reconciles() for operator in operators]
            watch_before = [await operator.watch_events() for operator in operators]
            names = [f"two-{i:05d}" for i in range(n)]
            started = time.time()
            await gather_limited(
                [lambda name=name: api.create("executions", namespace, execution_body(name, "two")) for name in names]
            )
            created = time.time()
            finished = await rec.wait(lambda: len(rec.exec_done) >= n, timeout_for(n))
            cpu = sum(operator.cpu_seconds() - b for operator, b in zip(operators, cpu_before, strict=True))
            rss = [operator.rss_mib() for operator in operators]
            reconciles_after = [await operator.reconciles() for operator in operators]
            watch_events: dict[str, int] = {}
            for operator, b in zip(operators, watch_before, strict=True):
                for outcome, count in parse_requests_delta(b, await operator.watch_events()).items():
                    watch_events[outcome] = watch_events.get(outcome, 0) + count
            requests: dict[str, int] = {}
            for operator, b in zip(operators, before, strict=True):
                for verb, count in parse_requests_delta(b, await operator.settled_requests()).items():
                    requests[verb] = requests.get(verb, 0) + count
    finally:
        await rec.close()
        await api.delete_namespace(namespace, wait=NAMESPACE_GONE_SECONDS)
    done = [name for name in names if name in rec.exec_done]
    states: dict[str, int] = {}
    for name in done:
        state = (rec.executions[name].get("status") or {}).get("state")
        states[state] = states.get(state, 0) + 1
    end = max((rec.exec_done[name] for name in done), default=time.time())
    elapsed = end - started
    latencies = [rec.exec_done[name] - rec.exec_added.get(name, started) for name in done]
    writes = sum(requests.get(v, 0) for v in WRITE_VERBS)
    reconciles = sum(a[0] - b[0] for a, b in zip(reconciles_after, reconciles_before, strict=True))
    reconcile_seconds = sum(a[1] - b[1] for a, b in zip(reconciles_after, reconciles_before, strict=True))
    return {
        "n": n,
        "replicas": replicas,
        "runtime": runtime,
        "shards_held": split,
        "finished": len(done),
        "complete": finished,
        "states": states,
        "create_seconds": created - started,
        "elapsed": elapsed,
        "per_minute": len(done) / elapsed * 60 if elapsed > 0 else None,
        "latency": summary(latencies),
        "api_requests": requests,
        "writes_per_task_run": writes / max(2 * len(done), 1),
        "operator_cpu_seconds": cpu,
        "operator_rss_mib": sum(rss),
        "operator_rss_mib_each": rss,
        "execution_watch_events": rec.exec_events,
        "reconciles": reconciles,
        "reconciles_per_execution": reconciles / max(len(done), 1),
        "reconciles_each": [a[0] - b[0] for a, b in zip(reconciles_after, reconciles_before, strict=True)],
        "watch_events": watch_events,  # by kind/outcome; empty for an operator without the metric
        "reconcile_seconds_mean": reconcile_seconds / max(reconciles, 1),
    }


BARE_SUFFIXES = {POD: "-pods", MANAGED_JOB: "-managed"}  # the limit's namespace names its runtime


def manifest(namespace: str, chain: str, task: int, runtime: str = JOB) -> dict[str, Any]:
    request = CreateJob(
        name=f"{chain}-t{task:02d}-1",
        task_run=f"t{task:02d}",
        task_id=f"t{task:02d}",
        attempt=1,
        image="busybox:1.36",
        command=("/bin/sh", "-c", "true"),
    )
    if runtime == POD:
        body = build_pod(request, namespace=namespace, flow="two", execution=chain, execution_uid="")
    else:
        managed_by = MANAGED_BY if runtime == MANAGED_JOB else None
        body = build_job(
            request,
            namespace=namespace,
            flow="two",
            execution=chain,
            execution_uid="",
            ttl_seconds=86400,
            managed_by=managed_by,
        )
    del body["metadata"]["ownerReferences"]  # no Execution owns these
    return body


async def bare_run(api: Api, n: int, runtime: str = JOB) -> dict[str, Any]:
    """The limit: the same 2n Jobs (or, ``runtime`` pod, pods; ``managed-job``, Jobs managed by
    the script, each with its pod), in n chains, created and awaited by a plain script."""
    namespace = await api.create_namespace(f"bench-bare-{n}" + BARE_SUFFIXES.get(runtime, ""))
    kube = await Kube.connect(kubeconfig_path())  # the operator's client, connected as the operator connects
    rec = Recorder(api, namespace, kinds=("jobs", "pods"))  # what the script (and the operator) waits for
    waiters: dict[str, asyncio.Future[float]] = {}
    loop = asyncio.get_running_loop()

    def finished(job: str) -> float | None:
        """As the operator decides: the Job is Complete, and its pod, if one was seen, has ended
        (the pod runtime: the pod has ended)."""
        if runtime in (POD, MANAGED_JOB):  # the operator reads these attempts from their pods alone
            return rec.pod_done.get(job)
        if job not in rec.job_done:
            return None
        if job in rec.pods:
            return max(rec.job_done[job], rec.pod_done[job]) if job in rec.pod_done else None
        return rec.job_done[job]

    def check(job: str) -> None:
        done = finished(job)
        if done is not None and job in waiters and not waiters[job].done():
            waiters[job].set_result(done)

    def on_jobs(t: float, type_: str, job: dict[str, Any]) -> None:
        Recorder._on_jobs(rec, t, type_, job)
        check(job["metadata"]["name"])

    def on_pods(t: float, type_: str, pod: dict[str, Any]) -> None:
        Recorder._on_pods(rec, t, type_, pod)
        check(attempt_of_pod(pod["metadata"]) or "")

    rec._on_jobs = on_jobs  # type: ignore[method-assign]
    rec._on_pods = on_pods  # type: ignore[method-assign]
    semaphore = asyncio.Semaphore(64)  # as many requests in flight as the executions' creation

    async def chain(index: int) -> tuple[float, float]:
        name = f"bare-{index:05d}"
        begun = time.time()
        end = begun
        for task in range(2):
            body = manifest(namespace, name, task, runtime)
            job = body["metadata"]["name"]
            waiters[job] = loop.create_future()
            async with semaphore:
                created = await (kube.create_pod if runtime == POD else kube.create_job)(namespace, body)
                if runtime == MANAGED_JOB and created is not None:  # its pod, as the operator makes it
                    await kube.create_pod(namespace, job_pod(body, created["metadata"]["uid"]))
            check(job)
            end = await waiters[job]
        return begun, end

    try:
        await rec.start()
        started = time.time()
        try:
            results = await asyncio.wait_for(asyncio.gather(*(chain(i) for i in range(n))), timeout_for(n))
            complete = True
        except TimeoutError:
            results, complete = [], False
    finally:
        await rec.close()
        await kube.close()
        await api.delete_namespace(namespace, wait=NAMESPACE_GONE_SECONDS)
    if not complete:
        return {"n": n, "runtime": runtime, "finished": 0, "complete": False}
    end = max(e for _, e in results)
    elapsed = end - started
    return {
        "n": n,
        "runtime": runtime,
        "finished": n,
        "complete": True,
        "elapsed": elapsed,
        "per_minute": n / elapsed * 60,
        "latency": summary([e - b for b, e in results]),
    }


def fraction_of(ours: dict[str, Any], limit: dict[str, Any]) -> float | None:
    """Overture's rate over the limit's, measured right before it; None if either did not finish."""
    if not ours.get("per_minute") or not limit.get("per_minute"):
        return None
    return float(ours["per_minute"]) / float(limit["per_minute"])


def fractions_by_setup(rows_data: list[dict[str, Any]]) -> dict[tuple[int, str, int], list[float | None]]:
    """Each (N, runtime, replicas)'s fractions, one per pair (``--repeat``), in the order run."""
    by_setup: dict[tuple[int, str, int], list[float | None]] = {}
    for r in rows_data:
        for o in r["overture"]:
            key = (int(r["n"]), str(r.get("runtime", JOB)), int(o.get("replicas", 1)))
            by_setup.setdefault(key, []).append(fraction_of(o, r["limit"]))
    return by_setup


def median_fraction(fractions: list[float | None]) -> float | None:
    """The median of the pairs' fractions, a pair that did not finish counted as 0 (it is a
    result too: the run timed out); None without pairs."""
    return statistics.median(f or 0.0 for f in fractions) if fractions else None


def report(rows_data: list[dict[str, Any]]) -> None:
    rows = []
    for r in rows_data:
        b = r["limit"]
        for o in r["overture"]:
            fraction = fraction_of(o, b)
            rows.append(
                [
                    r["n"],
                    r.get("runtime", JOB),
                    o.get("replicas", 1)
                    if o.get("replicas", 1) == 1
                    else f"{o['replicas']} ({'+'.join(map(str, o['shards_held']))} shards)",
                    f"{o['finished']}/{r['n']}",
                    f"{o['per_minute']:.0f}/min" if o.get("per_minute") else "-",
                    sec(o.get("latency", {}).get("p50")),
                    sec(o.get("latency", {}).get("p99")),
                    f"{b['per_minute']:.0f}/min" if b.get("per_minute") else "-",
                    sec(b.get("latency", {}).get("p50")),
                    f"{fraction:.0%}" if fraction else "-",
                    f"{o.get('writes_per_task_run', 0):.2f}",
                    f"{o.get('operator_cpu_seconds', 0):.1f} s",
                    f"{o.get('reconciles_per_execution', 0):.2f}",
                ]
            )
    header = ["N", "runtime", "replicas", "done", "overture", "lat p50", "lat p99", "limit", "lim p50", "fraction"]
    print_table(
        "2. Throughput: N executions of a 2-task flow created at once (Jobs and pods completed by the completer; "
        "limit: the same Jobs (managed-job: with their pods), or pods, made by a bare script)",
        [*header, "writes/task", "op CPU", "reconciles/exec"],
        rows,
    )
    for (n, runtime, replicas), fractions in fractions_by_setup(rows_data).items():
        if len(fractions) > 1:  # --repeat: one pair decides nothing on a shared machine
            each = ", ".join(f"{f:.0%}" if f else "-" for f in fractions)
            median = median_fraction(fractions)
            print(f"N={n} {runtime} x{replicas}: median fraction {median:.0%} over {len(fractions)} pairs ({each})")


async def bench(
    quick: bool = False,
    sizes: list[int] | None = None,
    replicas: list[int] | None = None,
    runtimes: list[str] | None = None,
    pod_replicas: list[int] | None = None,
    repeat: int = 1,
) -> dict[str, Any]:
    """For each N and task runtime: the limit (bare Jobs, managed Jobs with their pods, or pods),
    then Overture with each replica count (more than 1: sharded, 4 shards each; the pod runtime with ``pod_replicas``,
    default the same); ``repeat`` times over, the runtimes alternating, and the median fraction
    of the pairs printed."""
    sizes = sizes or ([50, 200] if quick else [100, 500, 1000])
    replicas = replicas or [1]
    runtimes = runtimes or [DEFAULT_TASK_RUNTIME]
    api = await Api.connect()
    placement = Placement(api)
    await placement.discover()
    completer = Completer("completer-throughput")
    results = []
    try:
        await placement.use("pending")
        await completer.start()
        for n in sizes:
            for runtime in [r for _ in range(repeat) for r in runtimes]:
                print(f"[throughput] N={n} {runtime}s: limit (bare script)", flush=True)
                limit = await bare_run(api, n, runtime)
                ours = []
                for count in pod_replicas or replicas if runtime == POD else replicas:
                    print(f"[throughput] N={n} {runtime}s: overture, {count} replica(s)", flush=True)
                    ours.append(await overture_run(api, n, count, runtime))
                    print(
                        f"[throughput] N={n} {runtime}s: overture x{count} {ours[-1].get('per_minute') or 0:.0f}/min, "
                        f"limit {limit.get('per_minute') or 0:.0f}/min",
                        flush=True,
                    )
                results.append({"n": n, "runtime": runtime, "overture": ours, "limit": limit})
    finally:
        completer.stop()
        await placement.restore()
        await api.close()
    report(results)
    data = {"sizes": sizes, "replicas": replicas, "runtimes": runtimes, "repeat": repeat, "results": results}
    write_result("throughput", data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 50, 200")
    parser.add_argument("--sizes", help="comma-separated N, e.g. 100,500,1000")
    parser.add_argument(
        "--replicas", default="1", help="operator replicas, comma-separated (1,2); 2: sharded, OVERTURE_SHARDS=8"
    )
    parser.add_argument(
        "--runtimes",
        default=DEFAULT_TASK_RUNTIME,
        help=f"task runtimes, comma-separated: {DEFAULT_TASK_RUNTIME} (default), job, pod (OVERTURE_TASK_RUNTIME)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="pairs (limit, then Overture) per N and runtime, the runtimes alternating; prints the median fraction",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: give 1 or more pairs")
    terminate_gracefully()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    replicas = [int(r) for r in args.replicas.split(",")]
    asyncio.run(bench(args.quick, sizes, replicas, args.runtimes.split(","), repeat=args.repeat))


if __name__ == "__main__":
    main()
