"""Events about executions, posted in the background after the status write they follow.

``EventPoster.post`` queues an Event and returns at once: a reconcile never waits on an Event
(kopf's ``_core/engines/posting.py`` does the same). ``POSTERS`` tasks post them; an execution's
Events always go to the same one, so they are posted in the order they were decided. Posting
never raises (``Kube.emit_event`` logs a failure): an Event is a message for a person, not state.
"""

from __future__ import annotations

import asyncio
from typing import Any

from overture.engine import EmitEvent, EventType
from overture.kube.client import Kube
from overture.kube.store import Body

POSTERS = 4
# Progress the status shows anyway; posted only with task_events (OVERTURE_TASK_EVENTS=true).
ROUTINE_EVENTS = frozenset({"Started", "TaskStarted", "TaskSucceeded"})


def is_routine(action: EmitEvent) -> bool:
    """An execution's start, a task's start or success: all in the status too (docs/DECISIONS.md)."""
    return action.type == EventType.NORMAL and action.reason in ROUTINE_EVENTS


class EventPoster:
    def __init__(self, kube: Kube, posters: int = POSTERS) -> None:
        self.kube = kube
        self.queues: list[asyncio.Queue[tuple[dict[str, Any], str, str, str]]] = [
            asyncio.Queue() for _ in range(posters)
        ]

    def post(self, involved: Body, type_: str, reason: str, message: str) -> None:
        """Queue an Event; one poster per execution keeps an execution's Events in order."""
        meta = involved["metadata"]
        queue = self.queues[hash((meta.get("namespace"), meta["name"])) % len(self.queues)]
        queue.put_nowait((dict(involved), type_, reason, message))

    async def run(self) -> None:
        posters = [asyncio.create_task(self._post_from(queue)) for queue in self.queues]
        try:
            await asyncio.gather(*posters)
        finally:
            for poster in posters:
                poster.cancel()

    async def _post_from(self, queue: asyncio.Queue[tuple[dict[str, Any], str, str, str]]) -> None:
        while True:
            involved, type_, reason, message = await queue.get()
            await self.kube.emit_event(involved, type_, reason, message)  # never raises
