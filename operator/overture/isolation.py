"""Tenant code off the event loop: a reconcile's ``step`` and a trigger's inputs run in a small
thread pool, each piece of work on a CPU budget for its templates (``templating.cpu_budget``).

Templates and input checks are the code tenants write that the operator itself runs. On the
event loop, one tenant's loop froze /healthz, webhooks and every other tenant's run. Here:

- a template past its budget fails that work (the task, or the trigger, with a message naming
  the budget) within ``cpu_seconds`` of CPU, whatever the template does: the sandbox ticks the
  budget in every loop, call, filter and growing operator;
- while it runs, the event loop goes on serving (the worker thread gives the GIL back every
  few milliseconds, Python's switch interval), and the other threads of the pool go on stepping
  other executions, so one bomb delays another tenant by the cost of sharing a core;
- input ``pattern``s run on RE2 (``api.patterns``), in time linear in the value.

docs/DECISIONS.md compares this with a process pool (stronger isolation, but pickling every
reconcile and tens of MiB per worker) and gives the measured delay.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from overture.templating import DEFAULT_SECONDS, cpu_budget

T = TypeVar("T")
THREADS = 4


class TenantWork:
    """Where tenant code runs: ``await work.run(function, *args)``."""

    def __init__(self, threads: int = THREADS, cpu_seconds: float = DEFAULT_SECONDS) -> None:
        self.cpu_seconds = cpu_seconds
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="overture-tenant")

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a pool thread, its templates sharing one CPU budget."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(self._bounded, function, *args))

    def _bounded(self, function: Callable[..., T], *args: Any) -> T:
        with cpu_budget(self.cpu_seconds):
            return function(*args)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
