"""The Flow reconcile: a Flow's status says whether it can run (``Ready``), and how many tasks it has.

``flow_status`` is pure (the Flow's body and the time in, the status it should have out); the
reconcile writes it with one merge patch when it changed, and posts an ``Invalid`` Event naming
every problem by its path. Flow events are few, so this runs in the watch handler itself.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from overture.api import Condition, ConditionStatus, find_condition
from overture.api.times import millis
from overture.kube.client import Kube
from overture.kube.errors import ApiError
from overture.kube.store import Body
from overture.validation import FlowReading

log = logging.getLogger("overture.controller")


def flow_status(body: Body, now: datetime, reading: FlowReading) -> tuple[dict[str, Any], list[str]]:
    """The status a Flow should have (conditions, counts) and its problems, from ``body`` as read; pure."""
    generation = body["metadata"].get("generation")
    problems = list(reading.problems)
    flow = reading.parsed  # an invalid flow that parses still shows its task count and triggers
    task_count = len(flow.spec.tasks) if flow is not None else None
    summary = ",".join(dict.fromkeys(t.type for t in flow.spec.triggers)) or None if flow is not None else None
    current = body.get("status") or {}
    previous = find_condition(
        tuple(
            Condition.model_validate(c) for c in current.get("conditions") or [] if isinstance(c, dict) and "type" in c
        ),
        "Ready",
    )
    ready = ConditionStatus.FALSE if problems else ConditionStatus.TRUE
    since = previous.last_transition_time if previous is not None and previous.status == ready else millis(now)
    condition = Condition(
        type="Ready",
        status=ready,
        reason="Invalid" if problems else "Valid",
        message="; ".join(problems)[:4000] if problems else "The flow is valid",
        last_transition_time=since,
        observed_generation=generation,
    )
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": [condition.to_wire()],
        "taskCount": task_count,
        "triggerSummary": summary,
    }
    return status, problems


def flow_status_changed(body: Body, desired: dict[str, Any]) -> bool:
    current = body.get("status") or {}
    return any(current.get(k) != v for k, v in desired.items())


async def reconcile_flow(kube: Kube, body: Body, now: datetime, reading: FlowReading) -> None:
    desired, problems = flow_status(body, now, reading)
    if not flow_status_changed(body, desired):
        return
    namespace, name = body["metadata"].get("namespace") or "", body["metadata"]["name"]
    try:
        await kube.patch_status("flows", namespace, name, desired)
    except ApiError as exc:
        log.warning("Could not update Flow status: flow=%s/%s error=%s", namespace, name, exc)
        return
    if problems:
        log.info("Flow is invalid: flow=%s/%s problems=%d", namespace, name, len(problems))
        await kube.emit_event(dict(body), "Warning", "Invalid", "; ".join(problems))
    else:
        log.info("Flow is ready: flow=%s/%s", namespace, name)
