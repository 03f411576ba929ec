"""Housekeeping off the reconcile path: retention, the Flows' LAST RUN column, deleted executions'
artifacts (and a sweep for those deleted while no operator ran), and resyncs.

Written in batches every ``HOUSEKEEPING_SECONDS``: after a burst of finished executions each flow
is checked and written once per pass instead of once per execution (a full scan of the flow's
executions, and a Flow patch that wakes every Flow watcher). Only while this replica leads.

A resync, every ``resync_seconds`` and when this replica becomes the leader, is a safety net:
every unfinished execution is reconciled again, and every flow's retention checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from overture.api import Retention
from overture.engine.retention import Finished, expired
from overture.kube.artifacts import ArtifactStore, execution_prefix
from overture.kube.client import Kube
from overture.kube.errors import ApiError
from overture.kube.store import Key, Store

log = logging.getLogger("overture.controller")

HOUSEKEEPING_SECONDS = 2.0  # retention and the Flows' lastExecution are written at most this often


class Housekeeping:
    def __init__(
        self, kube: Kube, store: Store, clock: Callable[[], datetime], artifacts: ArtifactStore | None = None
    ) -> None:
        self.kube = kube
        self.store = store
        self.clock = clock
        self.artifacts = artifacts
        self.artifacts_due: set[Key] = set()  # deleted executions whose objects to delete
        self.gate: asyncio.Event | None = None  # set while this replica leads; None: always act
        self.retention_due: set[Key] = set()  # flows whose finished executions to check
        self.last_runs: dict[Key, dict[str, Any]] = {}  # flow -> its newest finished execution, to write
        self.swept_at: datetime | None = None  # the last orphan sweep (None: not yet while leading)

    def execution_deleted(self, namespace: str, name: str) -> None:
        """An execution is gone (retention, a person): its artifacts and logs are deleted next pass."""
        if self.artifacts is not None:
            self.artifacts_due.add((namespace, name))

    def execution_ended(self, namespace: str, flow: str, last_run: dict[str, Any]) -> None:
        """An execution of ``flow`` ended: check its retention, and show it as the flow's LAST RUN."""
        self.retention_due.add((namespace, flow))
        if (namespace, flow) in self.store.flows:
            self.last_runs[(namespace, flow)] = last_run

    async def run(self, enqueue: Callable[[Key], None], resync_seconds: float) -> None:
        resync = asyncio.create_task(self._resync(enqueue, resync_seconds))
        try:
            while True:
                await asyncio.sleep(HOUSEKEEPING_SECONDS)
                if self.gate is not None and not self.gate.is_set():
                    continue
                await self._retention()
                await self._write_last_runs()
                await self._delete_artifacts()
                await self._sweep_orphans()
        finally:
            resync.cancel()

    async def _resync(self, enqueue: Callable[[Key], None], seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.resync(enqueue)

    def resync(self, enqueue: Callable[[Key], None]) -> None:
        for key in self.store.executions.unfinished():  # finished ones are packed, and stay finished
            enqueue(key)
        for namespace, flow in list(self.store.flows):
            self.retention_due.add((namespace, flow))

    async def _retention(self) -> None:
        while self.retention_due:
            namespace, flow = self.retention_due.pop()
            try:
                await self.enforce_retention(namespace, flow)
            except Exception:  # never let housekeeping stop
                log.exception("Retention failed: flow=%s/%s", namespace, flow)

    async def enforce_retention(self, namespace: str, flow: str) -> None:
        """Delete the flow's finished executions past its retention (their Jobs go with them)."""
        body = self.store.flows.get((namespace, flow))
        raw = ((body or {}).get("spec") or {}).get("retention")
        try:
            policy = Retention.model_validate(raw) if raw else None
        except ValueError:
            policy = None  # the Flow is marked Invalid; the default policy still applies
        finished = []
        for name, packed in self.store.finished_executions_of(namespace, flow):
            if packed.end is not None:
                finished.append(Finished(name, packed.end))
        for name in expired(finished, policy, self.clock()):
            await self.kube.delete_execution(namespace, name)
            log.info("Deleted a finished execution past retention: execution=%s/%s", namespace, name)
            gone = self.store.executions.get((namespace, name))
            if gone is not None:  # not again at the next pass, before the watch says DELETED
                self.store.put("execution", gone, deleted=True)

    async def _delete_artifacts(self) -> None:
        while self.artifacts_due and self.artifacts is not None:
            namespace, name = self.artifacts_due.pop()
            if (namespace, name) in self.store.executions:
                continue  # created again under the same name since
            try:
                count = await self.artifacts.delete_prefix(execution_prefix(namespace, name))
            except Exception as exc:  # the store is down: again at the next pass
                log.warning("Could not delete artifacts: execution=%s/%s error=%s", namespace, name, exc)
                self.artifacts_due.add((namespace, name))
                return
            if count:
                log.info("Deleted artifacts: execution=%s/%s objects=%d", namespace, name, count)

    async def _sweep_orphans(self) -> None:
        """Delete the objects of executions that are gone and were deleted unseen (no operator ran):
        in the namespaces that have flows, under an execution this cache does not know, with
        nothing written for ``orphan_seconds`` (``overture run -i x=@file`` uploads before its
        Execution exists). The first sweep waits one period after startup, so the cache is full."""
        if self.artifacts is None:
            return
        now, period = self.clock(), timedelta(seconds=self.artifacts.settings.orphan_seconds)
        if self.swept_at is None:
            self.swept_at = now
        if now - self.swept_at < period:
            return
        self.swept_at = now
        for namespace in sorted({ns for ns, _ in self.store.flows}):
            try:
                for name in await self.artifacts.executions_with_objects(namespace):
                    if (namespace, name) in self.store.executions:
                        continue
                    prefix = execution_prefix(namespace, name)
                    newest = await self.artifacts.newest_object(prefix)
                    if newest is None or now - newest < period or (namespace, name) in self.store.executions:
                        continue
                    count = await self.artifacts.delete_prefix(prefix)
                    log.info(
                        "Deleted the artifacts of a gone execution: execution=%s/%s objects=%d", namespace, name, count
                    )
            except Exception as exc:  # the store is down: at the next sweep
                log.warning("Could not sweep artifacts: namespace=%s error=%s", namespace, exc)

    async def _write_last_runs(self) -> None:
        while self.last_runs:
            (namespace, flow), last = self.last_runs.popitem()
            try:
                await self.kube.patch_status("flows", namespace, flow, {"lastExecution": last})
            except ApiError as exc:
                log.warning("Could not record the last run: flow=%s/%s error=%s", namespace, flow, exc)
