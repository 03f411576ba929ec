"""Resource triggers: start a flow when an object of a kind is created, updated or deleted.

The operator watches each (apiVersion, kind, namespace) that a valid, running flow's resource
trigger names, and only those: one watch per triple, started and stopped as flows change.
Events are matched against ``matchLabels`` and ``events`` in memory.

- ``{{ trigger.object }}`` is the object without ``metadata.managedFields`` and without kubectl's
  last-applied annotation (a copy of the whole object: a Secret's data, for one). Secrets are
  watched as metadata only (PartialObjectMetadata): their data never reaches the operator, nor
  an Execution. ``apiVersion`` and ``kind`` are checked by the Flow's schema (a group/version and
  a kind, nothing a URL could be made of) and the kind is found by discovery in that group.
- A flow never fires on what the operator made for it (objects labelled ``overture.dev/flow``
  with its name: its Executions, Jobs and pods), and each trigger fires at most
  ``TriggerSettings.resource_rate`` times a minute (a ``TriggerCapped`` Event says when events
  were dropped): two flows feeding each other run at that rate, not as fast as the API allows.
- The Execution's name is computed from (flow, trigger, object uid, event and, for updates, the
  object's resourceVersion), so one event starts one run even when it is seen twice.
- Each watch is a ``kube.watch.ListWatch``, as the operator's own: one that ends or breaks goes
  on from the last resourceVersion seen, so no event is lost. A watch has no history, though:
  when it starts, or lists again because its resourceVersion is gone (410), objects listed that
  were created since the flow appeared, and at most ``LOOKBACK`` ago, fire ``created`` (the name
  makes those already fired a no-op): a restarted operator catches up creations it missed.
  Updates and deletions that happened while no watch ran are not replayed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from overture.api import LABEL_FLOW, Flow, ResourceEvent, ResourceTrigger, TriggerKind
from overture.api.times import parse_time
from overture.kube.client import Kube, namespaced_path
from overture.kube.errors import ApiError
from overture.kube.store import LAST_APPLIED
from overture.kube.watch import ListWatch
from overture.triggers.executions import build_execution, execution_name

log = logging.getLogger("overture.triggers")

LOOKBACK = timedelta(minutes=10)
DISCOVERY_RETRY_SECONDS = 30.0  # while the API server does not serve the kind, or discovery fails
METADATA_ONLY_KINDS = frozenset({("v1", "Secret")})
_WATCH_EVENTS = {"ADDED": ResourceEvent.CREATED, "MODIFIED": ResourceEvent.UPDATED, "DELETED": ResourceEvent.DELETED}


@dataclass(frozen=True, order=True)
class WatchKey:
    api_version: str
    kind: str
    namespace: str

    @property
    def metadata_only(self) -> bool:
        return (self.api_version, self.kind) in METADATA_ONLY_KINDS


def _active(flow: Flow) -> Iterable[ResourceTrigger]:
    if flow.spec.suspend:
        return ()
    return [t for t in flow.spec.triggers if isinstance(t, ResourceTrigger) and not t.disabled]


def watch_keys(flows: Iterable[Flow]) -> set[WatchKey]:
    return {WatchKey(t.api_version, t.kind, f.metadata.namespace or "") for f in flows for t in _active(f)}


def object_data(obj: dict[str, Any], metadata_only: bool) -> dict[str, Any]:
    """What ``{{ trigger.object }}`` shows: never a Secret's data, managedFields or a last-applied copy."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    if metadata_only:
        return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": meta}
    return {**obj, "metadata": meta}


def matching_triggers(
    flows: Iterable[Flow], key: WatchKey, event: ResourceEvent, obj: dict[str, Any]
) -> list[tuple[Flow, ResourceTrigger]]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    found = []
    for flow in flows:
        if (flow.metadata.namespace or "") != key.namespace:
            continue
        if labels.get(LABEL_FLOW) == flow.metadata.name:
            continue  # its own Executions, Jobs and pods: a flow would otherwise feed itself
        for trigger in _active(flow):
            if (trigger.api_version, trigger.kind) != (key.api_version, key.kind) or event not in trigger.events:
                continue
            if all(labels.get(k) == v for k, v in trigger.match_labels.items()):
                found.append((flow, trigger))
    return found


def is_new_enough(flow: Flow, obj: dict[str, Any], now: datetime) -> bool:
    """Whether an object found by a (re)started watch's LIST counts as created while watched."""
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    flow_created = flow.metadata.creation_timestamp
    if created is None:
        return False
    return created >= now - LOOKBACK and (flow_created is None or created >= flow_created)


def build_resource_execution(
    flow: Flow, trigger: ResourceTrigger, key: WatchKey, event: ResourceEvent, obj: dict[str, Any], date: str
) -> dict[str, Any]:
    """Raises ``TemplateError`` if the trigger's inputs do not render."""
    meta = obj.get("metadata") or {}
    version = meta.get("resourceVersion") if event == ResourceEvent.UPDATED else ""
    unique = f"resource/{flow.metadata.name}/{trigger.id}/{meta.get('uid')}/{event.value}/{version}"
    data = object_data(obj, key.metadata_only) | {"event": event.value}
    return build_execution(
        flow,
        trigger,
        name=execution_name(flow.metadata.name, trigger.id, event.value[:3], unique),
        kind=TriggerKind.RESOURCE,
        date=date,
        data=data,
    )


Handler = Callable[[WatchKey, ResourceEvent, dict[str, Any], bool], Awaitable[None]]


class ResourceWatches:
    """One watch task per WatchKey; ``handler(key, event, object, listed)`` for every event."""

    def __init__(self, kube: Kube, handler: Handler) -> None:
        self.kube = kube
        self.handler = handler
        self.tasks: dict[WatchKey, asyncio.Task[None]] = {}

    def ensure(self, wanted: set[WatchKey]) -> None:
        for key in set(self.tasks) - wanted:
            self.tasks.pop(key).cancel()
            log.info("Stopped watching: kind=%s/%s namespace=%s", key.api_version, key.kind, key.namespace)
        for key in wanted - set(self.tasks):
            self.tasks[key] = asyncio.create_task(self._watch(key), name=f"overture-watch-{key.kind}-{key.namespace}")
            log.info("Started watching: kind=%s/%s namespace=%s", key.api_version, key.kind, key.namespace)

    def stop(self) -> None:
        self.ensure(set())

    async def _watch(self, key: WatchKey) -> None:
        """LIST the kind in the namespace, then watch it for good (kube/watch.ListWatch, as the
        operator's own watches: a watch that ends or breaks goes on from the last resourceVersion
        seen; one whose resourceVersion is gone, 410, lists again)."""
        watch = ListWatch(
            self.kube,
            await self._path(key),
            "",
            key.kind,
            key.api_version,
            handler=functools.partial(self._watched, key),
            cached={},  # nothing kept: a deletion while no watch ran is not replayed
            listed=functools.partial(self._listed, key),
            metadata_only=key.metadata_only,
        )
        await watch.run()

    async def _path(self, key: WatchKey) -> str:
        """Where the kind's objects in the namespace are, by discovery; asked again until served
        (a CustomResourceDefinition applied after the flow, say)."""
        while True:
            try:
                found = await self.kube.resource_plural(key.api_version, key.kind)
                problem = f"the API server serves no {key.kind} in {key.api_version}"
            except ApiError as exc:
                found, problem = None, str(exc)
            if found is not None:
                return namespaced_path(key.api_version, found[0], key.namespace)
            log.warning(
                "Cannot watch: kind=%s/%s namespace=%s error=%s", key.api_version, key.kind, key.namespace, problem
            )
            await asyncio.sleep(DISCOVERY_RETRY_SECONDS)

    async def _watched(self, key: WatchKey, kind: str, obj: dict[str, Any]) -> None:
        event = _WATCH_EVENTS.get(kind)
        if event is not None:
            await self._handle(key, event, obj, False)

    async def _listed(self, key: WatchKey, _kind: str, obj: dict[str, Any]) -> None:
        await self._handle(key, ResourceEvent.CREATED, obj, True)

    async def _handle(self, key: WatchKey, event: ResourceEvent, obj: dict[str, Any], listed: bool) -> None:
        try:
            await self.handler(key, event, obj, listed)
        except ApiError as exc:
            log.warning("Resource trigger failed: kind=%s namespace=%s error=%s", key.kind, key.namespace, exc)
