"""Outputs too big for a status, read back from the artifact store for the engine.

A task run whose outputs were over the inline limit has ``outputsStored`` (its attempt's Job and
the size) instead of ``outputs``; its wrapper put them in ``<namespace>/<execution>/<job>/outputs.json``.
Before a step, the reconcile reads the ones the execution has (and those of attempts that just
ended) and passes them to the engine as ``Observed.stored_outputs``: the engine stays pure, the
status stays small. Read once and kept (the newest ``CACHED`` entries): an object never changes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from overture.api import ExecutionStatus
from overture.engine import JobPhase, Observed
from overture.engine.outputs import read_manifest
from overture.kube.artifacts import ArtifactStore, ObjectTooBigError, attempt_prefix

log = logging.getLogger(__name__)

CACHED = 128
Entry = tuple[str, str, str]  # namespace, execution, job


class StoredOutputs:
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.cache: OrderedDict[Entry, Mapping[str, Any]] = OrderedDict()

    async def read(
        self, namespace: str, execution: str, status: ExecutionStatus | None, observed: Observed
    ) -> dict[str, Mapping[str, Any]] | None:
        """Job name -> outputs for every stored outputs the step may need; None if the store did not
        answer (the caller tries again later: a template must not see them missing)."""
        wanted = {run.outputs_stored.job for run in (status.task_runs if status else ()) if run.outputs_stored}
        for job in observed.jobs.values():
            manifest = read_manifest(job.termination_message) if job.phase == JobPhase.SUCCEEDED else None
            if manifest is not None and manifest.outputs_size is not None:
                wanted.add(job.name)
        found: dict[str, Mapping[str, Any]] = {}
        for job_name in sorted(wanted):
            entry = (namespace, execution, job_name)
            value = self.cache.get(entry)
            if value is None:
                key = attempt_prefix(namespace, execution, job_name) + "outputs.json"
                try:
                    value = await self.store.read_json(key, self.store.settings.max_outputs_bytes)
                except ObjectTooBigError as exc:  # put there by hand: the wrapper stops honest ones in the pod
                    log.warning("Ignored stored outputs over the limit: %s", exc)
                    value = {}
                except Exception as exc:  # the store's errors are many (network, 404, 5xx): all mean "not now"
                    log.warning("Could not read stored outputs: key=%s error=%s", key, exc)
                    return None
                if not isinstance(value, dict):
                    value = {}
                self.cache[entry] = value
                if len(self.cache) > CACHED:
                    self.cache.popitem(last=False)
            self.cache.move_to_end(entry)
            found[job_name] = value
        return found

    def forget(self, namespace: str, execution: str) -> None:
        for entry in [e for e in self.cache if e[:2] == (namespace, execution)]:
            del self.cache[entry]
