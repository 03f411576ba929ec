"""The API server answers an ExecutionReconciler needs in unit tests: status writes stored with a
new resourceVersion, Events dropped, a Namespace without a task policy. Job creation is the test's."""

from __future__ import annotations

from typing import Any


class StatusKube:
    def __init__(self) -> None:
        self.version = 1

    async def replace_status(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        return {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}

    async def emit_event(self, *_: Any) -> None:
        return None

    async def read_namespace(self, name: str) -> dict[str, Any]:
        return {"metadata": {"name": name}}
