"""What the UI reads from the artifact store: archived logs, task files, outputs too big for a status.

Read with the UI server's own store keys (``OVERTURE_S3_*`` given to ``overture ui``; the chart's
``artifacts.*``), and only after the caller's own token read the execution or listed its pods, so
the caller's RBAC decides as for everything else; files only under keys the execution itself
refers to (``views.file_keys``). Without a store (``NoStore``) the pages say so plainly.
"""

from __future__ import annotations

from typing import Protocol

from overture.kube.artifacts import ArtifactStore


class UiStore(Protocol):
    configured: bool

    def key_of(self, uri: str) -> str | None:
        """The key of an ``s3://`` reference into this store's bucket; None for anything else."""

    async def read_log(self, key: str) -> str | None:
        """An archived log as text, its last 10 MiB at most; None when there is none or the store
        did not answer."""

    async def read_head(self, key: str, limit: int) -> tuple[bytes, int] | None:
        """The first ``limit`` bytes of an object and its size; None as for ``read``."""


class NoStore:
    configured = False

    def key_of(self, uri: str) -> str | None:
        return None

    async def read_log(self, key: str) -> str | None:
        return None

    async def read_head(self, key: str, limit: int) -> tuple[bytes, int] | None:
        return None


class StoreReader:
    configured = True

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def key_of(self, uri: str) -> str | None:
        return self.store.settings.key_of(uri)

    async def read_log(self, key: str) -> str | None:
        try:
            return await self.store.read_log_async(key)
        except Exception:  # the store's errors are many (404, network, 5xx): all mean "not here now"
            return None

    async def read_head(self, key: str, limit: int) -> tuple[bytes, int] | None:
        try:
            return await self.store.read_head(key, limit)
        except Exception:
            return None
