"""Flows from the operator's cache, read once per generation: the controller and triggers share them.

A Flow is read (``validation.read_flow``: parsed, then checked) when it is first needed and kept
until its spec changes (its uid or generation; status writes, ours included, do not bump the
generation). Triggers look at every flow often (the schedule loop at each tick, webhooks at each
request), executions read their flow when they start, and the Flow's Ready condition is worked
out at each Flow event: reading a Flow costs a millisecond, so each generation is read once.

An invalid Flow reads as its problems: it fires no trigger and starts no execution, and its
Ready condition says why. A Flow that cannot be read at all because of a bug in Overture costs
that Flow (its problem says so, with a traceback in the log), never the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from overture.api import Flow
from overture.kube.store import Body, Key, Store
from overture.validation import FlowReading, read_flow

log = logging.getLogger("overture.kube")


def read_body(body: Body, allow_seconds_cron: bool = False) -> FlowReading:
    """``body`` read as a Flow; never raises."""
    try:
        return read_flow(dict(body), allow_seconds_cron)
    except Exception as exc:  # a bug in reading one Flow must cost that Flow, not every caller
        meta = body.get("metadata") or {}
        log.exception("Could not read a flow: flow=%s/%s", meta.get("namespace"), meta.get("name"))
        return FlowReading(None, (f"spec: could not be read ({type(exc).__name__}: {exc}); this is a bug in Overture",))


class FlowCache:
    def __init__(self, store: Store, allow_seconds_cron: bool = False) -> None:
        self.store = store
        self.allow_seconds_cron = allow_seconds_cron
        self._read: dict[Key, tuple[str, FlowReading]] = {}

    def reading(self, key: Key) -> FlowReading | None:
        """The Flow ``key`` as read now; None if there is no such Flow."""
        body = self.store.flows.get(key)
        if body is None:
            self._read.pop(key, None)
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

    def _reading(self, key: Key, body: Body) -> FlowReading:
        # the spec changes with the generation; status writes (ours included) do not bump it
        version = f"{body['metadata'].get('uid')}/{body['metadata'].get('generation')}"
        cached = self._read.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        reading = read_body(body, self.allow_seconds_cron)
        self._read[key] = (version, reading)
        return reading
