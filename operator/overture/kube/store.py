"""The operator's read cache: the objects its watches have delivered, with the indexes it needs.

Reconciles read from here, never with a GET: the watch streams keep it current, and the
operator updates it with the objects its own writes return, so it never acts on a state older
than its last write. Bodies are stored as received, less what the operator never reads
(``metadata.managedFields``, kubectl's last-applied annotation; of a task's Job and pod, all but
the few fields ``kube/jobs.observe_job`` reads: ``cached_job``, ``cached_pod``; of a Job the
operator manages, whether it ended: ``kube/managed_jobs.cached_managed_job``), with their keys
and short strings interned; they are never modified in place. With 10,000 finished executions cached this
is a third of the memory (benchmarks/README.md): the same few dozen keys
and states otherwise exist once per object.

Finished executions (``ExecutionTable``) are kept packed: their JSON, compressed, with their
state, end and task runs' states beside it (for /metrics, resyncs and retention). Nothing
reconciles them; replays, flow triggers and a parent's view of its children read a fresh copy,
decoded on demand. About 0.6 KiB instead of 4.8 KiB each.

Values nested deeper than ``KEPT_DEPTH`` are cut (the rest replaced by ``CUT``): the apiserver
takes JSON up to ``APISERVER_DEPTH`` levels, and a tenant's Execution with inputs 1,200 deep once
crashed the operator in every recursive walk. The API models refuse anything deeper than
``api.MAX_DEPTH`` (less than ``KEPT_DEPTH``), so a cut object fails with its field named and
never runs on what is left of it.
"""

from __future__ import annotations

import json
import sys
import zlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from overture.api import LABEL_EXECUTION, attempt_of_pod, is_terminal, task_run_counts
from overture.api.times import parse_time
from overture.kube.jobs import LABEL_VALUE_MAX, cached_job, cached_pod
from overture.kube.managed_jobs import cached_managed_job, is_managed

Key = tuple[str, str]  # (namespace, name)
K = TypeVar("K", bound=tuple[str, ...])
TEMPLATE_KINDS = ("TaskTemplate", "ClusterTaskTemplate")  # as Store.put names them: their API kinds
Body = Mapping[str, Any]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_SHORT = 64  # strings up to this length are interned (states, types, keys, names, timestamps)
APISERVER_DEPTH = 10_000  # the deepest JSON kube-apiserver accepts ("exceeded max depth" beyond)
KEPT_DEPTH = 100
CUT = f"(nested deeper than {KEPT_DEPTH} levels: cut)"


def key_of(body: Body) -> Key:
    meta = body["metadata"]
    return meta.get("namespace") or "", meta["name"]


@dataclass(frozen=True, slots=True)
class Packed:
    state: str
    end: datetime | None  # status.endDate
    task_counts: tuple[tuple[str, int], ...]  # task runs by state
    blob: bytes  # zlib-compressed JSON of the body
    version: int | None = None  # metadata.resourceVersion (etcd's revision of its last write), if numeric


class ExecutionTable(MutableMapping[Key, Body]):
    """Executions by key: unfinished ones as they are, finished ones packed (see the module doc)."""

    def __init__(self) -> None:
        self._live: dict[Key, Body] = {}
        self._packed: dict[Key, Packed] = {}

    def __getitem__(self, key: Key) -> Body:
        body = self._live.get(key)
        if body is not None:
            return body
        packed: dict[str, Any] = json.loads(zlib.decompress(self._packed[key].blob))
        return packed

    def __setitem__(self, key: Key, body: Body) -> None:
        packed = _pack(body)
        if packed is None:
            self._live[key] = body
            self._packed.pop(key, None)
        else:
            self._packed[key] = packed
            self._live.pop(key, None)

    def __delitem__(self, key: Key) -> None:
        if self._live.pop(key, None) is None:
            del self._packed[key]

    def __contains__(self, key: object) -> bool:
        return key in self._live or key in self._packed

    def __iter__(self) -> Iterator[Key]:
        yield from list(self._live)
        yield from list(self._packed)

    def __len__(self) -> int:
        return len(self._live) + len(self._packed)

    def unfinished(self) -> list[Key]:
        return list(self._live)

    def live(self, key: Key) -> Body | None:
        """The body if the execution is unfinished (None if finished or unknown): no decoding."""
        return self._live.get(key)

    def packed(self, key: Key) -> Packed | None:
        return self._packed.get(key)

    def states(self) -> Iterator[tuple[str | None, Mapping[str, int]]]:
        """(state, task runs by state) of every execution, without decoding the finished ones."""
        for body in list(self._live.values()):
            status = body.get("status") or {}
            yield status.get("state"), task_run_counts(status)
        for packed in list(self._packed.values()):
            yield packed.state, dict(packed.task_counts)


def _pack(body: Body) -> Packed | None:
    """A finished execution, packed; None if it may still change (unfinished, or a restart asked)."""
    status = body.get("status") or {}
    state = status.get("state")
    if not is_terminal(state) or body["metadata"].get("deletionTimestamp"):
        return None
    if int((body.get("spec") or {}).get("restarts") or 0) > int(status.get("restarts") or 0):
        return None
    counts = tuple((sys.intern(state), count) for state, count in task_run_counts(status).items())
    blob = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 1)
    end = status.get("endDate")
    version = _revision(body)
    return Packed(sys.intern(state), parse_time(end) if isinstance(end, str) else None, counts, blob, version)


def _revision(body: Body) -> int | None:
    try:
        return int(body["metadata"]["resourceVersion"])
    except (KeyError, ValueError, TypeError):
        return None


@dataclass
class Store:
    flows: dict[Key, Body] = field(default_factory=dict)
    executions: ExecutionTable = field(default_factory=ExecutionTable)
    jobs: dict[Key, Body] = field(default_factory=dict)
    pods: dict[Key, Body] = field(default_factory=dict)
    jobs_by_execution: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    pods_by_job: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    executions_by_flow: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    queued_by_flow: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))  # state QUEUED
    children_by_parent: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    # TaskTemplates and ClusterTaskTemplates by (kind, namespace, name); the revision counts their
    # changes, so what was read against them (kube/flow_cache.py) knows when to read again
    templates: dict[tuple[str, str, str], Body] = field(default_factory=dict)
    templates_revision: int = 0

    def put(self, kind: str, body: Body, deleted: bool = False) -> None:
        if kind == "job":
            body = cached_managed_job(body) if is_managed(body) else cached_job(body)
        elif kind == "pod":
            body = cached_pod(body)
        if not deleted:
            body = slim(body)
        key = key_of(body)
        ns = key[0]
        if kind in TEMPLATE_KINDS:
            _put(self.templates, (kind, *key), body, deleted)
            self.templates_revision += 1
        elif kind == "flow":
            _put(self.flows, key, body, deleted)
        elif kind == "execution":
            if not deleted and self._is_older_execution(key, body):
                return  # our own write already stored a newer version
            _put(self.executions, key, body, deleted)
            spec = body.get("spec") or {}
            flow = (spec.get("flowRef") or {}).get("name")
            if flow:
                _index(self.executions_by_flow[(ns, flow)], key[1], deleted)
                queued = not deleted and (body.get("status") or {}).get("state") == "QUEUED"
                _index(self.queued_by_flow[(ns, flow)], key[1], not queued)
            parent = (spec.get("parent") or {}).get("execution")
            if parent:
                _index(self.children_by_parent[(ns, parent)], key[1], deleted)
        elif kind == "job":
            _put(self.jobs, key, body, deleted)
            execution = (body["metadata"].get("labels") or {}).get(LABEL_EXECUTION)
            if execution:
                _index(self.jobs_by_execution[(ns, execution)], key[1], deleted)
        elif kind == "pod":
            _put(self.pods, key, body, deleted)
            job = job_of_pod(body)
            if job:
                _index(self.pods_by_job[(ns, job)], key[1], deleted)

    def put_created(self, kind: str, body: Body) -> None:
        """The answer to the operator's own Job (or pod: the ``pod`` task runtime) create, cached
        unless the watch showed it first.

        Without it a Job the watch is slow to show (over 15 s with two replicas on a busy API
        server) is created again (``engine.kinds.UNSEEN_JOB_GRACE``: AlreadyExists, a wasted
        request). A watch event that came before the answer is as new or newer: it stays.
        """
        if key_of(body) not in (self.pods if kind == "pod" else self.jobs):
            self.put(kind, body)

    def holds_execution(self, body: Body) -> bool:
        """Whether this very version of an execution is cached (same uid and resourceVersion).

        The operator stores what its status writes return, so a watch event for one of its writes
        that comes after the write's answer is known as its echo. A finished one is packed and
        compared by its resourceVersion alone (etcd's revision: no two writes share one), undecoded:
        the echo of an execution's last write is the most common event of all.
        """
        meta = body["metadata"]
        key = key_of(body)
        if not meta.get("resourceVersion"):
            return False
        known = self.executions.live(key)
        if known is None:
            packed = self.executions.packed(key)
            return packed is not None and packed.version is not None and packed.version == _revision(body)
        known_meta = known["metadata"]
        return (meta.get("uid"), meta["resourceVersion"]) == (known_meta.get("uid"), known_meta.get("resourceVersion"))

    def _is_older_execution(self, key: Key, body: Body) -> bool:
        """Whether ``body`` is older than the cached version (a packed one is not decoded to know)."""
        live = self.executions.live(key)
        if live is not None:
            return _is_older(body, live)
        packed = self.executions.packed(key)
        if packed is None:
            return False
        if packed.version is None:
            return _is_older(body, self.executions[key])
        revision = _revision(body)  # etcd's revisions only grow: a recreated object's is higher too
        return revision is not None and revision < packed.version

    def jobs_of(self, namespace: str, execution: str) -> list[Body]:
        names = self.jobs_by_execution.get((namespace, execution[:LABEL_VALUE_MAX]), set())
        return [self.jobs[(namespace, n)] for n in sorted(names) if (namespace, n) in self.jobs]

    def pod_of(self, namespace: str, job: str) -> Body | None:
        """The newest pod of a Job (backoffLimit 0 means there is one, unless it was replaced), or
        an attempt's own pod (the ``pod`` task runtime)."""
        pods = [self.pods[(namespace, n)] for n in self.pods_by_job.get((namespace, job), set())]
        pods = [p for p in pods if (namespace, p["metadata"]["name"]) in self.pods]
        if not pods:
            return None
        return max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    def unfinished_executions_of(self, namespace: str, flow: str) -> list[Body]:
        """The flow's executions that may still change, without decoding the finished ones."""
        names = sorted(self.executions_by_flow.get((namespace, flow), set()))
        return [body for body in (self.executions.live((namespace, n)) for n in names) if body is not None]

    def queued_executions_of(self, namespace: str, flow: str) -> list[str]:
        """The names of the flow's QUEUED executions (an index: an ending execution wakes them)."""
        return sorted(self.queued_by_flow.get((namespace, flow), set()))

    def finished_executions_of(self, namespace: str, flow: str) -> list[tuple[str, Packed]]:
        """(name, packed) of the flow's finished executions, without decoding them."""
        names = sorted(self.executions_by_flow.get((namespace, flow), set()))
        found = ((n, self.executions.packed((namespace, n))) for n in names)
        return [(n, packed) for n, packed in found if packed is not None]

    def children_of(self, namespace: str, parent: str) -> list[Body]:
        names = self.children_by_parent.get((namespace, parent), set())
        return [self.executions[(namespace, n)] for n in sorted(names) if (namespace, n) in self.executions]


def job_of_pod(body: Body) -> str | None:
    """The name of the attempt a task pod runs: its Job's, or its own (the ``pod`` task runtime)."""
    return attempt_of_pod(body["metadata"])


def slim(body: Body) -> dict[str, Any]:
    """A compact copy of ``body`` for the cache: no managedFields or last-applied copy, interned strings."""
    meta = body.get("metadata")
    if isinstance(meta, Mapping):
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        annotations = meta.get("annotations")
        if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
            meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        body = {**body, "metadata": meta}
    compact: dict[str, Any] = _compact(body, 0)
    return compact


def _compact(value: Any, depth: int) -> Any:
    if isinstance(value, Mapping | list) and depth >= KEPT_DEPTH:
        return CUT
    if isinstance(value, Mapping):
        return {sys.intern(k) if isinstance(k, str) else k: _compact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v, depth + 1) for v in value]
    if isinstance(value, str) and len(value) <= _SHORT:
        return sys.intern(value)
    return value


def _put(table: MutableMapping[K, Body], key: K, body: Body, deleted: bool) -> None:
    if deleted:
        table.pop(key, None)
    else:
        table[key] = body


def _index(names: set[str], name: str, deleted: bool) -> None:
    if deleted:
        names.discard(name)
    else:
        names.add(name)


def _is_older(new: Body, old: Body) -> bool:
    """resourceVersions are opaque, but a uid change means a new object; same uid: compare as ints."""
    if new["metadata"].get("uid") != old["metadata"].get("uid"):
        return False
    try:
        return int(new["metadata"]["resourceVersion"]) < int(old["metadata"]["resourceVersion"])
    except (KeyError, ValueError, TypeError):
        return False
