"""Answers kept ``ttl`` seconds, one read per key at a time, a failed read not kept.

For what the operator reads now and then and may answer from a while: a namespace's task
policy (kube/namespaces.py) and the FailedCreate Events of a namespace (controller/unstarted.py).

- Kept: an answer is reused until ``ttl`` seconds after its read was asked for (the clock is
  injected, so tests move it). Answers gone stale are dropped at each new read, so one entry per
  namespace that was ever asked about does not grow with the tenants.
- Shared: whoever asks while a key's read is out awaits that read. Without it, each of the 64
  workers' reconciles arriving while the kept answer was stale sent a read of its own: ~200 reads
  of one Namespace in a throughput run at N=1,000 where one per 10 s was meant, and 203
  FailedCreate lists against 67 with two replicas at N=300 (benchmarks/README.md, session 6).
- A cancelled asker leaves the read to the others (it is shielded).
- A read that raises fails for everyone who awaited it and is not kept: the next ask reads
  again. An answer meaning "could not tell" (a 403 read as the strictest policy) is the
  ``read``'s to return, and is then kept like any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeptReads(Generic[K, V]):
    def __init__(
        self, ttl: float, read: Callable[[K], Awaitable[V]], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._read = read
        self._kept: dict[K, tuple[float, V]] = {}  # key -> (when its read was asked for, answer)
        self._reading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        """The answer for ``key``: kept, or from the read already out, or from a new read."""
        now = self.clock()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read_and_keep(key, asked=now))
            self._reading[key] = reading
            reading.add_done_callback(lambda _: self._reading.pop(key, None))
        return await asyncio.shield(reading)  # a cancelled asker leaves the read to the others

    def __iter__(self) -> Iterator[K]:
        """The keys with an answer kept (stale ones go at the next read)."""
        return iter(self._kept)

    async def _read_and_keep(self, key: K, asked: float) -> V:
        """``read(key)``'s answer, kept as of ``asked``: it is at least that fresh, however long
        the read took."""
        answer = await self._read(key)
        now = self.clock()
        self._kept = {k: kept for k, kept in self._kept.items() if now - kept[0] < self.ttl}
        self._kept[key] = (asked, answer)
        return answer
