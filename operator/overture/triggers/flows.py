"""Parsed, valid Flows from the operator's cache, parsed once per generation.

Triggers look at every flow often (the schedule loop at each tick, webhooks at each request);
parsing and validating a Flow costs a millisecond, so the result is kept until the Flow changes.
An invalid Flow is no Flow for triggers: it fires nothing (its Ready condition says why).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from overture.api import Flow, SpecError, parse_flow
from overture.kube.store import Body, Key, Store
from overture.validation import validate_flow

log = logging.getLogger("overture.triggers")


class FlowCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._parsed: dict[Key, tuple[str, Flow | None]] = {}

    def get(self, key: Key) -> Flow | None:
        body = self.store.flows.get(key)
        if body is None:
            self._parsed.pop(key, None)
            return None
        return self._parse(key, body)

    def items(self) -> Iterator[tuple[Body, Flow]]:
        """(body, flow) of every valid flow in the cache."""
        for key, body in list(self.store.flows.items()):
            flow = self._parse(key, body)
            if flow is not None:
                yield body, flow
        for gone in set(self._parsed) - set(self.store.flows):
            self._parsed.pop(gone, None)

    def _parse(self, key: Key, body: Body) -> Flow | None:
        # the spec changes with the generation; status writes (ours included) do not bump it
        version = f"{body['metadata'].get('uid')}/{body['metadata'].get('generation')}"
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        flow: Flow | None
        try:
            flow = parse_flow(dict(body))
            if validate_flow(flow):
                flow = None
        except SpecError:
            flow = None
        except Exception:  # a bug in reading one Flow must cost it its triggers, not every Flow's
            log.exception("Could not read a flow: flow=%s/%s", *key)
            flow = None
        self._parsed[key] = (version, flow)
        return flow
