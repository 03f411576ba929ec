"""Watches feed the cache and the controller's queue; nothing else happens here.

Flows and templates come through kopf's watches; Executions and their Jobs and pods, nearly
every event, through the operator's own (``kube/watch.py``): the same cache and queue.

Only ``@kopf.on.event`` handlers are used, so kopf writes no progress or diff-base annotations
(every decision is recomputed from status). The controller, the HTTP server and the triggers
start with the operator and stop with it. What they share lives in one ``Runtime``, handed to
every handler in kopf's ``memo`` (``overture operator`` puts it there, with the settings).

kopf settings, chosen on purpose:
- no progress storage writes (event handlers have none) and no posting of kopf's own Events;
- kopf's per-object workers are unbounded (they only fill the cache and the queue) and exit
  after 0.2 s idle; our own reconcile workers are bounded by ``OVERTURE_WORKERS`` (default 64);
- kopf's peering is off (``standalone``): replicas elect a leader with a coordination.k8s.io
  Lease (kube/lease.py); every replica keeps its cache warm, only the leader reconciles. With
  ``OVERTURE_SHARDS`` > 1 executions are split into shards, one Lease each, held by the replicas
  side by side (controller/shard_leases.py); schedules and housekeeping stay with shard 0's holder.
  A sharded replica caches every execution but only its own shards' task Jobs and pods, and
  queues only its own shards' executions (controller/shard_cache.py).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import kopf

from overture import process_memory
from overture.api import API_GROUP, API_VERSION, LABEL_EXECUTION
from overture.controller import Controller
from overture.controller.flows import reconcile_flow
from overture.controller.observe import job_observation
from overture.controller.settings import OperatorSettings
from overture.controller.shard_cache import TASK_KINDS, ShardCache
from overture.controller.shard_leases import ShardElector
from overture.controller.unstarted import is_waiting_long
from overture.isolation import TenantWork
from overture.kube.client import Kube
from overture.kube.errors import RejectedError, TransientError
from overture.kube.flow_cache import FlowCache
from overture.kube.lease import LeaderElector, default_identity
from overture.kube.store import TEMPLATE_KINDS, Body, Store, job_of_pod, key_of
from overture.kube.watch import InNamespace, ListWatch
from overture.server import Metrics, build_app, serve
from overture.triggers.service import Triggers

log = logging.getLogger("overture")
T = TypeVar("T")


class Runtime:
    """What lives as long as the operator process (kopf's ``memo.runtime``)."""

    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        self.store = Store()
        self.kube: Kube | None = None
        self.controller: Controller | None = None
        self.flows = FlowCache(self.store)  # replaced at startup by one with the settings
        self.tasks: list[asyncio.Task[Any]] = []
        self.runner: Any = None
        self.elector: LeaderElector | ShardElector | None = None
        self.triggers: Triggers | None = None
        self.shard_cache: ShardCache | None = None  # sharded: the task Jobs and pods of its own shards only
        self.ready = False
        # Watch events of executions, Jobs and pods by (kind, what became of them): "queued" a reconcile;
        # "echo" / "set aside": our own status write's (or Job or pod create's); "unchanged": nothing a reconcile reads;
        # "other shard": another replica's execution, Job or pod (/metrics)
        self.watch_events: Counter[tuple[str, str]] = Counter()


def make_memo(settings: OperatorSettings) -> kopf.Memo:
    """kopf's memo for ``kopf.run``: every handler finds the ``Runtime`` in it."""
    return kopf.Memo(runtime=Runtime(settings))


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    config = runtime.settings
    settings.posting.enabled = False
    # Our per-object handlers only fill the cache and the queue: no object may wait for a slot.
    # A limit (it was 20) with kopf's 5 s idle timeout let ~4 new objects per second through:
    # 4 s stalls between tasks, and 1,000 Flows took 4 minutes to be seen (benchmarks/README.md).
    # A per-object worker lives idle_timeout after its object's last event: at startup every
    # object has an event at once, and 10,000 idle workers (and the memory they leave behind)
    # cost ~20 MiB of RSS with 1.0 s; a new worker for a later event costs microseconds.
    settings.batching.worker_limit = None
    settings.batching.idle_timeout = 0.2
    if not log.isEnabledFor(logging.DEBUG):  # "Handler 'on_flow' succeeded." for every event; -v keeps it
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.watching.chunk_size = 500  # kopf's initial LISTs in pages, not one reply of every object
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.persistence.finalizer = "overture.dev/finalizer"
    settings.persistence.diffbase_storage = NoDiffBase()
    kube = await Kube.connect(config.kubeconfig)
    elector: LeaderElector | ShardElector | None = None
    flows = FlowCache(runtime.store, config.allow_seconds_cron)  # read once per generation, by all below
    work = TenantWork(config.controller.tenant_threads, config.controller.template_cpu_seconds)
    watches = own_watches(runtime, kube, config.namespaces)
    if config.leader_election and config.shards > 1:
        shard_cache = runtime.shard_cache = ShardCache(runtime.store, config.shards)
        elector = ShardElector(
            kube,
            namespace=config.lease_namespace,
            identity=config.identity or default_identity(config.http_port),
            base=lease_name(config.namespaces),
            count=config.shards,
            taking=lambda shards: shard_cache.take(shards, functools.partial(task_pages, kube, watches)),
            dropped=shard_cache.drop,
        )
        controller = Controller(
            kube,
            runtime.store,
            config.controller,
            flows,
            gate=elector.active,
            owns=elector.owns,
            leading=elector.leading,
            work=work,
        )
        elector.busy = lambda: controller.queue.busy
        elector.on_taken.append(controller.resync)
    else:
        leader = None
        if config.leader_election:
            leader = LeaderElector(
                kube,
                namespace=config.lease_namespace,
                identity=config.identity or default_identity(config.http_port),
                name=lease_name(config.namespaces),
            )
        controller = Controller(
            kube, runtime.store, config.controller, flows, gate=leader.elected if leader else None, work=work
        )
        if leader is not None:
            leader.on_elected.append(controller.resync)
        elector = leader
    metrics = Metrics(
        runtime.store,
        lambda: controller.queue.depth,
        lambda: runtime.elector is None or runtime.elector.is_leader,
        runtime.watch_events,
    )
    controller.queue.observers.append(metrics.reconcile_seconds.observe)
    runtime.kube, runtime.controller, runtime.flows = kube, controller, flows
    await prime(kube, runtime.store, config.namespaces, watches, runtime.shard_cache)
    process_memory.trim()
    trimmer = process_memory.Trimmer(busy=lambda: bool(controller.queue.depth or controller.queue.busy))
    controller.queue.observers.append(trimmer.work_done)
    runtime.tasks.append(asyncio.create_task(trimmer.run(), name="overture-malloc-trim"))
    if elector is not None:
        runtime.elector = elector
        runtime.tasks.append(asyncio.create_task(elector.run(), name="overture-leader-election"))
    for watch in watches:
        runtime.tasks.append(asyncio.create_task(watch.run(), name=f"overture-watch {watch.path}"))
    runtime.tasks.append(asyncio.create_task(controller.run(), name="overture-controller"))
    triggers = Triggers(kube, runtime.store, flows, config.triggers, gate=controller.housekeeping.gate, work=work)
    controller.on_finished(triggers.execution_finished)
    runtime.triggers = triggers
    runtime.tasks.append(asyncio.create_task(triggers.run(), name="overture-triggers"))
    app = build_app(metrics, lambda: runtime.ready, routes=triggers.routes())
    runtime.runner = await serve(app, config.http_host, config.http_port)
    runtime.ready = True
    _one_log_handler()
    log.info(
        "Started the operator: http=%s:%d workers=%d", config.http_host, config.http_port, config.controller.workers
    )


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf builds a diff base (a deep copy of the whole body) on every event to diff it for
    change handlers; with event handlers only nothing reads it, so build none (benchmarks/README.md)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def _one_log_handler() -> None:
    """Keep kopf's handler only: an imported library's logging.basicConfig doubled every line."""
    root = logging.getLogger()
    kopf_handlers = [h for h in root.handlers if type(h).__module__.startswith("kopf")]
    if kopf_handlers:
        root.handlers[:] = kopf_handlers


def lease_name(namespaces: Sequence[str | None]) -> str:
    """One Lease per set of served namespaces: operators serving different sets both act."""
    if list(namespaces) == [None]:
        return "overture-operator"
    digest = hashlib.sha256(",".join(sorted(n or "" for n in namespaces)).encode()).hexdigest()[:10]
    return f"overture-operator-{digest}"


async def prime(
    kube: Kube,
    store: Store,
    namespaces: Sequence[str | None],
    watches: Sequence[ListWatch],
    shard_cache: ShardCache | None = None,
) -> None:
    """List what the watches would deliver before any reconcile starts.

    Without it a restarted operator could reconcile an execution before the watch has shown
    it that execution's Jobs, and take a running Job for a deleted one. Executions, Jobs and pods
    are the first LIST of their own watches (``own_watches``), which then go on from it; sharded,
    only the Jobs and pods ``shard_cache`` wants (none before a shard is held: ``ShardCache.take``
    lists them).
    """
    for namespace in namespaces:
        for kind, plural in (
            ("TaskTemplate", "tasktemplates"),  # before flows: a flow with template tasks is read against them
            ("flow", "flows"),
        ):
            await _retrying(functools.partial(_prime_kind, kube, store, kind, plural, namespace))
    for watch in watches:  # into the cache only: no reconcile is queued before the controller starts
        prime_task = functools.partial(_prime_task, store, shard_cache, watch.kind.lower())
        await _retrying(functools.partial(watch.relist, prime_task))
    await _retrying(functools.partial(_prime_kind, kube, store, "ClusterTaskTemplate", "clustertasktemplates", None))
    log.info(
        "Primed the cache: templates=%d flows=%d executions=%d jobs=%d pods=%d",
        len(store.templates),
        len(store.flows),
        len(store.executions),
        len(store.jobs),
        len(store.pods),
    )


def _prime_task(store: Store, shard_cache: ShardCache | None, kind: str, event_type: str, body: dict[str, Any]) -> None:
    if shard_cache is None or kind not in TASK_KINDS or shard_cache.wants(body):
        store.put(kind, body)


async def _prime_kind(kube: Kube, store: Store, kind: str, plural: str, namespace: str | None) -> None:
    try:
        async for page in kube.list_pages(plural, namespace):  # a page at a time: see Kube.list_pages
            for body in page:
                store.put(kind, body)
    except RejectedError as exc:  # templates are optional: an older CRD set, or no grant to read them
        if exc.status not in (403, 404) or kind not in TEMPLATE_KINDS:
            raise
        log.warning("Could not list %ss (template tasks using them will be Invalid): %s", kind, exc)


async def task_pages(kube: Kube, watches: Sequence[ListWatch]) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Every task Job and pod the ``watches`` see, a page at a time, as (the store's kind, page).

    ``ListWatch.pages``, not the watch's own ``relist``: that would move the point the watch
    resumes from past events it has not delivered yet."""
    for watch in watches:
        if watch.kind.lower() not in TASK_KINDS:
            continue  # executions: cached on every replica
        async for _, items in watch.pages():
            yield watch.kind.lower(), items


async def _retrying(call: Callable[[], Awaitable[T]], attempts: int = 60) -> T:
    """Retry transient errors (a fresh CRD answers 429 while its storage initialises)."""
    for _ in range(attempts - 1):
        try:
            return await call()
        except TransientError as exc:
            log.info("Waiting for the API server: %s", exc)
            await asyncio.sleep(1.0)
    return await call()


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    for task in runtime.tasks:
        task.cancel()
    if runtime.elector is not None:
        await runtime.elector.release()
    if runtime.runner is not None:
        await runtime.runner.cleanup()
    if runtime.kube is not None:
        await runtime.kube.close()


def _deleted(event_type: str | None) -> bool:
    return event_type == "DELETED"


@kopf.on.event(API_GROUP, API_VERSION, "flows")
async def on_flow(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    runtime.store.put("flow", dict(body), _deleted(type))
    if runtime.triggers is not None:
        runtime.triggers.flow_changed()
    if _deleted(type) or runtime.kube is None:
        return
    namespace, name = key_of(body)
    reading = runtime.flows.reading((namespace, name))
    if reading is not None:
        await reconcile_flow(runtime.kube, dict(body), datetime.now(UTC), reading)
    if runtime.controller is not None:  # executions waiting for this flow to appear
        for execution in runtime.store.unfinished_executions_of(namespace, name):
            if not (execution.get("status") or {}).get("flowSpec"):
                runtime.controller.enqueue(key_of(execution))


@kopf.on.event(API_GROUP, API_VERSION, "tasktemplates")
async def on_task_template(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await _template_changed(memo.runtime, "TaskTemplate", type, body)


@kopf.on.event(API_GROUP, API_VERSION, "clustertasktemplates")
async def on_cluster_task_template(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await _template_changed(memo.runtime, "ClusterTaskTemplate", type, body)


async def _template_changed(runtime: Runtime, kind: str, event_type: str | None, body: kopf.Body) -> None:
    """A template published or deleted: the Flows that use templates are read again (Ready or Invalid)."""
    known = runtime.store.templates.get((kind, *key_of(body)))
    version = body["metadata"].get("resourceVersion")
    if not _deleted(event_type) and known is not None and known["metadata"].get("resourceVersion") == version:
        return  # as primed (kopf's first listing): nothing changed
    runtime.store.put(kind, dict(body), _deleted(event_type))
    if runtime.triggers is not None:
        runtime.triggers.flow_changed()
    if runtime.kube is None:
        return
    for key in runtime.flows.template_users():
        reading = runtime.flows.reading(key)
        flow = runtime.store.flows.get(key)
        if reading is not None and flow is not None:
            await reconcile_flow(runtime.kube, dict(flow), datetime.now(UTC), reading)


def _execution_event(runtime: Runtime, event_type: str, body: dict[str, Any]) -> None:
    key = key_of(body)
    # The echo of our own status write: the operator stored the write's answer and decided from
    # it already; reconciling again would decide the same (``step`` is a fixed point for the same
    # observation). One reconcile saved per status write. An echo that comes before the write's
    # answer waits for it (controller/own_writes.py).
    deleted = _deleted(event_type)
    echo = not deleted and runtime.store.holds_execution(body)
    if not echo:
        runtime.store.put("execution", body, deleted)
    if runtime.controller is None:
        return
    if not runtime.controller.owns(key):
        runtime.watch_events["execution", "other shard"] += 1  # cached (limits, housekeeping, /metrics read it)
    elif echo:
        runtime.watch_events["execution", "echo"] += 1
    elif not deleted and runtime.controller.set_aside(key, body["metadata"].get("resourceVersion") or ""):
        runtime.watch_events["execution", "set aside"] += 1
    else:
        runtime.watch_events["execution", "queued"] += 1
        runtime.controller.enqueue(key)
    parent = (body.get("spec") or {}).get("parent") or {}
    if parent.get("execution"):
        runtime.controller.enqueue((key[0], parent["execution"]))


# What the operator watches itself, by namespace: (the cache's name, kind, apiVersion, API path,
# plural: the cache's table too, label selector); executions first (the cache's prime lists in this order)
OWN_WATCHES = (
    ("execution", "Execution", f"{API_GROUP}/{API_VERSION}", f"/apis/{API_GROUP}/{API_VERSION}", "executions", ""),
    ("job", "Job", "batch/v1", "/apis/batch/v1", "jobs", LABEL_EXECUTION),
    ("pod", "Pod", "v1", "/api/v1", "pods", LABEL_EXECUTION),
)


def own_watches(runtime: Runtime, kube: Kube, namespaces: Sequence[str | None]) -> list[ListWatch]:
    """The watches of Executions and their Jobs and pods (ours, not kopf's: kube/watch.py says why)."""
    watches = []
    for namespace in namespaces:
        for name, kind, api_version, api, plural, selector in OWN_WATCHES:
            path = f"{api}/namespaces/{namespace}/{plural}" if namespace else f"{api}/{plural}"
            handler: Callable[[str, dict[str, Any]], None] = (
                functools.partial(_execution_event, runtime)
                if name == "execution"
                else functools.partial(_task_event, runtime, name)
            )
            cached = InNamespace(getattr(runtime.store, plural), namespace)
            watches.append(ListWatch(kube, path, selector, kind, api_version, handler, cached))
    return watches


def _task_event(runtime: Runtime, kind: str, event_type: str, body: dict[str, Any]) -> None:
    job = body["metadata"]["name"] if kind == "job" else job_of_pod(body)
    _task_changed(runtime, kind, event_type, body, job)


def _is_cached_version(store: Store, kind: str, body: Body) -> bool:
    """Whether this very version of a Job or pod is cached (same uid and resourceVersion)."""
    meta = body["metadata"]
    cached = (store.jobs if kind == "job" else store.pods).get(key_of(body))
    if cached is None or not meta.get("resourceVersion"):
        return False
    known = cached["metadata"]
    return bool(known.get("resourceVersion") == meta["resourceVersion"] and known.get("uid") == meta.get("uid"))


def _task_changed(runtime: Runtime, kind: str, event_type: str | None, body: Body, job: str | None) -> None:
    """A task's Job or pod changed: cached, and its execution queued if what a reconcile reads of
    the Job changed (``observe.job_observation``). Most of a Job's and its pod's ~10 events per
    run (a pod scheduled, a finalizer removed, the Job's counters) change nothing it reads."""
    if runtime.shard_cache is not None:
        if not runtime.shard_cache.wants(body):
            runtime.watch_events[kind, "other shard"] += 1
            return  # another replica's: no copy, and no reconcile here
        if _deleted(event_type):
            runtime.shard_cache.deleted(kind, body)
    if not _deleted(event_type) and _is_cached_version(runtime.store, kind, body):
        # the watch's copy of our own create (its answer is cached, Store.put_created): the
        # reconcile that created it decided with it already. One reconcile less per task run:
        # the "waiting for a pod" rule below would queue it (benchmarks/README.md, two replicas, session 6)
        runtime.watch_events[kind, "echo"] += 1
        return
    namespace = body["metadata"].get("namespace") or ""
    before = job_observation(runtime.store, namespace, job) if job else None
    runtime.store.put(kind, body, _deleted(event_type))
    execution = (body["metadata"].get("labels") or {}).get(LABEL_EXECUTION)
    if not execution or runtime.controller is None:
        return
    after = job_observation(runtime.store, namespace, job) if job else None
    if (
        job
        and after is not None
        and before == after
        and not is_waiting_long(runtime.store, namespace, job, after, datetime.now(UTC))
    ):
        # a Job waiting for its pod within unstarted.GRACE_SECONDS included: the Job controller's
        # status updates before the pod is seen changed nothing a reconcile reads, and it reads
        # no FailedCreate Events yet
        runtime.watch_events[kind, "unchanged"] += 1
        return
    runtime.watch_events[kind, "queued"] += 1
    runtime.controller.enqueue((namespace, execution))
