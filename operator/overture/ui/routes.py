"""The JSON endpoints under ``/api``. Every one acts as the caller (``request.state.caller``).

Paths name the namespace, so RBAC is checked by the API server on the namespace the person asked
for; ``_all`` lists across namespaces (which needs a cluster-wide grant). Answers:
200/201 with JSON; 4xx with ``{"error": message, "problems": [...]}`` a person can act on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from overture.api import (
    GROUP_VERSION,
    STEERING_ACTIONS,
    Flow,
    SpecError,
    SteeringError,
    TemplateKind,
    coerce_inputs,
    parse_flow,
    restore_runs,
    steering_patch,
)
from overture.documents import YamlDocument, read_yaml
from overture.template_tasks import Catalog, uses_templates
from overture.topology import build_graph, describe
from overture.triggers.backfills import BackfillError, backfill_label, build_backfill, plan
from overture.triggers.executions import manual_execution, manual_name, replay_execution
from overture.ui import views
from overture.ui.auth import Caller
from overture.ui.kubeapi import KubeError, UserApi, objects_path
from overture.validation import flow_problems, read_flow

ALL = "_all"
FIELD_MANAGER = "overture-ui"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
MAX_BODY = 1024 * 1024
Handler = Callable[[Request], Awaitable[JSONResponse]]


class RefusedError(Exception):
    """A request we answer with ``status`` and a message (and, for flows, the problems by path)."""

    def __init__(self, status: int, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        self.status, self.message, self.problems = status, message, problems or []
        super().__init__(message)


def _api(request: Request) -> UserApi:
    caller: Caller = request.state.caller
    return caller.api


def _namespace(request: Request) -> str | None:
    namespace = str(request.path_params["namespace"])
    return None if namespace == ALL else namespace


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise RefusedError(413, f"the request body is {len(raw)} bytes; at most {MAX_BODY} are accepted")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise RefusedError(400, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise RefusedError(400, "the request body must be a JSON object")
    return body


def endpoint(handler: Handler) -> Handler:
    """Turn our refusals and the API server's into JSON answers with the same status."""

    async def run(request: Request) -> JSONResponse:
        try:
            return await handler(request)
        except RefusedError as exc:
            return JSONResponse({"error": exc.message, "problems": exc.problems}, exc.status)
        except KubeError as exc:
            status = exc.status if 400 <= exc.status < 600 else 502
            causes = [
                {"path": c.get("field"), "message": f"{c.get('field') or ''}: {c.get('message')}".lstrip(": ")}
                for c in (exc.details or {}).get("causes") or []
            ]
            return JSONResponse({"error": exc.message, "problems": causes}, status)

    return run


async def _list(api: UserApi, plural: str, namespace: str | None, selector: str = "") -> list[dict[str, Any]]:
    """Every object, a page of 500 at a time (what a 10,000-execution namespace needs)."""
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        query = [("limit", "500")] + ([("continue", token)] if token else [])
        if selector:
            query.append(("labelSelector", selector))
        page = await api.request("GET", objects_path(plural, namespace), query)
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


# --- who, where -------------------------------------------------------------------------------


async def whoami(request: Request) -> JSONResponse:
    caller: Caller = request.state.caller
    settings = request.app.state.settings
    return JSONResponse(
        {"user": caller.user, "groups": caller.groups, "mode": settings.mode, "namespace": settings.namespace}
    )


@endpoint
async def namespaces(request: Request) -> JSONResponse:
    """The namespaces the caller may list; if they may not, the server's default one only."""
    try:
        listing = await _api(request).request("GET", "/api/v1/namespaces")
    except KubeError as exc:
        if exc.status != 403:
            raise
        return JSONResponse({"namespaces": [request.app.state.settings.namespace], "listable": False})
    names = sorted(str(n["metadata"]["name"]) for n in listing.get("items") or [])
    return JSONResponse({"namespaces": names, "listable": True})


async def schema(request: Request) -> JSONResponse:
    """The Flow CRD's schema as JSON Schema (``overture schema`` writes the same), for the editor."""
    return JSONResponse(request.app.state.flow_schema)


# --- flows ------------------------------------------------------------------------------------


@endpoint
async def flows(request: Request) -> JSONResponse:
    items = await _list(_api(request), "flows", _namespace(request))
    return JSONResponse({"items": [views.flow_row(f) for f in items]})


@endpoint
async def flow(request: Request) -> JSONResponse:
    namespace, name = str(request.path_params["namespace"]), str(request.path_params["name"])
    obj = await _api(request).request("GET", objects_path("flows", namespace, name))
    return JSONResponse(_flow_answer(obj))


def _flow_answer(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    return {
        "row": views.flow_row(obj),
        "yaml": views.flow_source(obj),
        "gitops": views.gitops_owner(obj),
        "inputs": spec.get("inputs") or [],
        "triggers": [t for t in spec.get("triggers") or [] if t.get("type") == "schedule"],
        "status": obj.get("status") or {},
        "resourceVersion": (obj.get("metadata") or {}).get("resourceVersion"),
    }


def _flow_document(text: str, namespace: str) -> YamlDocument:
    """The one Flow of ``text``, in ``namespace``, read as ``overture validate`` reads a file (so its
    problems say how YAML read a value: "quote it"); RefusedError(422) with the problems by path otherwise."""
    try:
        docs = read_yaml(text, "the YAML")
    except SpecError as exc:
        raise RefusedError(422, "the YAML cannot be read", views.problem_entries(exc.problems)) from None
    if len(docs) != 1 or not isinstance(docs[0].value, dict):
        raise RefusedError(422, f"the editor must hold exactly one Flow object; it holds {len(docs)} documents")
    meta = docs[0].value.get("metadata")
    if isinstance(meta, dict) and meta.get("namespace") not in (None, namespace):
        problem = f"metadata.namespace: {meta['namespace']!r} differs from this page's namespace {namespace!r}"
        raise RefusedError(422, "wrong namespace", views.problem_entries([problem]))
    return docs[0]


async def _problems(request: Request, document: YamlDocument) -> list[str]:
    """``flow_problems``, with template tasks checked against the templates the caller may read."""
    return flow_problems(document, await _templates_for(request, document))


async def _templates_for(request: Request, document: YamlDocument) -> Catalog | None:
    """The TaskTemplates of the page's namespace and the ClusterTaskTemplates, when the flow has
    template tasks; None (not checked: the operator's Ready condition will say) when the caller may
    not list them all, as a partial list would call a template it cannot see unknown."""
    reading = read_flow(document.value)
    if reading.parsed is None or not uses_templates(reading.parsed.spec):
        return None
    found: list[tuple[TemplateKind, dict[str, Any]]] = []
    namespace = str(request.path_params["namespace"])
    for kind, plural, scope in (
        (TemplateKind.TASK_TEMPLATE, "tasktemplates", namespace),
        (TemplateKind.CLUSTER_TASK_TEMPLATE, "clustertasktemplates", None),
    ):
        try:
            listing = await _api(request).request("GET", objects_path(plural, scope))
        except KubeError as exc:
            if exc.status in (401, 403, 404):
                return None
            raise
        found.extend((kind, item) for item in listing.get("items") or [])
    return Catalog.from_bodies(found)


@endpoint
async def validate(request: Request) -> JSONResponse:
    """``overture validate`` on the editor's text: every problem with its path."""
    body = await _body(request)
    document = _flow_document(str(body.get("yaml") or ""), str(request.path_params["namespace"]))
    return JSONResponse({"problems": views.problem_entries(await _problems(request, document))})


@endpoint
async def apply(request: Request) -> JSONResponse:
    """Server-side apply of the editor's Flow: validated, then a dry run, then the real one."""
    namespace = str(request.path_params["namespace"])
    body = await _body(request)
    text = str(body.get("yaml") or "")
    document = _flow_document(text, namespace)
    problems = await _problems(request, document)
    if problems:
        raise RefusedError(422, "the flow is invalid", views.problem_entries(problems))
    doc: dict[str, Any] = document.value
    name = str(doc["metadata"]["name"])
    api = _api(request)
    try:
        current = await api.request("GET", objects_path("flows", namespace, name))
    except KubeError as exc:
        if exc.status != 404:
            raise
        current = None
    owner = views.gitops_owner(current) if current else None
    if owner:
        raise RefusedError(409, f"this flow is read-only here. {owner}")
    expected = body.get("resourceVersion")
    if current and expected and (current.get("metadata") or {}).get("resourceVersion") != expected:
        raise RefusedError(
            409, "the flow changed since it was loaded (someone else saved it); reload to see their change"
        )
    manifest = views.with_source({**doc, "metadata": {**doc["metadata"], "namespace": namespace}}, text)
    path = objects_path("flows", namespace, name)
    query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
    await api.request("PATCH", path, [*query, ("dryRun", "All")], manifest, APPLY)
    if body.get("dryRunOnly"):
        return JSONResponse({"dryRun": True})
    saved = await api.request("PATCH", path, query, manifest, APPLY)
    return JSONResponse(_flow_answer(saved))


@endpoint
async def run_flow(request: Request) -> JSONResponse:
    """Start an execution with typed inputs (checked here first, each wrong one named)."""
    namespace, name = str(request.path_params["namespace"]), str(request.path_params["name"])
    body = await _body(request)
    api = _api(request)
    obj = await api.request("GET", objects_path("flows", namespace, name))
    try:
        parsed = parse_flow(obj)
    except SpecError as exc:
        raise RefusedError(422, f"flow {name!r} is invalid", views.problem_entries(exc.problems)) from None
    given = body.get("inputs") or {}
    if not isinstance(given, dict):
        raise RefusedError(400, "inputs must be an object")
    inputs, problems = coerce_inputs(parsed.spec.inputs, given)
    if problems:
        raise RefusedError(422, f"flow {name!r} cannot run with these inputs", views.problem_entries(problems))
    execution = manual_name(name)
    manifest = manual_execution(execution, namespace, name, inputs)
    await api.create_execution(namespace, manifest)
    return JSONResponse({"name": execution}, 201)


@endpoint
async def backfill(request: Request) -> JSONResponse:
    """``overture backfill`` from the UI: the same plan and names (``triggers.backfills``), so
    repeating a range creates nothing twice. ``dryRun`` lists the executions it would create."""
    namespace, name = str(request.path_params["namespace"]), str(request.path_params["name"])
    body = await _body(request)
    api = _api(request)
    flow = _valid_flow(await api.request("GET", objects_path("flows", namespace, name)), name)
    try:
        trigger, ticks = plan(flow, body.get("trigger") or None, str(body.get("from") or ""), str(body.get("to") or ""))
    except BackfillError as exc:
        raise RefusedError(422, str(exc)) from None
    label = backfill_label(ticks)
    report = []
    for tick in ticks:
        manifest = build_backfill(flow, trigger, tick, label)
        execution, date = manifest["metadata"]["name"], manifest["spec"]["trigger"]["date"]
        if body.get("dryRun"):
            report.append(f"{execution}  {date}  (dry run)")
            continue
        try:
            await api.create_execution(namespace, manifest)
            report.append(f"execution.overture.dev/{execution} created")
        except KubeError as exc:
            if exc.status != 409:
                raise
            report.append(f"execution.overture.dev/{execution} exists already")
    report.append(f"{len(ticks)} ticks of {trigger.id!r}, label overture.dev/backfill={label}")
    return JSONResponse({"report": report})


@endpoint
async def graph(request: Request) -> JSONResponse:
    """The topology of a flow (``overture graph``'s nodes and edges), from the editor's YAML or a
    flow spec (an execution's snapshot); the page lays it out."""
    body = await _body(request)
    if "spec" in body:
        metadata = {"name": "snapshot"}
        document: Any = {"apiVersion": GROUP_VERSION, "kind": "Flow", "metadata": metadata, "spec": body["spec"]}
    else:
        document = _flow_document(str(body.get("yaml") or ""), str(request.path_params["namespace"]))
    spec = _valid_flow(document, "in the editor").spec
    built = build_graph(str((document.get("metadata") or {}).get("name") or ""), spec)
    nodes = [
        {
            "key": n.key,
            "id": n.task.id,
            "type": str(n.task.type),
            "label": describe(n.task),
            "section": n.section,
            "depth": n.depth,
            "group": n.group,
        }
        for n in built.nodes
    ]
    edges = [{"source": e.source, "target": e.target, "label": e.label, "dashed": e.dashed} for e in built.edges]
    return JSONResponse({"nodes": nodes, "edges": edges})


def _valid_flow(obj: dict[str, Any], name: str) -> Flow:
    reading = read_flow(obj)
    if reading.flow is None:
        raise RefusedError(422, f"flow {name!r} is invalid", views.problem_entries(list(reading.problems)))
    return reading.flow


# --- executions -------------------------------------------------------------------------------


@endpoint
async def executions(request: Request) -> JSONResponse:
    params = request.query_params
    flow_name = params.get("flow", "")
    # By spec.flowRef, not by label: an Execution written by hand may carry no overture.dev/flow label.
    items = await _list(_api(request), "executions", _namespace(request))
    rows = [views.execution_row(e) for e in items]
    states = {s for s in params.get("state", "").split(",") if s}
    rows = [r for r in rows if views.matches(r, flow_name, states, params.get("label", ""), params.get("since", ""))]
    rows.sort(key=lambda r: r["created"] or "", reverse=True)
    return JSONResponse({"items": rows, "at": time.time()})


@endpoint
async def execution(request: Request) -> JSONResponse:
    namespace, name = str(request.path_params["namespace"]), str(request.path_params["name"])
    obj = await _api(request).request("GET", objects_path("executions", namespace, name))
    return JSONResponse(page_execution(obj))


def page_execution(obj: dict[str, Any]) -> dict[str, Any]:
    """An Execution as the page reads it (the GET and the live stream): every task run, archived
    ones too (issue 16 archives finished runs past 200), and no managedFields."""
    (obj.get("metadata") or {}).pop("managedFields", None)
    if obj.get("status"):
        obj["status"] = restore_runs(obj["status"])
    return obj


@endpoint
async def steer(request: Request) -> JSONResponse:
    namespace, name = str(request.path_params["namespace"]), str(request.path_params["name"])
    action = str(request.path_params["action"])
    body = await _body(request)
    api = _api(request)
    path = objects_path("executions", namespace, name)
    if action == "replay":
        return await _replay(api, namespace, await api.request("GET", path), str(body.get("fromTask") or ""))
    if action not in STEERING_ACTIONS:
        raise RefusedError(404, f"unknown action {action!r}; one of {', '.join(STEERING_ACTIONS)}, replay")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise RefusedError(400, "inputs must be an object")
    for _ in range(5):  # guarded by the resourceVersion read, as the CLI does: 409 = read again
        obj = await api.request("GET", path)
        try:
            spec = steering_patch(action, obj, inputs)
        except SteeringError as exc:
            raise RefusedError(409 if exc.conflict else 422, exc.message, views.problem_entries(exc.problems)) from None
        patch = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "spec": spec}
        try:
            await api.request("PATCH", path, body=patch, content_type=MERGE)
        except KubeError as exc:
            if exc.status == 409:
                continue
            raise
        return JSONResponse({"done": action})
    raise RefusedError(409, "the execution kept changing under us; try again")


async def _replay(api: UserApi, namespace: str, source: dict[str, Any], from_task: str) -> JSONResponse:
    status = source.get("status") or {}
    flow_name = source["spec"]["flowRef"]["name"]
    top = [t["id"] for t in (status.get("flowSpec") or {}).get("tasks") or []]
    if from_task not in top:
        raise RefusedError(
            422, f"replay starts at a top-level task of flow {flow_name!r}: one of {', '.join(top) or 'none'}"
        )
    name = manual_name(flow_name)
    await api.create_execution(namespace, replay_execution(name, source, from_task))
    return JSONResponse({"name": name}, 201)


@endpoint
async def events(request: Request) -> JSONResponse:
    """The execution's Events, and why its unfinished task runs are not running."""
    namespace, name = str(request.path_params["namespace"]), str(request.path_params["name"])
    api = _api(request)
    obj = await api.request("GET", objects_path("executions", namespace, name))
    return JSONResponse(await execution_events(api, namespace, obj))


async def execution_events(api: UserApi, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    name = obj["metadata"]["name"]
    own = await api.request(
        "GET", objects_path("events", namespace), [("fieldSelector", f"involvedObject.name={name}")]
    )
    rows = [_event_row(e) for e in own.get("items") or []]
    runs = (obj.get("status") or {}).get("taskRuns") or []
    waiting: list[dict[str, str]] = []
    if any(r.get("state") in views.UNFINISHED_RUNS for r in runs):
        selector = f"overture.dev/execution={name}"
        pods = await api.request("GET", objects_path("pods", namespace), [("labelSelector", selector)])
        # Job and pod Events of the namespace: the scheduler's and the quota's words are there.
        warnings = await api.request("GET", objects_path("events", namespace), [("fieldSelector", "type=Warning")])
        waiting = views.waiting_reasons(runs, pods.get("items") or [], warnings.get("items") or [])
    return {"events": rows, "waiting": waiting}


def _event_row(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": event.get("type"),
        "reason": event.get("reason"),
        "message": event.get("message"),
        "count": event.get("count") or 1,
        "time": event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp"),
    }


ROUTES = [
    Route("/api/whoami", whoami),
    Route("/api/namespaces", namespaces),
    Route("/api/schema/flow", schema),
    Route("/api/namespaces/{namespace}/flows", flows),
    Route("/api/namespaces/{namespace}/flows/-/validate", validate, methods=["POST"]),
    Route("/api/namespaces/{namespace}/flows/-/apply", apply, methods=["POST"]),
    Route("/api/namespaces/{namespace}/flows/-/graph", graph, methods=["POST"]),
    Route("/api/namespaces/{namespace}/flows/{name}", flow),
    Route("/api/namespaces/{namespace}/flows/{name}/run", run_flow, methods=["POST"]),
    Route("/api/namespaces/{namespace}/flows/{name}/backfill", backfill, methods=["POST"]),
    Route("/api/namespaces/{namespace}/executions", executions),
    Route("/api/namespaces/{namespace}/executions/{name}", execution),
    Route("/api/namespaces/{namespace}/executions/{name}/events", events),
    Route("/api/namespaces/{namespace}/executions/{name}/{action}", steer, methods=["POST"]),
]
