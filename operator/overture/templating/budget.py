"""How much CPU a tenant's templates may spend, checked from inside the sandbox.

Size bounds (``bounds``) stop a template from building too much; this stops one from running too
long: two nested ``range(100000)`` loops build nothing and once ran for minutes on the operator's
event loop. Every loop iteration, sandboxed call, checked operator and filter ``tick``s the
budget in force, and a tick past it raises ``BudgetExceededError`` (a ``RefusedError``, which ``render``
reports as a template error naming the budget).

The budget is CPU time of the thread that renders (``time.thread_time``), so a busy machine or
other threads do not count against a template. A piece of work sets one budget for all the
templates it renders (``cpu_budget``: a reconcile's ``step``, one trigger's inputs), so many small
templates cannot add up to more; a render outside any budget gets ``DEFAULT_SECONDS`` of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

DEFAULT_SECONDS = 2.0
_EVERY = 256  # ticks between two reads of the thread's CPU clock (a read costs about a microsecond)


class RefusedError(Exception):
    """A template asked for more than it may: a value over the size bound (``bounds``) or more CPU
    than its budget. Overture's own, not jinja's ``SecurityError``, so that this module and
    ``bounds`` load without Jinja (``rendering``); ``render`` reports both alike."""


class BudgetExceededError(RefusedError):
    """A template used more CPU than the budget in force."""


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.thread = threading.get_ident()
        self.deadline = time.thread_time() + seconds
        self.ticks = 0
        self.spent = False

    def tick(self) -> None:
        self.ticks += 1
        if self.spent or self.ticks % _EVERY == 0:
            self.check()

    def check(self) -> None:
        if threading.get_ident() != self.thread:  # the work moved to another thread: count from here
            self.thread, self.deadline = threading.get_ident(), time.thread_time() + self.seconds
        if self.spent or time.thread_time() > self.deadline:
            self.spent = True
            raise BudgetExceededError(
                f"the templates used more than {self.seconds:g} s of CPU (a loop too long?); "
                f"templates may use {self.seconds:g} s per step of a run or per trigger"
            )


_CURRENT: ContextVar[Budget | None] = ContextVar("overture_template_budget", default=None)


@contextmanager
def cpu_budget(seconds: float = DEFAULT_SECONDS) -> Iterator[Budget]:
    """Every template rendered inside shares ``seconds`` of CPU (it replaces an enclosing budget)."""
    budget = Budget(seconds)
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


@contextmanager
def rendering() -> Iterator[None]:
    """The budget in force, or a fresh default one for a render outside any."""
    budget = _CURRENT.get()
    if budget is not None:
        budget.check()  # a budget spent by an earlier template fails the next one at once
        yield
        return
    with cpu_budget():
        yield


def tick() -> None:
    budget = _CURRENT.get()
    if budget is not None:
        budget.tick()


def ticking(iterable: Iterable[Any]) -> Iterator[Any]:
    """``iterable``, ticking the budget at each item (the loops of a template)."""
    budget = _CURRENT.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.tick()
        yield item
