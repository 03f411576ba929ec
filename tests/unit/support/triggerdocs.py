"""Shared test doubles for the trigger tests: flow bodies, a fake kube client, a settable clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from overture.kube.errors import TransientError
from overture.kube.store import Store

NOOP = [{"id": "noop", "type": "shell", "commands": ["true"]}]


def flow_body(
    name: str,
    triggers: list[dict[str, Any]],
    namespace: str = "ns",
    inputs: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "generation": 1,
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"tasks": NOOP, "inputs": inputs or [], "triggers": triggers, **spec},
    }
    if status is not None:
        body["status"] = status
    return body


def execution_body(name: str, flow: str, chain: str | None = None, **status: Any) -> dict[str, Any]:
    """An Execution of ``flow`` in ``ns`` as the cache holds it, labelled with its flow, with
    ``chain`` as its trigger chain annotation and ``status`` (none: not started)."""
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"u-{name}", "labels": {"overture.dev/flow": flow}}
    if chain is not None:
        meta["annotations"] = {"overture.dev/trigger-chain": chain}
    body = {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Execution",
        "metadata": meta,
        "spec": {"flowRef": {"name": flow}},
    }
    return body | ({"status": status} if status else {})


def store_with(*bodies: dict[str, Any]) -> Store:
    store = Store()
    for body in bodies:
        store.put("flow", body)
    return store


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeKube:
    """The calls triggers make, recorded; ``fail_creates`` makes that many creates transient errors."""

    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    patches: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    secrets: dict[tuple[str, str, str], str] = field(default_factory=dict)
    secret_reads: int = 0
    fail_creates: int = 0
    store: Store | None = None

    async def create_execution(self, namespace: str, manifest: dict[str, Any]) -> bool:
        if self.fail_creates:
            self.fail_creates -= 1
            raise TransientError(503, "busy")
        name = manifest["metadata"]["name"]
        if name in self.created:
            return False
        self.created[name] = manifest
        return True

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append((namespace, name, status))
        if self.store is not None:  # as the watch would deliver it
            body = dict(self.store.flows[(namespace, name)])
            body["status"] = {**(body.get("status") or {}), **status}
            version = int(body["metadata"].get("resourceVersion") or 0) + 1
            body["metadata"] = {**body["metadata"], "resourceVersion": str(version)}
            self.store.put("flow", body)

    async def emit_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))

    async def read_secret_value(self, namespace: str, name: str, key: str) -> str | None:
        self.secret_reads += 1
        return self.secrets.get((namespace, name, key))
