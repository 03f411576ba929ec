"""The one module that talks to the Kubernetes API (kubernetes_asyncio).

Every call goes through ``_call``, which counts requests by verb (exported as a metric, and the
way the benchmarks count API writes per task run) and translates errors into ``kube.errors``
(an unreachable API server, a refused or dropped connection, is a ``TransientError``).
Creates are idempotent (409 = already there), deletes too (404 = already gone).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from overture.api import API_GROUP, API_VERSION, SELF_SUBJECT_REVIEW, username_of, with_requester
from overture.kube.errors import ConflictError, RejectedError, TransientError, translate

log = logging.getLogger("overture.kube")
T = TypeVar("T")

REQUESTS: Counter[str] = Counter()
LIST_PAGE = 500  # objects per page of a LIST
MERGE_PATCH = "application/merge-patch+json"
# The API server unreachable (restarting, a network blip): transient, as a 503 would be.
CONNECTION_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


READ_BUFFER = 2**21  # kubernetes_asyncio's read buffer: a watch event or an object can be ~1.5 MiB (etcd's limit)


def without_environment_lookups(api: client.ApiClient) -> None:
    """Make ``api``'s requests without looking for ~/.netrc and proxy variables on each one.

    kubernetes_asyncio opens its aiohttp session with ``trust_env=True``: every request then reads
    the netrc file in a worker thread and the proxy variables in another (two thread hops per
    request, ~3 % of the operator's samples at 1,000 executions; benchmarks/README.md). kopf's
    watches, the operator's other connection, never use either (kopf's
    ``settings.networking.trust_env`` is False by default), so the operator already could not
    reach its API server through a proxy variable; its requests now behave as its watches do.
    The same connection pool (and TLS settings) is kept.
    """
    rest = api.rest_client
    old = rest.pool_manager
    connector = old.connector
    old.detach()  # the connector is handed over, not closed
    rest.pool_manager = aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=READ_BUFFER)


class WireJson(dict[str, Any]):
    """A request body that is JSON already (built by the operator from plain dicts, lists, strings
    and numbers): ``JsonApiClient`` sends it as it is."""


class JsonApiClient(client.ApiClient):
    """kubernetes_asyncio's ApiClient, except that a ``WireJson`` body is not copied before it is sent.

    The client walks every request body (``sanitize_for_serialization``) to turn its models and
    datetimes into JSON, copying each dict and list on the way, and then ``json.dumps`` it.
    The operator's own writes (Jobs, status patches, Events) are JSON already: the walk was
    2-3 % of the operator's CPU under load (benchmarks/README.md, operator CPU per execution).
    """

    def sanitize_for_serialization(self, obj: Any) -> Any:
        if isinstance(obj, WireJson):
            return obj
        return super().sanitize_for_serialization(obj)


class Kube:
    """A thin client: one ApiClient, the handful of calls the operator makes."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self._username: str | None = None  # asked once (username)

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Kube:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            await config.load_kube_config(config_file=kubeconfig, context=context)
        api = JsonApiClient()
        without_environment_lookups(api)
        return cls(api)

    async def close(self) -> None:
        await self.api.close()

    async def _call(self, verb: str, call: Awaitable[T]) -> T:
        REQUESTS[verb] += 1
        try:
            return await call
        except ApiException as exc:
            raise translate(exc.status or 0, _reason(exc)) from None
        except CONNECTION_ERRORS as exc:
            raise TransientError(0, f"the API server is unreachable: {exc!r}") from None

    # --- writes -------------------------------------------------------------------------

    async def create_job(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """The Job as the API server stored it (plain JSON); None if it existed already."""
        return await self._create(f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs", manifest)

    async def delete_job(self, namespace: str, name: str) -> None:
        body = client.V1DeleteOptions(propagation_policy="Background")
        await self._delete(self.batch.delete_namespaced_job(name, namespace, body=body))

    async def patch_job_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch a Job's status (the ``managed-job`` runtime: the operator is its controller);
        the stored Job, as plain JSON (not decoded into V1Job: see ``_post``)."""
        path = f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs/{quote(name)}/status"
        answer = await self._send("patch", "PATCH", path, {"status": status}, MERGE_PATCH)
        stored: dict[str, Any] = json.loads(answer)
        return stored

    async def create_pod(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """A task attempt's own pod (the ``pod`` task runtime) as stored; None if it existed already."""
        return await self._create(f"/api/v1/namespaces/{quote(namespace)}/pods", manifest)

    async def delete_pod(self, namespace: str, name: str) -> None:
        await self._delete(self.core.delete_namespaced_pod(name, namespace))

    async def _create(self, path: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        try:
            answer = await self._post(path, manifest)
        except ConflictError:
            return None  # AlreadyExists: ours from before (deterministic names)
        created: dict[str, Any] = json.loads(answer)
        return created

    async def _delete(self, call: Awaitable[Any]) -> None:
        try:
            await self._call("delete", call)
        except RejectedError as exc:
            if exc.status != 404:
                raise  # 404: gone already

    async def username(self) -> str:
        """The operator's own Kubernetes user name, asked once with a SelfSubjectReview: its
        ServiceAccount in a cluster, the kubeconfig's user outside one. "" when the API server will
        not say (no authentication.k8s.io/v1, before Kubernetes 1.28): its executions then carry no
        requester, which the chart's admission policy refuses, and the log says so."""
        if self._username is None:
            reviews = client.AuthenticationV1Api(self.api)
            try:
                asked = reviews.create_self_subject_review(SELF_SUBJECT_REVIEW)  # type: ignore[arg-type]
                review = await self._call("create", asked)
                self._username = username_of(self.api.sanitize_for_serialization(review))
            except RejectedError as exc:
                log.warning("Could not learn the operator's user name; executions get no spec.requestedBy (%s)", exc)
                self._username = ""
        return self._username

    async def create_execution(self, namespace: str, manifest: dict[str, Any]) -> bool:
        """Create an Execution stamped with the operator's user name (``spec.requestedBy``): the
        chart's admission policy lets only the operator start schedule, webhook, flow, resource and
        subflow executions. True if created, False if it existed already."""
        username = await self.username()
        if username:
            manifest = with_requester(manifest, username)
        try:
            await self._call(
                "create",
                self.custom.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "executions", manifest),
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 409:
                return False
            raise
        return True

    async def patch_execution_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        await self._call(
            "patch",
            self.custom.patch_namespaced_custom_object(
                API_GROUP,
                API_VERSION,
                namespace,
                "executions",
                name,
                {"spec": spec},
                _content_type=MERGE_PATCH,  # type: ignore[call-arg]
            ),
        )

    async def replace_status(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT the status subresource; a stale resourceVersion raises ConflictError."""
        meta = body["metadata"]
        result: dict[str, Any] = await self._call(
            "update",
            self.custom.replace_namespaced_custom_object_status(
                API_GROUP, API_VERSION, meta["namespace"], plural, meta["name"], body
            ),
        )
        return result

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; with ``resource_version``, only if the object is still
        at that version (a stale one raises ConflictError, as ``replace_status`` does). The stored object."""
        patch = WireJson(status=status)
        if resource_version is not None:
            patch["metadata"] = {"resourceVersion": resource_version}
        result: dict[str, Any] = await self._call(
            "patch",
            self.custom.patch_namespaced_custom_object_status(
                API_GROUP,
                API_VERSION,
                namespace,
                plural,
                name,
                patch,
                _content_type=MERGE_PATCH,  # type: ignore[call-arg]
            ),
        )
        return result

    async def delete_execution(self, namespace: str, name: str) -> None:
        try:
            await self._call(
                "delete",
                self.custom.delete_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, "executions", name, propagation_policy="Background"
                ),
            )
        except RejectedError as exc:
            if exc.status != 404:
                raise

    async def emit_event(
        self, involved: dict[str, Any], type_: str, reason: str, message: str, component: str = "overture"
    ) -> None:
        meta = involved["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        digest = hashlib.sha256(f"{meta['uid']}/{reason}/{message}/{now}".encode()).hexdigest()[:10]
        body = {
            "metadata": {"name": f"{meta['name'][:200]}.{digest}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": component},
            "firstTimestamp": now[:19] + "Z",
            "lastTimestamp": now[:19] + "Z",
            "count": 1,
        }
        try:
            await self._post(f"/api/v1/namespaces/{quote(meta['namespace'])}/events", body)
        except Exception as exc:  # an event is a courtesy: never fail a reconcile for it
            log.warning("Could not post an Event: %s", exc)

    # --- reads (the operator reads from its watch caches; these serve the CLI and tests) ---

    async def list_objects(self, kind: str, namespace: str | None, label_selector: str = "") -> list[dict[str, Any]]:
        """Every object of ``kind`` (flows, executions, jobs, pods), as plain camelCase dicts."""
        return [item async for page in self.list_pages(kind, namespace, label_selector) for item in page]

    async def list_pages(
        self, kind: str, namespace: str | None, label_selector: str = ""
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """``list_objects`` a page of ``LIST_PAGE`` at a time, without ``metadata.managedFields``.

        The operator's cache takes each page as it comes: holding 10,000 executions as decoded
        JSON at once (~150 MiB) left the process that much bigger for good (benchmarks/README.md).
        """
        token = ""
        while True:
            page: dict[str, Any] = {"label_selector": label_selector, "limit": LIST_PAGE, "_continue": token or None}
            if kind in ("flows", "executions", "tasktemplates", "clustertasktemplates"):
                if namespace is None:
                    call = self.custom.list_cluster_custom_object(API_GROUP, API_VERSION, kind, **page)
                else:
                    call = self.custom.list_namespaced_custom_object(API_GROUP, API_VERSION, namespace, kind, **page)
                result: dict[str, Any] = await self._call("list", call)
            else:
                api = self.batch if kind == "jobs" else self.core
                method = getattr(
                    api,
                    f"list_{'namespaced_' if namespace else ''}{kind[:-1]}{'' if namespace else '_for_all_namespaces'}",
                )
                listing = await self._call("list", method(namespace, **page) if namespace else method(**page))
                result = self.api.sanitize_for_serialization(listing)
                for item in result.get("items") or []:  # list items carry no kind; the store expects one
                    item.setdefault("kind", "Job" if kind == "jobs" else "Pod")
            items: list[dict[str, Any]] = result.get("items") or []
            for item in items:
                (item.get("metadata") or {}).pop("managedFields", None)
            token = (result.get("metadata") or {}).get("continue") or ""
            del result
            yield items
            if not token:
                return

    # --- triggers: webhook keys, flows for backfills, watches of arbitrary kinds ---------------

    async def read_secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a Secret, decoded; None if the Secret or the key does not exist."""
        try:
            secret = await self._call("get", self.core.read_namespaced_secret(name, namespace))
        except RejectedError as exc:
            if exc.status == 404:
                return None
            raise
        encoded = (secret.data or {}).get(key)
        return base64.b64decode(encoded).decode("utf-8", "replace") if encoded is not None else None

    async def list_events(self, namespace: str, field_selector: str) -> list[dict[str, Any]]:
        listing = await self._get_json(f"/api/v1/namespaces/{namespace}/events?fieldSelector={quote(field_selector)}")
        return list(listing.get("items") or [])

    async def read_namespace(self, name: str) -> dict[str, Any]:
        return await self._get_json(f"/api/v1/namespaces/{name}")

    async def get_flow(self, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "get", self.custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "flows", name)
        )
        return result

    async def resource_plural(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(plural, namespaced) of ``kind`` in ``api_version`` from discovery; None if it is not served."""
        listing = await self._get_json(_api_base(api_version))
        for resource in listing.get("resources") or []:
            if resource.get("kind") == kind and "/" not in resource.get("name", "/"):
                return str(resource["name"]), bool(resource.get("namespaced"))
        return None

    async def list_page(
        self, path: str, label_selector: str = "", token: str = "", metadata_only: bool = False
    ) -> dict[str, Any]:
        """One page (``LIST_PAGE`` objects) of a LIST of ``path`` (e.g. /apis/batch/v1/jobs), as plain
        JSON: ``items``, ``metadata.continue`` and ``metadata.resourceVersion`` (to watch from).
        ``metadata_only`` asks for PartialObjectMetadata (a Secret's data never reaches us)."""
        query: dict[str, str | int] = {"limit": LIST_PAGE}
        if label_selector:
            query["labelSelector"] = label_selector
        if token:
            query["continue"] = token
        accept = _PARTIAL_LIST if metadata_only else "application/json"
        return await self._get_json(f"{path}?{urlencode(query)}", accept=accept, verb="list")

    async def watch(
        self,
        path: str,
        resource_version: str,
        label_selector: str = "",
        metadata_only: bool = False,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(type, object) events of ``path`` from ``resource_version`` on, until the server ends the
        watch (after ``timeout_seconds``, or sooner), BOOKMARKs included (their object carries only
        the resourceVersion to resume from). A 410 Gone (too old a resourceVersion) raises an ApiError
        with status 410: list again. ``metadata_only``: PartialObjectMetadata, as ``list_page``.
        """
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        REQUESTS["watch"] += 1
        try:
            response = await self.api.call_api(
                path,
                "GET",
                query_params=query,
                header_params={"Accept": _PARTIAL if metadata_only else "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout_seconds + 30,
            )
        except ApiException as exc:
            raise translate(exc.status or 0, _reason(exc)) from None
        except CONNECTION_ERRORS as exc:
            raise TransientError(0, f"the API server is unreachable: {exc!r}") from None
        try:
            if response.status != 200:
                raise translate(response.status, (await response.read()).decode("utf-8", "replace")[:300])
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise translate(int(status.get("code") or 500), str(status.get("message")))
                yield str(event.get("type")), dict(event.get("object") or {})
        except CONNECTION_ERRORS as exc:
            raise TransientError(0, f"the watch of {path} broke off: {exc!r}") from None
        finally:
            response.release()

    async def _post(self, path: str, body: dict[str, Any]) -> bytes:
        """Create an object from plain JSON; the answer's bytes, not read into the client's models.

        ``create_namespaced_job`` decodes the created Job into V1Job and its ~30 nested models
        (~1 ms of CPU each time): one Job per task run. The caller decodes the JSON if it reads it.
        """
        return await self._send("create", "POST", path, body)

    async def _send(
        self, verb: str, method: str, path: str, body: dict[str, Any], content_type: str = "application/json"
    ) -> bytes:
        """Send ``body`` as plain JSON; the answer's bytes, or the API server's refusal raised."""
        status, answer = await self._raw(verb, method, path, "application/json", body, content_type)
        if not 200 <= status <= 299:
            raise translate(status, _status_message(answer))
        return answer

    async def _get_json(self, path: str, accept: str = "application/json", verb: str = "get") -> dict[str, Any]:
        status, answer = await self._raw(verb, "GET", path, accept)
        text = answer.decode("utf-8", "replace")
        if status != 200:
            raise translate(status, text[:300])
        result: dict[str, Any] = json.loads(text)
        return result

    async def _raw(
        self,
        verb: str,
        method: str,
        path: str,
        accept: str,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """(HTTP status, body) of one request, read whole so the connection goes back to the pool."""
        REQUESTS[verb] += 1
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            response = await self.api.call_api(
                path,
                method,
                header_params=headers,
                body=None if body is None else WireJson(body),
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=60,
            )
        except ApiException as exc:
            raise translate(exc.status or 0, _reason(exc)) from None
        except CONNECTION_ERRORS as exc:
            raise TransientError(0, f"the API server is unreachable: {exc!r}") from None
        try:
            return response.status, await response.read()
        except CONNECTION_ERRORS as exc:
            raise TransientError(0, f"the API server is unreachable: {exc!r}") from None
        finally:
            response.release()


def namespaced_path(api_version: str, plural: str, namespace: str) -> str:
    """The path of a kind's objects in a namespace (``plural`` as ``resource_plural`` found it)."""
    return f"{_api_base(api_version)}/namespaces/{namespace}/{plural}"


_PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
_PARTIAL_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def _api_base(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def _reason(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or b"{}").get("message", exc.reason))
    except (TypeError, ValueError):
        return str(exc.reason)


def _status_message(body: bytes) -> str:
    """The message of an API error's Status body, else its first 300 characters."""
    text = body.decode("utf-8", "replace")
    try:
        return str(json.loads(text).get("message") or text[:300])
    except (AttributeError, ValueError):
        return text[:300]
