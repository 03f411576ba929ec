"""The API server answers an ExecutionReconciler needs in unit tests: status writes (PUT or merge
patch) applied to the store's copy with a new resourceVersion, a stale one refused with 409, Events
dropped, a Namespace without a task policy. Job creation is the test's."""

from __future__ import annotations

from typing import Any

from overture.kube import merge_patch
from overture.kube.errors import ConflictError
from overture.kube.store import Store


class StatusKube:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.version = 1
        self.statuses: list[dict[str, Any]] = []  # each status as written, whole
        self.patches: list[dict[str, Any]] = []  # what each merge patch sent

    async def replace_status(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._store(body, body["metadata"]["resourceVersion"], body["status"])

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        self.patches.append(status)
        current = dict(self.store.executions[(namespace, name)])
        version = resource_version or current["metadata"]["resourceVersion"]
        return self._store(current, version, merge_patch.apply(current.get("status") or {}, status))

    def _store(self, body: dict[str, Any], version: str, status: dict[str, Any]) -> dict[str, Any]:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        current = self.store.executions.get(key)
        if current is not None and current["metadata"]["resourceVersion"] != version:
            raise ConflictError(409, f"the object has been modified: at {current['metadata']['resourceVersion']}")
        self.version += 1
        self.statuses.append(status)
        stored = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}, "status": status}
        self.store.put("execution", stored)
        return stored

    async def emit_event(self, *_: Any) -> None:
        return None

    async def read_namespace(self, name: str) -> dict[str, Any]:
        return {"metadata": {"name": name}}
