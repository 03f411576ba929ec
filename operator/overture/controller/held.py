"""Routine status changes held in memory, to be written with the next change (batched status writes).

The one thing the controller keeps that the API server does not have yet. A routine change may
wait: the execution's state stays what the API server shows, and the decision only created Jobs
and Normal Events (a task ended and the next one started), or nothing at all (a pod's name,
start time or RUNNING). The next reconcile steps from the held status, and it is written with
the next change that may not wait, or at the latest ``status_debounce`` seconds after a held Job
creation, ``observed_debounce`` seconds after a held observation. With quick tasks a sequential
flow costs about one status write per execution; with pods that run for seconds, about one per
task (their start is written with their end) instead of two or three.

A start, an end, a kill, a retry or a failure (Warning Events), children and deletions are
written at once. Losing a held status (a crash, a new leader) loses no work: the next reconcile
decides the same again from the API server's status and the Jobs, which have deterministic names
(AlreadyExists is adoption), so no attempt gets a second Job; only a TaskStarted Event may be
posted twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from overture.api import Execution, ExecutionStatus
from overture.engine import CreateJob, Decision, EmitEvent, EventType
from overture.kube.store import Key


@dataclass(frozen=True)
class Held:
    written: ExecutionStatus | None  # the status it was decided from: what the API server has
    decided: ExecutionStatus
    deadline: float  # loop time by which it is written at the latest


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


class HeldStatuses:
    def __init__(
        self, status_debounce: float, observed_debounce: float, monotonic: Callable[[], float] = _loop_time
    ) -> None:
        self.status_debounce = status_debounce
        self.observed_debounce = observed_debounce
        self.monotonic = monotonic
        self.held: dict[Key, Held] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.held

    def resume(self, key: Key, execution: Execution) -> Execution:
        """``execution`` with the status held for it, if the API server still has the one it was decided from."""
        held = self.held.get(key)
        if held is not None and held.written == execution.status:
            return execution.model_copy(update={"status": held.decided})
        if held is not None:  # the API server has a status we did not decide from: start from it
            self.forget(key)
        return execution

    def written(self, key: Key, status: ExecutionStatus | None) -> ExecutionStatus | None:
        """What the API server has, for an execution whose status (held or not) is ``status``."""
        held = self.held.get(key)
        return held.written if held is not None else status

    def forget(self, key: Key) -> None:
        self.held.pop(key, None)

    def hold(self, key: Key, written: ExecutionStatus | None, decision: Decision) -> float | None:
        """Hold ``decision.status`` if it may wait; then the seconds until it must be written, else None."""
        if self.status_debounce <= 0 or written is None or decision.status.state != written.state:
            return None
        for action in decision.actions:
            if isinstance(action, EmitEvent) and action.type == EventType.NORMAL:
                continue
            if not isinstance(action, CreateJob):
                return None
        now = self.monotonic()
        wait = self.status_debounce if decision.actions else self.observed_debounce
        current = self.held.get(key)
        deadline = min(current.deadline, now + wait) if current is not None else now + wait
        if now >= deadline:
            return None
        self.held[key] = Held(written, decision.status, deadline)
        return deadline - now
