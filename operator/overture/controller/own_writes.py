"""Status writes in flight, so that the watch's copy of one (its echo) is never reconciled again.

A reconcile that writes an execution's status stores the answer in the cache and has decided
from it already; reconciling the watch's copy of the same version would decide the same
(``step`` is a fixed point for the same observation). When the answer comes first, the cache
holds that version and ``Store.holds_execution`` knows the echo. Under load the watch event often
comes first: then it is set aside here until the answer says which version was written, and
only an event of another version (someone else's change after ours) queues a reconcile.

Nothing is lost: a write that fails, or an event that is not the echo, queues the key (the
reconcile that wrote is still running, so the queue takes it again right after).
"""

from __future__ import annotations

from collections.abc import Callable

from overture.kube.store import Key


class OwnWrites:
    def __init__(self) -> None:
        self._seen: dict[Key, list[str]] = {}  # key -> resourceVersions of its events while its write is out
        self.wake: Callable[[Key], None] = lambda key: None  # the queue's enqueue (set by the Controller)

    def begin(self, key: Key) -> None:
        """A status write of ``key`` is about to be sent."""
        self._seen[key] = []

    def set_aside(self, key: Key, resource_version: str) -> bool:
        """An event of ``key`` arrived; True if it waits for the write's answer instead of queueing ``key``."""
        seen = self._seen.get(key)
        if seen is None:
            return False
        seen.append(resource_version)
        return True

    def end(self, key: Key, written: str | None) -> None:
        """The write's answer (its resourceVersion), or None if it failed: ``key`` is queued
        if an event set aside meanwhile was not the echo of the write."""
        seen = self._seen.pop(key, None)
        if seen and any(version != written for version in seen):
            self.wake(key)
