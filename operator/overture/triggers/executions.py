"""The Executions triggers create: deterministic names and manifests. Pure.

A name is ``<flow>-<trigger>-<what fired>-<hash>``: readable in ``kubectl get executions``, and
the hash of the full key keeps two flows whose names run together (``a-b`` + ``c`` and ``a`` +
``b-c``) apart. The same key always gives the same name, which is what makes a tick, an upstream
execution, an object event or an idempotency key fire once.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from overture.api import (
    LABEL_TRIGGER,
    AnyTrigger,
    ExecutionSpec,
    Flow,
    ObjectRef,
    ReplaySource,
    TriggerInfo,
    TriggerKind,
    new_execution,
)
from overture.engine.context import trigger_context
from overture.templating import TemplateError, is_truthy, render, render_value
from overture.triggers.ticks import zone

MAX_NAME = 63
_HASH = 8


class ConditionFalse(Exception):  # noqa: N818 - a verdict, not a failure
    """A trigger's ``condition`` rendered false: this event or tick starts nothing, on purpose."""


def stamp(tick: datetime) -> str:
    """``20260131010000``: a tick in UTC, as it appears in execution names."""
    return tick.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def execution_name(flow: str, trigger_id: str, tail: str, key: str) -> str:
    """``<flow>-<trigger>-<tail>-<hash of key>``, the prefix shortened to fit 63 characters."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:_HASH]
    clean_tail = _dns(tail)
    room = MAX_NAME - len(digest) - 1 - (len(clean_tail) + 1 if clean_tail else 0)
    prefix = _dns(f"{flow}-{trigger_id}")[: max(room, 1)].rstrip("-")
    return "-".join(p for p in (prefix, clean_tail, digest) if p)


def _dns(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", name)


def schedule_name(flow: str, trigger_id: str, tick: datetime, backfill: bool = False) -> str:
    """One name per (flow, trigger, tick); a backfill's ticks have their own (``-bf-``)."""
    kind = "backfill" if backfill else "schedule"
    tail = f"bf-{stamp(tick)}" if backfill else stamp(tick)
    return execution_name(flow, trigger_id, tail, f"{kind}/{flow}/{trigger_id}/{stamp(tick)}")


def local_date(tick: datetime, timezone: str) -> str:
    """RFC 3339 with the zone's offset, so ``{{ trigger.date | date('%Y-%m-%d') }}`` is the local day."""
    local = tick.astimezone(zone(timezone))
    return local.isoformat(timespec="seconds")


def build_execution(
    flow: Flow,
    trigger: AnyTrigger,
    *,
    name: str,
    kind: TriggerKind,
    date: str | None,
    data: Any = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Execution manifest; ``trigger.inputs`` rendered with ``{{ trigger.* }}``.

    Raises ``ConditionFalse`` when the trigger's ``condition`` renders false (nothing to start),
    ``templating.TemplateError`` when it or an input template cannot be rendered.
    """
    info = TriggerInfo(type=kind, id=trigger.id, date=date, data=data)
    context = {
        "trigger": trigger_context(ExecutionSpec(flow_ref=ObjectRef(name=flow.metadata.name), trigger=info)),
        "vars": dict(flow.spec.variables),
        "flow": {"name": flow.metadata.name, "namespace": flow.metadata.namespace},
    }
    if trigger.condition is not None:
        try:
            rendered = render(trigger.condition, context)
        except TemplateError as exc:
            raise TemplateError(f"condition: {exc}") from None
        if not is_truthy(rendered):
            raise ConditionFalse(f"trigger {trigger.id!r}: condition rendered {rendered.strip()[:80]!r}")
    try:
        inputs = render_value(dict(trigger.inputs), context)
    except TemplateError as exc:
        raise TemplateError(f"inputs: {exc}") from None
    spec = ExecutionSpec(flow_ref=ObjectRef(name=flow.metadata.name), inputs=inputs, trigger=info)
    labels = {LABEL_TRIGGER: trigger.id, **(labels or {})}
    return new_execution(name, flow.metadata.namespace, spec, labels).to_manifest()


def manual_execution(name: str, namespace: str, flow: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The Execution a person starts with typed ``inputs`` (``overture run``, the UI)."""
    spec = ExecutionSpec(
        flow_ref=ObjectRef(name=flow), inputs=dict(inputs), trigger=TriggerInfo(type=TriggerKind.MANUAL)
    )
    return new_execution(name, namespace, spec).to_manifest()


def replay_execution(name: str, source: Mapping[str, Any], from_task: str) -> dict[str, Any]:
    """A new Execution of ``source``'s flow and inputs that reuses its task runs before ``from_task``
    (``overture replay``, the UI); ``source`` is the Execution object as read."""
    meta, spec = source["metadata"], source.get("spec") or {}
    replay = ReplaySource(execution=meta["name"], from_task=from_task)
    flow_ref = ObjectRef(name=spec["flowRef"]["name"])
    replayed = ExecutionSpec(
        flow_ref=flow_ref, inputs=spec.get("inputs") or {}, trigger=TriggerInfo(type=TriggerKind.REPLAY), replay=replay
    )
    return new_execution(name, meta.get("namespace"), replayed).to_manifest()


def manual_name(flow: str) -> str:
    """A fresh name for a run a person starts: nothing makes two of them the same run."""
    return f"{flow[:50].rstrip('-')}-{uuid.uuid4().hex[:6]}"
