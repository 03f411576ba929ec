"""Trigger chains: which flows' runs led to an Execution, so that triggers cannot loop. Pure.

An Execution started by a flow trigger, a resource trigger (on an object an execution made) or a
subflow task carries the annotation ``overture.dev/trigger-chain``: the flows whose executions
led to it, oldest first, each as ``<namespace>/<flow>``, comma-separated
(``team/raw-load,team/report``). It is the upstream execution's chain plus the upstream's own
flow; a run started by a person, a schedule or a webhook has none (it starts a chain).

A trigger refuses to fire (``loop_problem``) when its flow is already in the chain it would
extend, so every flow runs at most once per chain (``a -> b -> a`` stops before the second
``a``; a flow triggering itself on its own end does not fire), and when the new chain would
hold more than ``limit`` flows (``OVERTURE_TRIGGER_CHAIN_LIMIT``, 10 by default): a line of
distinct flows is allowed up to there. The refusal is a ``TriggerLoop`` Warning Event on the
flow that was not started; the rate cap per trigger stays as the net below (it also bounds
loops through objects no execution is known to have made, e.g. a ConfigMap a task writes).

Why an annotation: it is set once when the Execution is created (a status cannot be written on
create) and read by ``kubectl describe``. Only the operator writes it: the chart's admission policy
refuses it on an Execution anyone else creates, and refuses adding, changing or removing it to
anyone but the operator (removing it from a run would let a loop run on past it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from overture.api import API_GROUP, LABEL_EXECUTION, LABEL_FLOW

ANNOTATION = "overture.dev/trigger-chain"
DEFAULT_LIMIT = 10


def chain_of(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The chain an Execution (a plain object) carries; () when none."""
    return chain_in((body.get("metadata") or {}).get("annotations") or {})


def chain_in(annotations: Mapping[str, Any]) -> tuple[str, ...]:
    """The chain in an object's annotations; () when none."""
    text = annotations.get(ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(text, str):
        return ()
    return tuple(entry.strip() for entry in text.split(",") if entry.strip())


def flow_key(namespace: str, flow: str) -> str:
    return f"{namespace}/{flow}"


def followed_by(chain: tuple[str, ...], namespace: str, flow: str) -> tuple[str, ...]:
    """``chain`` then ``flow``: the chain of what a run of ``flow`` with ``chain`` starts (a
    subflow's child, for one)."""
    key = flow_key(namespace, flow)
    return chain if key in chain else (*chain, key)


def _flow_of(body: Mapping[str, Any]) -> str | None:
    name = ((body.get("spec") or {}).get("flowRef") or {}).get("name")
    if not isinstance(name, str):
        name = ((body.get("metadata") or {}).get("labels") or {}).get(LABEL_FLOW)
    return name if isinstance(name, str) and name else None


def extended(upstreams: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The chain of an Execution that ``upstreams`` (ended or running executions) lead to: their
    chains, then their own flows, each flow once, in order of first appearance."""
    seen: dict[str, None] = {}
    bodies = list(upstreams)
    for body in bodies:
        seen.update(dict.fromkeys(chain_of(body)))
    for body in bodies:
        flow = _flow_of(body)
        if flow is not None:
            seen[flow_key((body.get("metadata") or {}).get("namespace") or "", flow)] = None
    return tuple(seen)


def behind_object(obj: Mapping[str, Any], execution: Callable[[str, str], Mapping[str, Any] | None]) -> tuple[str, ...]:
    """The chain a resource trigger extends when ``obj`` fires it: for an Execution, its chain and
    flow; for what an execution made (Jobs and pods, labelled with it), that execution's chain
    and flow (``execution(namespace, name)`` finds it, or only its flow label counts); for any
    other object, () (who made it is not known)."""
    meta = obj.get("metadata") or {}
    if obj.get("kind") == "Execution" and str(obj.get("apiVersion") or "").startswith(f"{API_GROUP}/"):
        return extended([obj])
    labels = meta.get("labels") or {}
    flow = labels.get(LABEL_FLOW)
    if not isinstance(flow, str) or not flow:
        return ()
    namespace = meta.get("namespace") or ""
    maker = execution(namespace, labels[LABEL_EXECUTION]) if labels.get(LABEL_EXECUTION) else None
    return extended([maker]) if maker is not None else (flow_key(namespace, flow),)


def loop_problem(namespace: str, flow: str, chain: tuple[str, ...], limit: int) -> str | None:
    """Why ``flow`` must not start from ``chain`` (None: it may), for the Warning Event."""
    key = flow_key(namespace, flow)
    if key in chain:
        path = " -> ".join((*chain[chain.index(key) :], key))
        return f"not started: the triggers loop ({path}); each flow runs once per chain of triggers"
    if len(chain) > limit:
        return (
            f"not started: {len(chain)} flows triggered one another before it ({' -> '.join(chain)}), "
            f"more than a chain may hold (OVERTURE_TRIGGER_CHAIN_LIMIT={limit})"
        )
    return None


def with_chain(manifest: dict[str, Any], chain: tuple[str, ...]) -> dict[str, Any]:
    """``manifest`` (an Execution to create) annotated with ``chain``; unchanged when it is empty."""
    if chain:
        metadata = manifest.setdefault("metadata", {})
        metadata["annotations"] = {**(metadata.get("annotations") or {}), ANNOTATION: ",".join(chain)}
    return manifest
