"""The live endpoints, as Server-Sent Events read by ``fetch`` (so the token stays in a header).

- ``/executions/{name}/live``: ``execution`` (the whole object, first read and then on every
  change the watch sees) and ``events`` (its Events and waiting reasons, polled every few seconds
  while it runs, sent when they change);
- ``/executions/{name}/logs?job=J``: ``lines`` (batches of log lines), then ``end``; or ``note``
  when the pod is gone and the artifact store has no log of it.

Each event is one ``event:`` and one ``data:`` line of JSON. A comment every 15 s keeps proxies
from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from overture.api import is_terminal
from overture.ui import logs
from overture.ui.kubeapi import KubeError, UserApi, objects_path
from overture.ui.routes import execution_events, page_execution
from overture.ui.store import UiStore

JOB_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
HEARTBEAT_SECONDS = 15.0
EVENTS_SECONDS = 3.0
LINE_BATCH_SECONDS = 0.1


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _stream(source: AsyncIterator[bytes]) -> StreamingResponse:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(source, media_type="text/event-stream", headers=headers)


async def _merged(*producers: Awaitable[None], queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    """What the producers put on ``queue``, until one puts None; a heartbeat when quiet."""
    tasks = [asyncio.ensure_future(p) for p in producers]
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is None:
                return
            yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def _watch_execution(api: UserApi, namespace: str, name: str, queue: asyncio.Queue[bytes | None]) -> None:
    path = objects_path("executions", namespace)
    try:
        while True:
            obj = page_execution(await api.request("GET", objects_path("executions", namespace, name)))
            await queue.put(sse("execution", obj))
            version = obj["metadata"]["resourceVersion"]
            query = [("fieldSelector", f"metadata.name={name}"), ("resourceVersion", version)]
            try:
                async for kind, changed in api.watch(path, query):
                    if kind in ("ADDED", "MODIFIED"):
                        await queue.put(sse("execution", page_execution(changed)))
                    elif kind == "DELETED":
                        await queue.put(sse("deleted", {"name": name}))
                        await queue.put(None)
                        return
            except KubeError as exc:
                if exc.status != 410:  # 410 Gone: too old a version; read and watch again
                    raise
    except KubeError as exc:
        await queue.put(sse("failure", {"status": exc.status, "error": exc.message}))
        await queue.put(None)


async def _poll_events(api: UserApi, namespace: str, name: str, queue: asyncio.Queue[bytes | None]) -> None:
    last: Any = None
    obj: dict[str, Any] = {}
    while True:
        try:
            obj = await api.request("GET", objects_path("executions", namespace, name))
            found = await execution_events(api, namespace, obj)
        except KubeError:
            found = last
        if found != last:
            await queue.put(sse("events", found))
            last = found
        ended = is_terminal((obj.get("status") or {}).get("state"))
        await asyncio.sleep(EVENTS_SECONDS * (5 if ended else 1))


async def live(request: Request) -> StreamingResponse:
    namespace, name = str(request.path_params["namespace"]), str(request.path_params["name"])
    api: UserApi = request.state.caller.api
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    producers = (_watch_execution(api, namespace, name, queue), _poll_events(api, namespace, name, queue))
    return _stream(_merged(*producers, queue=queue))


async def _log_lines(
    api: UserApi, store: UiStore, namespace: str, execution: str, job: str, follow: bool
) -> AsyncIterator[bytes]:
    try:
        pod = await logs.pod_of_job(api, namespace, job)
        if pod is None:
            archived = await logs.archived_log(store, namespace, execution, job)
            if archived is None:
                yield sse("note", {"message": logs.gone_note(store), "gone": True})
            else:
                yield sse("lines", {"lines": archived.splitlines(), "archived": True})
            yield sse("end", {})
            return
        if not follow:
            yield sse("lines", {"lines": (await logs.read_log(api, namespace, pod)).splitlines()})
            yield sse("end", {})
            return
        batch: list[str] = []
        loop = asyncio.get_running_loop()
        flushed = loop.time()
        async for line in logs.follow_log(api, namespace, pod):
            batch.append(line)
            if loop.time() - flushed >= LINE_BATCH_SECONDS or len(batch) >= 500:
                yield sse("lines", {"lines": batch})
                batch, flushed = [], loop.time()
        if batch:
            yield sse("lines", {"lines": batch})
        yield sse("end", {})
    except KubeError as exc:
        # 400: the container has not started yet; the page asks again when the attempt runs.
        yield sse("failure", {"status": exc.status, "error": exc.message})


async def _one(item: bytes) -> AsyncIterator[bytes]:
    yield item


async def log_stream(request: Request) -> StreamingResponse:
    namespace, name = str(request.path_params["namespace"]), str(request.path_params["name"])
    job = request.query_params.get("job", "")
    if not JOB_NAME.fullmatch(job):
        return _stream(_one(sse("failure", {"status": 400, "error": f"job: {job[:80]!r} is not a Job name"})))
    follow = request.query_params.get("follow", "1") != "0"
    api: UserApi = request.state.caller.api
    return _stream(_log_lines(api, request.app.state.store, namespace, name, job, follow))


ROUTES = [
    Route("/api/namespaces/{namespace}/executions/{name}/live", live),
    Route("/api/namespaces/{namespace}/executions/{name}/logs", log_stream),
]
