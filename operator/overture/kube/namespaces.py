"""Each namespace's task policy (kube/policy.py), read from its Namespace and kept 10 s.

A Namespace the operator may not read (no RBAC) or that is gone gets the strictest policy:
a flow then may name no ServiceAccount and its tasks run as non-root, which is safe to be
wrong about (the run fails saying why) where the opposite would not be.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from overture.kube.client import Kube
from overture.kube.errors import RejectedError
from overture.kube.policy import STRICTEST, TaskPolicy, from_namespace

log = logging.getLogger("overture.kube")

TTL_SECONDS = 10.0


class NamespacePolicies:
    def __init__(self, kube: Kube, clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.clock = clock
        self._read: dict[str, tuple[float, TaskPolicy]] = {}

    async def get(self, namespace: str) -> TaskPolicy:
        now = self.clock()
        cached = self._read.get(namespace)
        if cached is not None and now - cached[0] < TTL_SECONDS:
            return cached[1]
        try:
            policy = from_namespace(await self.kube.read_namespace(namespace))
        except RejectedError as exc:  # no RBAC, or gone (a transient error is raised: try again)
            log.warning("Could not read a namespace's task policy: namespace=%s error=%s", namespace, exc)
            policy = STRICTEST
        self._read[namespace] = (now, policy)
        return policy
