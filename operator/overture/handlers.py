"""kopf wiring: watches feed the cache and the reconcile queue; nothing else happens here.

Only ``@kopf.on.event`` handlers are used, so kopf writes no progress or diff-base annotations
(every decision is recomputed from status). The reconcile loop, the HTTP server and the
triggers start with the operator and stop with it.

kopf settings, chosen on purpose:
- no progress storage writes (event handlers have none) and no posting of kopf's own Events;
- kopf's per-object workers are unbounded (they only fill the cache and the queue) and exit
  after 1 s idle; our own reconcile workers are bounded by ``OVERTURE_WORKERS`` (default 16);
- kopf's peering is off (``standalone``): replicas elect a leader with a coordination.k8s.io
  Lease (kube/lease.py); every replica keeps its cache warm, only the leader reconciles.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import kopf

from overture import footprint
from overture.api import API_GROUP, API_VERSION, LABEL_EXECUTION
from overture.kube.client import Kube
from overture.kube.errors import TransientError
from overture.kube.lease import LeaderElector, default_identity
from overture.kube.store import Store, key_of
from overture.reconciler import Reconciler, Settings, reconcile_flow
from overture.server import Metrics, build_app, serve
from overture.triggers.service import Triggers, TriggerSettings

log = logging.getLogger("overture")
T = TypeVar("T")


class Runtime:
    """What lives as long as the operator process."""

    def __init__(self) -> None:
        self.store = Store()
        self.kube: Kube | None = None
        self.reconciler: Reconciler | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.runner: Any = None
        self.elector: LeaderElector | None = None
        self.triggers: Triggers | None = None
        self.ready = False


RUNTIME = Runtime()


def _settings_from_env() -> Settings:
    ttl = os.environ.get("OVERTURE_JOB_TTL_SECONDS", "86400")
    return Settings(
        workers=int(os.environ.get("OVERTURE_WORKERS", "64")),
        job_ttl_seconds=int(ttl) if ttl else None,
        resync_seconds=float(os.environ.get("OVERTURE_RESYNC_SECONDS", "60")),
        task_events=os.environ.get("OVERTURE_TASK_EVENTS", "false").lower() in {"1", "true", "yes", "on"},
        status_debounce=float(os.environ.get("OVERTURE_STATUS_DEBOUNCE_SECONDS", "2")),
        observed_debounce=float(os.environ.get("OVERTURE_OBSERVED_DEBOUNCE_SECONDS", "5")),
    )


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    # Our per-object handlers only fill the cache and the queue: no object may wait for a slot.
    # A limit (it was 20) with kopf's 5 s idle timeout let ~4 new objects per second through:
    # 4 s stalls between tasks, and 1,000 Flows took 4 minutes to be seen (benchmarks/README.md).
    # A per-object worker lives idle_timeout after its object's last event: at startup every
    # object has an event at once, and 10,000 idle workers (and the memory they leave behind)
    # cost ~20 MiB of RSS with 1.0 s; a new worker for a later event costs microseconds.
    settings.batching.worker_limit = None
    settings.batching.idle_timeout = 0.2
    if not log.isEnabledFor(logging.DEBUG):  # "Handler 'on_job' succeeded." for every event; -v keeps it
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.watching.chunk_size = 500  # kopf's initial LISTs in pages, not one reply of every object
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.persistence.finalizer = "overture.dev/finalizer"
    settings.persistence.diffbase_storage = NoDiffBase()
    kube = await Kube.connect(os.environ.get("KUBECONFIG") or None)
    reconciler = Reconciler(kube, RUNTIME.store, _settings_from_env())
    metrics = Metrics(
        RUNTIME.store, lambda: reconciler.depth, lambda: RUNTIME.elector is None or RUNTIME.elector.is_leader
    )
    reconciler.observers.append(metrics.reconcile_seconds.observe)
    RUNTIME.kube, RUNTIME.reconciler = kube, reconciler
    await prime(kube, RUNTIME.store, _namespaces())
    footprint.trim()
    RUNTIME.tasks.append(asyncio.create_task(footprint.trim_every(), name="overture-malloc-trim"))
    port = int(os.environ.get("OVERTURE_HTTP_PORT", "8080"))
    if os.environ.get("OVERTURE_LEADER_ELECTION", "true").lower() != "false":
        elector = LeaderElector(
            kube,
            namespace=os.environ.get("OVERTURE_LEASE_NAMESPACE") or os.environ.get("POD_NAMESPACE") or "default",
            identity=default_identity(port),
            name=lease_name(_namespaces()),
        )
        reconciler.gate = elector.elected
        elector.on_elected.append(reconciler.resync_now)
        RUNTIME.elector = elector
        RUNTIME.tasks.append(asyncio.create_task(elector.run(), name="overture-leader-election"))
    RUNTIME.tasks.append(asyncio.create_task(reconciler.run(), name="overture-reconciler"))
    triggers = Triggers(kube, RUNTIME.store, TriggerSettings.from_env(os.environ), gate=reconciler.gate)
    reconciler.on_finished.append(triggers.execution_finished)
    RUNTIME.triggers = triggers
    RUNTIME.tasks.append(asyncio.create_task(triggers.run(), name="overture-triggers"))
    host = os.environ.get("OVERTURE_HTTP_HOST", "0.0.0.0")
    app = build_app(metrics, lambda: RUNTIME.ready, routes=triggers.routes())
    RUNTIME.runner = await serve(app, host, port)
    RUNTIME.ready = True
    _one_log_handler()
    log.info("Started the operator: http=%s:%d workers=%d", host, port, reconciler.settings.workers)


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


def lease_name(namespaces: list[str | None]) -> str:
    """One Lease per set of served namespaces: operators serving different sets both act."""
    if namespaces == [None]:
        return "overture-operator"
    digest = hashlib.sha256(",".join(sorted(n or "" for n in namespaces)).encode()).hexdigest()[:10]
    return f"overture-operator-{digest}"


def _namespaces() -> list[str | None]:
    """The namespaces served: OVERTURE_NAMESPACES (comma-separated), or all (None)."""
    listed = [n for n in os.environ.get("OVERTURE_NAMESPACES", "").split(",") if n]
    return list(listed) or [None]


async def prime(kube: Kube, store: Store, namespaces: list[str | None]) -> None:
    """List what the watches would deliver before any reconcile starts.

    Without it a restarted operator could reconcile an execution before the watch has shown
    it that execution's Jobs, and take a running Job for a deleted one.
    """
    selector = LABEL_EXECUTION
    for namespace in namespaces:
        for kind, plural, labels in (
            ("flow", "flows", ""),
            ("execution", "executions", ""),
            ("job", "jobs", selector),
            ("pod", "pods", selector),
        ):
            await _retrying(functools.partial(_prime_kind, kube, store, kind, plural, namespace, labels))
    log.info(
        "Primed the cache: flows=%d executions=%d jobs=%d pods=%d",
        len(store.flows),
        len(store.executions),
        len(store.jobs),
        len(store.pods),
    )


async def _prime_kind(kube: Kube, store: Store, kind: str, plural: str, namespace: str | None, labels: str) -> None:
    async for page in kube.list_pages(plural, namespace, labels):  # a page at a time: see Kube.list_pages
        for body in page:
            store.put(kind, body)


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
async def cleanup(**_: Any) -> None:
    for task in RUNTIME.tasks:
        task.cancel()
    if RUNTIME.elector is not None:
        await RUNTIME.elector.release()
    if RUNTIME.runner is not None:
        await RUNTIME.runner.cleanup()
    if RUNTIME.kube is not None:
        await RUNTIME.kube.close()


def _deleted(event_type: str | None) -> bool:
    return event_type == "DELETED"


@kopf.on.event(API_GROUP, API_VERSION, "flows")
async def on_flow(type: str, body: kopf.Body, **_: Any) -> None:
    RUNTIME.store.put("flow", dict(body), _deleted(type))
    if RUNTIME.triggers is not None:
        RUNTIME.triggers.flow_changed()
    if _deleted(type) or RUNTIME.kube is None:
        return
    await reconcile_flow(RUNTIME.kube, dict(body), datetime.now(UTC))
    if RUNTIME.reconciler is not None:  # executions waiting for this flow to appear
        namespace, name = key_of(body)
        for execution in RUNTIME.store.unfinished_executions_of(namespace, name):
            if not (execution.get("status") or {}).get("flowSpec"):
                RUNTIME.reconciler.enqueue(key_of(execution))


@kopf.on.event(API_GROUP, API_VERSION, "executions")
async def on_execution(type: str, body: kopf.Body, **_: Any) -> None:
    RUNTIME.store.put("execution", dict(body), _deleted(type))
    if RUNTIME.reconciler is None:
        return
    RUNTIME.reconciler.enqueue(key_of(body))
    parent = (body.get("spec") or {}).get("parent") or {}
    if parent.get("execution"):
        RUNTIME.reconciler.enqueue((key_of(body)[0], parent["execution"]))


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_EXECUTION: kopf.PRESENT})
async def on_job(type: str, body: kopf.Body, **_: Any) -> None:
    RUNTIME.store.put("job", dict(body), _deleted(type))
    _enqueue_owner(body)


@kopf.on.event("", "v1", "pods", labels={LABEL_EXECUTION: kopf.PRESENT})
async def on_pod(type: str, body: kopf.Body, **_: Any) -> None:
    RUNTIME.store.put("pod", dict(body), _deleted(type))
    _enqueue_owner(body)


def _enqueue_owner(body: kopf.Body) -> None:
    execution = (body.get("metadata", {}).get("labels") or {}).get(LABEL_EXECUTION)
    if execution and RUNTIME.reconciler is not None:
        RUNTIME.reconciler.enqueue((body["metadata"]["namespace"], execution))
