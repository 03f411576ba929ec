"""The operator's read cache: the objects its watches have delivered, with the indexes it needs.

Reconciles read from here, never with a GET: the watch streams keep it current, and the
operator updates it with the objects its own writes return, so it never acts on a state older
than its last write. Bodies are stored as received, less what the operator never reads
(``metadata.managedFields``, kubectl's last-applied annotation), with their keys and short
strings interned; they are never modified in place. With 10,000 finished executions cached this
is a third of the memory (benchmarks/README.md): the same few dozen keys
and states otherwise exist once per object.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from overture.api import LABEL_EXECUTION

Key = tuple[str, str]  # (namespace, name)
Body = Mapping[str, Any]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_SHORT = 64  # strings up to this length are interned (states, types, keys, names, timestamps)


def key_of(body: Body) -> Key:
    meta = body["metadata"]
    return meta.get("namespace") or "", meta["name"]


@dataclass
class Store:
    flows: dict[Key, Body] = field(default_factory=dict)
    executions: dict[Key, Body] = field(default_factory=dict)
    jobs: dict[Key, Body] = field(default_factory=dict)
    pods: dict[Key, Body] = field(default_factory=dict)
    jobs_by_execution: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    pods_by_job: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    executions_by_flow: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    children_by_parent: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))

    def put(self, kind: str, body: Body, deleted: bool = False) -> None:
        if not deleted:
            body = slim(body)
        key = key_of(body)
        ns = key[0]
        if kind == "flow":
            _put(self.flows, key, body, deleted)
        elif kind == "execution":
            older = self.executions.get(key)
            if older is not None and not deleted and _is_older(body, older):
                return  # our own write already stored a newer version
            _put(self.executions, key, body, deleted)
            spec = body.get("spec") or {}
            flow = (spec.get("flowRef") or {}).get("name")
            if flow:
                _index(self.executions_by_flow[(ns, flow)], key[1], deleted)
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
            job = (body["metadata"].get("labels") or {}).get("job-name") or (body["metadata"].get("labels") or {}).get(
                "batch.kubernetes.io/job-name"
            )
            if job:
                _index(self.pods_by_job[(ns, job)], key[1], deleted)

    def jobs_of(self, namespace: str, execution: str) -> list[Body]:
        names = self.jobs_by_execution.get((namespace, execution[:63]), set())
        return [self.jobs[(namespace, n)] for n in sorted(names) if (namespace, n) in self.jobs]

    def pod_of(self, namespace: str, job: str) -> Body | None:
        """The newest pod of a Job (backoffLimit 0 means there is one, unless it was replaced)."""
        pods = [self.pods[(namespace, n)] for n in self.pods_by_job.get((namespace, job), set())]
        pods = [p for p in pods if (namespace, p["metadata"]["name"]) in self.pods]
        if not pods:
            return None
        return max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    def executions_of(self, namespace: str, flow: str) -> list[Body]:
        names = self.executions_by_flow.get((namespace, flow), set())
        return [self.executions[(namespace, n)] for n in sorted(names) if (namespace, n) in self.executions]

    def children_of(self, namespace: str, parent: str) -> list[Body]:
        names = self.children_by_parent.get((namespace, parent), set())
        return [self.executions[(namespace, n)] for n in sorted(names) if (namespace, n) in self.executions]


def slim(body: Body) -> dict[str, Any]:
    """A compact copy of ``body`` for the cache: no managedFields or last-applied copy, interned strings."""
    meta = body.get("metadata")
    if isinstance(meta, Mapping):
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        annotations = meta.get("annotations")
        if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
            meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        body = {**body, "metadata": meta}
    compact: dict[str, Any] = _compact(body)
    return compact


def _compact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {sys.intern(k) if isinstance(k, str) else k: _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, str) and len(value) <= _SHORT:
        return sys.intern(value)
    return value


def _put(table: dict[Key, Body], key: Key, body: Body, deleted: bool) -> None:
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
