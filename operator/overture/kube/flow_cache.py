"""Flows from the operator's cache, read once per generation: the controller and triggers share them.

A Flow is read (``validation.read_flow``: parsed, then checked) when it is first needed and kept
until its spec changes (its uid or generation; status writes, ours included, do not bump the
generation). Triggers look at every flow often (the schedule loop at each tick, webhooks at each
request), executions read their flow when they start, and the Flow's Ready condition is worked
out at each Flow event: reading a Flow costs a millisecond, so each generation is read once.

A Flow with template tasks is checked against the TaskTemplates and ClusterTaskTemplates in
the cache (``catalog``), and read again when one of them changes (the store's revision of
templates): a template applied after the Flow makes it Ready, a template deleted makes it Invalid.

An invalid Flow reads as its problems: it fires no trigger and starts no execution, and its
Ready condition says why. A Flow that cannot be read at all because of a bug in Overture costs
that Flow (its problem says so, with a traceback in the log), never the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from overture.api import Flow, TemplateKind
from overture.kube.store import Body, Key, Store
from overture.template_tasks import Catalog, uses_templates
from overture.validation import FlowReading, read_flow

log = logging.getLogger("overture.kube")


def read_body(body: Body, allow_seconds_cron: bool = False, catalog: Catalog | None = None) -> FlowReading:
    """``body`` read as a Flow; never raises."""
    try:
        return read_flow(dict(body), allow_seconds_cron, catalog)
    except Exception as exc:  # a bug in reading one Flow must cost that Flow, not every caller
        meta = body.get("metadata") or {}
        log.exception("Could not read a flow: flow=%s/%s", meta.get("namespace"), meta.get("name"))
        return FlowReading(None, (f"spec: could not be read ({type(exc).__name__}: {exc}); this is a bug in Overture",))


class FlowCache:
    def __init__(self, store: Store, allow_seconds_cron: bool = False) -> None:
        self.store = store
        self.allow_seconds_cron = allow_seconds_cron
        self._read: dict[Key, tuple[str, FlowReading]] = {}
        self._templates_read: set[Key] = set()  # the Flows whose reading depends on the templates
        self._catalog: tuple[int, Catalog] = (-1, Catalog())

    def catalog(self) -> Catalog:
        """The templates in the cache, parsed once per change of any of them."""
        revision = self.store.templates_revision
        if self._catalog[0] != revision:
            bodies = ((TemplateKind(kind), body) for (kind, _, _), body in list(self.store.templates.items()))
            self._catalog = (revision, Catalog.from_bodies(bodies))
        return self._catalog[1]

    def template_users(self) -> list[Key]:
        """The Flows read with template tasks: those a template change may make Ready or Invalid."""
        return [key for key in self._templates_read if key in self.store.flows]

    def reading(self, key: Key) -> FlowReading | None:
        """The Flow ``key`` as read now; None if there is no such Flow."""
        body = self.store.flows.get(key)
        if body is None:
            self._read.pop(key, None)
            self._templates_read.discard(key)
            return None
        return self._reading(key, body)

    def get(self, key: Key) -> Flow | None:
        """The Flow ``key`` if it exists and can run."""
        reading = self.reading(key)
        return reading.flow if reading is not None else None

    def items(self) -> Iterator[tuple[Body, Flow]]:
        """(body, flow) of every Flow that can run."""
        for key, body in list(self.store.flows.items()):
            flow = self._reading(key, body).flow
            if flow is not None:
                yield body, flow
        for gone in set(self._read) - set(self.store.flows):
            self._read.pop(gone, None)
            self._templates_read.discard(gone)

    def _reading(self, key: Key, body: Body) -> FlowReading:
        cached = self._read.get(key)
        if cached is not None and cached[0] == self._version(key, body):
            return cached[1]
        reading = read_body(body, self.allow_seconds_cron, self.catalog())
        if reading.parsed is not None and uses_templates(reading.parsed.spec):
            self._templates_read.add(key)
        else:
            self._templates_read.discard(key)
        self._read[key] = (self._version(key, body), reading)
        return reading

    def _version(self, key: Key, body: Body) -> str:
        # the spec changes with the generation; status writes (ours included) do not bump it
        version = f"{body['metadata'].get('uid')}/{body['metadata'].get('generation')}"
        if key in self._templates_read:
            version += f"/templates-{self.store.templates_revision}"
        return version
