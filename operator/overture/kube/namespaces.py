"""Each namespace's task policy (kube/policy.py), read from its Namespace and kept 10 s.

Kept and shared by kube/kept_reads.py: each reconcile that creates a Job asks, and before reads
were shared, those in flight when the 10 s ran out each read the Namespace again (~200 reads in
one throughput run at N=1,000 instead of ~7; benchmarks/README.md, session 6).

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
from overture.kube.kept_reads import KeptReads
from overture.kube.policy import STRICTEST, TaskPolicy, from_namespace

log = logging.getLogger("overture.kube")

TTL_SECONDS = 10.0


class NamespacePolicies:
    def __init__(self, kube: Kube, clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self._policies: KeptReads[str, TaskPolicy] = KeptReads(TTL_SECONDS, self._read_policy, clock)

    async def get(self, namespace: str) -> TaskPolicy:
        return await self._policies.get(namespace)

    async def _read_policy(self, namespace: str) -> TaskPolicy:
        try:
            return from_namespace(await self.kube.read_namespace(namespace))
        except RejectedError as exc:  # no RBAC, or gone (a transient error is raised: try again)
            log.warning("Could not read a namespace's task policy: namespace=%s error=%s", namespace, exc)
            return STRICTEST
