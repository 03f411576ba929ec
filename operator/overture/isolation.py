"""Tenant code off the event loop: a reconcile's ``step`` and a trigger's inputs run in a small
thread pool, each piece of work on a CPU budget for its templates (``templating.cpu_budget``),
shared fairly between namespaces.

Templates and input checks are the code tenants write that the operator itself runs. On the
event loop, one tenant's loop froze /healthz, webhooks and every other tenant's run. Here:

- a template past its budget fails that work (the task, or the trigger, with a message naming
  the budget) within ``cpu_seconds`` of CPU, whatever the template does: the sandbox ticks the
  budget in every loop, call, filter and growing operator;
- while it runs, the event loop goes on serving (the worker thread gives the GIL back every
  few milliseconds, Python's switch interval), and the other threads of the pool go on stepping
  other executions;
- work waits in one queue per tenant (namespace), and the queues are served in turn: a free
  thread takes the next work of the tenant served longest ago, and a tenant never holds more
  than ``per_tenant`` threads (half the pool by default). Many bombs in one namespace then fill
  its own queue and at most half the threads; another namespace's work starts at once on the
  other half (or on the next free thread: a namespace new to the line goes first), instead of
  behind every bomb queued before it (benchmarks/fairness.py measures
  both);
- input ``pattern``s run on RE2 (``api.patterns``), in time linear in the value.

The queues live on the event loop (``run`` and the threads' completions both land there), so
they need no lock. docs/DECISIONS.md compares this with a process pool (stronger isolation, but
pickling every reconcile and tens of MiB per worker) and gives the measured delays.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from overture.templating import DEFAULT_SECONDS, cpu_budget

T = TypeVar("T")
THREADS = 4


@dataclass
class _Waiting:
    call: Callable[[], Any]
    done: asyncio.Future[Any]


class TenantWork:
    """Where tenant code runs: ``await work.run(namespace, function, *args)``."""

    def __init__(self, threads: int = THREADS, cpu_seconds: float = DEFAULT_SECONDS, per_tenant: int = 0) -> None:
        self.cpu_seconds = cpu_seconds
        self.threads = threads
        self.per_tenant = per_tenant or max(1, threads // 2)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="overture-tenant")
        self.waiting: dict[str, deque[_Waiting]] = {}
        self.running: dict[str, int] = {}
        # tenants with work waiting or running, least recently served first (a new one first of all)
        self.turns: OrderedDict[str, None] = OrderedDict()

    async def run(self, tenant: str, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a pool thread, in ``tenant``'s turn, its templates sharing one CPU budget."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(tenant, deque()).append(
            _Waiting(functools.partial(self._bounded, function, *args), done)
        )
        if tenant not in self.turns:
            self.turns[tenant] = None
            self.turns.move_to_end(tenant, last=False)
        self._start_next()
        return await done  # cancelled while waiting: _start_next drops it

    def _start_next(self) -> None:
        loop = asyncio.get_running_loop()
        while sum(self.running.values()) < self.threads:
            tenant = next(
                (t for t in self.turns if t in self.waiting and self.running.get(t, 0) < self.per_tenant), None
            )
            if tenant is None:
                return
            queue = self.waiting[tenant]
            item = queue.popleft()
            if not queue:
                del self.waiting[tenant]
            self.turns.move_to_end(tenant)  # to the back of the line
            if item.done.done():
                self._forget_idle(tenant)
                continue  # its caller went away while it waited
            self.running[tenant] = self.running.get(tenant, 0) + 1
            started = loop.run_in_executor(self.pool, item.call)
            started.add_done_callback(functools.partial(self._finished, tenant, item))

    def _finished(self, tenant: str, item: _Waiting, started: asyncio.Future[Any]) -> None:
        self.running[tenant] -= 1
        if not self.running[tenant]:
            del self.running[tenant]
        self._forget_idle(tenant)
        if not item.done.done():
            if started.cancelled():
                item.done.cancel()
            elif (error := started.exception()) is not None:
                item.done.set_exception(error)
            else:
                item.done.set_result(started.result())
        self._start_next()

    def _forget_idle(self, tenant: str) -> None:
        if tenant not in self.waiting and tenant not in self.running:
            self.turns.pop(tenant, None)

    def _bounded(self, function: Callable[..., T], *args: Any) -> T:
        with cpu_budget(self.cpu_seconds):
            return function(*args)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
