"""One read per key at a time: whoever asks while it is out awaits that read.

For what the operator reads now and then and keeps a while (a namespace's task policy,
kube/namespaces.py; the FailedCreate Events of a namespace, controller/unstarted.py). Without it,
each of the 64 workers' reconciles arriving while the kept answer is stale sends a read of its
own: ~200 reads of one Namespace in a throughput run at N=1,000 where one per 10 s was meant
(benchmarks/README.md, session 6). Keeping the answer is the caller's; this only shares the read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedReads(Generic[K, V]):
    def __init__(self) -> None:
        self._reading: dict[K, asyncio.Future[V]] = {}

    async def read(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """``read()``'s answer, from the read of ``key`` already out if there is one. A failed read
        fails for everyone who awaited it; the next ask reads again."""
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(read())
            self._reading[key] = reading
            reading.add_done_callback(lambda _: self._reading.pop(key, None))
        return await asyncio.shield(reading)  # a cancelled asker leaves the read to the others
