"""Flow triggers: start a flow when an execution of an upstream flow ends. Pure.

A ``flow`` trigger of flow D fires for an ended execution U when:

- U's flow is listed in ``flows`` (``namespace`` defaults to D's own);
- U's final state is in ``states``;
- U carries every label of ``labels`` (its metadata labels, or its ``spec.labels``);
- D is not suspended and the trigger not disabled;
- U is in D's namespace, unless the operator runs with
  ``OVERTURE_ALLOW_CROSS_NAMESPACE_FLOW_TRIGGERS=true``: a team must not be able to react to (and
  read the outputs of) another team's runs by naming their flow.

``{{ trigger.outputs }}`` is U's outputs by task id (top-level task runs, as a subflow task sees
its child's), plus ``trigger.execution``, ``trigger.flow``, ``trigger.namespace`` and
``trigger.state``. The downstream execution's name is computed from (D, trigger, U's namespace,
name, uid and ``spec.restarts``), so it starts once even if the end of U is seen twice, and once
more when U is restarted and ends again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from overture.api import (
    LABEL_TRIGGER,
    Flow,
    FlowTrigger,
    State,
    TriggerKind,
    is_terminal,
    published_outputs,
    to_timedelta,
)
from overture.api.times import parse_time
from overture.kube.store import Body
from overture.triggers.executions import build_execution, execution_name


def upstream_outputs(body: Body) -> dict[str, Any]:
    return published_outputs(body.get("status") or {})


def _flow_of(body: Body) -> str | None:
    name = ((body.get("spec") or {}).get("flowRef") or {}).get("name")
    return name if isinstance(name, str) else None


def _identity(body: Body) -> str:
    """An upstream ending: namespace, name, uid and ``spec.restarts`` (a restarted run that ends
    again is a new ending)."""
    meta = body["metadata"]
    restarts = (body.get("spec") or {}).get("restarts") or 0
    return f"{meta.get('namespace') or ''}/{meta['name']}/{meta.get('uid')}/{restarts}"


def all_ended(flow: Flow, trigger: FlowTrigger, executions: Iterable[Body], now: datetime) -> list[Body] | None:
    """With ``require: all``: the newest ending of each listed flow, if every one ended in
    ``states`` (with ``labels``) within ``within`` and after this trigger last fired (so each
    firing waits for all of them to end again); None while one is missing."""
    own = flow.metadata.namespace or ""
    since = now - to_timedelta(trigger.within)
    fired = [
        parse_time((b.get("metadata") or {}).get("creationTimestamp"))
        for b in executions
        if (b.get("metadata") or {}).get("namespace", "") == own
        and ((b.get("metadata") or {}).get("labels") or {}).get(LABEL_TRIGGER) == trigger.id
        and _flow_of(b) == flow.metadata.name
    ]
    last_fired = max((t for t in fired if t is not None), default=None)
    if last_fired is not None:
        since = max(since, last_fired)
    newest: dict[tuple[str, str], tuple[datetime, Body]] = {}
    wanted = {((u.namespace or own), u.name) for u in trigger.flows}
    for body in executions:
        status = body.get("status") or {}
        ended = parse_time(status.get("endDate"))
        where = ((body.get("metadata") or {}).get("namespace") or "", _flow_of(body) or "")
        if where not in wanted or ended is None or ended < since or status.get("state") not in trigger.states:
            continue
        if not all(_labels(body).get(k) == v for k, v in trigger.labels.items()):
            continue
        if where not in newest or ended > newest[where][0]:
            newest[where] = (ended, body)
    if set(newest) != wanted:
        return None
    return [newest[key][1] for key in sorted(newest)]


def _labels(body: Body) -> dict[str, str]:
    spec_labels = (body.get("spec") or {}).get("labels") or {}
    return {**spec_labels, **(body["metadata"].get("labels") or {})}


def matching_triggers(
    flows: Iterable[Flow], upstream: Body, allow_cross_namespace: bool = False
) -> list[tuple[Flow, FlowTrigger]]:
    """Every (flow, trigger) that the end of ``upstream`` fires, in a stable order."""
    meta = upstream["metadata"]
    namespace = meta.get("namespace") or ""
    flow_name = ((upstream.get("spec") or {}).get("flowRef") or {}).get("name")
    state_text = (upstream.get("status") or {}).get("state")
    if not flow_name or not is_terminal(state_text):
        return []
    state = State(state_text)
    labels = _labels(upstream)
    found: list[tuple[Flow, FlowTrigger]] = []
    for flow in flows:
        own = flow.metadata.namespace or ""
        if flow.spec.suspend or (own != namespace and not allow_cross_namespace):
            continue
        for trigger in flow.spec.triggers:
            if not isinstance(trigger, FlowTrigger) or trigger.disabled or state not in trigger.states:
                continue
            listed = any(u.name == flow_name and (u.namespace or own) == namespace for u in trigger.flows)
            if listed and all(labels.get(k) == v for k, v in trigger.labels.items()):
                found.append((flow, trigger))
    return sorted(found, key=lambda p: (p[0].metadata.namespace or "", p[0].metadata.name, p[1].id))


def build_downstream(flow: Flow, trigger: FlowTrigger, upstream: Body, group: Sequence[Body] = ()) -> dict[str, Any]:
    """The downstream Execution; raises ``TemplateError`` if the trigger's inputs do not render.

    ``group``: with ``require: all``, the ending of every listed flow (``upstream`` among them);
    the name then comes from all of them, and ``trigger.flows`` holds each one's state and outputs."""
    meta = upstream["metadata"]
    namespace, name = meta.get("namespace") or "", meta["name"]
    status = upstream.get("status") or {}
    data: dict[str, Any] = {
        "outputs": upstream_outputs(upstream),
        "execution": name,
        "flow": _flow_of(upstream),
        "namespace": namespace,
        "state": status.get("state"),
    }
    key = f"flow/{flow.metadata.name}/{trigger.id}/{_identity(upstream)}"
    if group:
        data["flows"] = {
            _flow_of(body): {
                "execution": body["metadata"]["name"],
                "state": (body.get("status") or {}).get("state"),
                "outputs": upstream_outputs(body),
            }
            for body in group
        }
        key = f"flow-all/{flow.metadata.name}/{trigger.id}/" + "|".join(sorted(_identity(b) for b in group))
    return build_execution(
        flow,
        trigger,
        name=execution_name(flow.metadata.name, trigger.id, "", key),
        kind=TriggerKind.FLOW,
        date=status.get("endDate"),
        data=data,
    )
