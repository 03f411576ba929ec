"""The execution page's previews of the artifact store's objects (``store.UiStore``).

- ``/executions/{name}/file?uri=s3://...``: the first 64 KiB of a task's file or a FILE input;
- ``/executions/{name}/stored-outputs?job=J``: the outputs a task run kept in the store (too big
  for its status), up to 1 MiB.

Both read the execution with the caller's own token first (their RBAC decides), then only an
object that execution may show (``views.readable_file``). The text is sent as JSON and shown as
text by the page: a file's HTML is never rendered.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from overture.kube.artifacts import attempt_prefix
from overture.ui import views
from overture.ui.kubeapi import UserApi, objects_path
from overture.ui.routes import RefusedError, endpoint
from overture.ui.store import UiStore

NO_STORE = "no artifact store is configured for the UI (OVERTURE_S3_* for overture ui; the chart's artifacts.*)"
MISSING = "{what} is not in the artifact store (deleted by retention?), or the store did not answer"


async def _execution(request: Request) -> tuple[str, str, dict[str, Any]]:
    namespace, name = str(request.path_params["namespace"]), str(request.path_params["name"])
    api: UserApi = request.state.caller.api
    return namespace, name, await api.request("GET", objects_path("executions", namespace, name))


def _store(request: Request) -> UiStore:
    store: UiStore = request.app.state.store
    if not store.configured:
        raise RefusedError(404, NO_STORE)
    return store


@endpoint
async def file_preview(request: Request) -> JSONResponse:
    uri = request.query_params.get("uri", "")
    store = _store(request)
    _, name, execution = await _execution(request)
    key = store.key_of(uri)
    if key is None:
        raise RefusedError(422, f"uri: {uri[:200]!r} is not an s3:// reference into the UI's artifact store")
    if not views.readable_file(execution, uri, key):
        raise RefusedError(403, f"uri: execution {name!r} does not refer to {uri[:200]!r}")
    head = await store.read_head(key, views.PREVIEW_BYTES)
    if head is None:
        raise RefusedError(404, MISSING.format(what=uri[:200]))
    return JSONResponse({"uri": uri, **views.preview(*head)})


@endpoint
async def stored_outputs(request: Request) -> JSONResponse:
    job = request.query_params.get("job", "")
    store = _store(request)
    namespace, name, execution = await _execution(request)
    if not views.stored_outputs_job(execution, job):
        raise RefusedError(404, f"job: no task run of execution {name!r} stored its outputs as {job[:80]!r}")
    head = await store.read_head(attempt_prefix(namespace, name, job) + "outputs.json", views.OUTPUTS_PREVIEW_BYTES)
    if head is None:
        raise RefusedError(404, MISSING.format(what=f"the outputs of {job}"))
    return JSONResponse({"job": job, **views.preview(*head)})


ROUTES = [
    Route("/api/namespaces/{namespace}/executions/{name}/file", file_preview),
    Route("/api/namespaces/{namespace}/executions/{name}/stored-outputs", stored_outputs),
]
