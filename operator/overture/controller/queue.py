"""The work queue of executions to reconcile, and the workers that take keys from it.

As in controller-runtime, the queue and its workers are apart from the reconcile: a key
(namespace, name) is queued whenever something about it changes (``enqueue``, from the watches),
and a reconcile says what it wants next by returning a ``Result``: to be called again after
``requeue_after`` seconds, and other keys to reconcile now (``wake``). Workers take keys one at
a time, so a key is never reconciled twice at once: a key queued while it is being reconciled is
taken again right after. Errors decide the next call here: a conflict (409: the status changed
under us) at once, from the fresh copy; a transient API error in 2 s; a 404 (the object was
deleted while it was being reconciled, e.g. by a person or retention) not again: its deletion
is seen by the watch; anything else (a bug) in 10 s, with its traceback logged.

While this replica does not lead (``gate`` clear), workers wait before taking a key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from overture.kube.errors import ConflictError, RejectedError, TransientError
from overture.kube.store import Key

log = logging.getLogger("overture.controller")

TRANSIENT_RETRY_SECONDS = 2.0
FAILED_RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class Result:
    """What a reconcile wants next."""

    requeue_after: float | None = None  # seconds until this key is reconciled again; 0: right after; None: no wish
    wake: tuple[Key, ...] = ()  # other keys to reconcile now (queued siblings, a parent)

    def sooner(self, seconds: float | None) -> Result:
        """This result, called again after ``seconds`` at the latest."""
        if seconds is None or (self.requeue_after is not None and self.requeue_after <= seconds):
            return self
        return Result(seconds, self.wake)


Reconcile = Callable[[Key], Awaitable[Result]]


class WorkQueue:
    def __init__(
        self,
        reconcile: Reconcile,
        workers: int,
        gate: asyncio.Event | None = None,
        owns: Callable[[Key], bool] | None = None,
    ) -> None:
        self.reconcile = reconcile
        self.workers = workers
        self.gate = gate  # set while this replica leads (holds a shard); None: always act
        self.owns = owns  # with shards: whether this replica holds the key's shard; None: every key is ours
        self.queue: asyncio.Queue[Key] = asyncio.Queue()
        self.queued: set[Key] = set()
        self.busy: set[Key] = set()
        self.again: set[Key] = set()
        self.timers: dict[Key, tuple[float, asyncio.TimerHandle]] = {}
        self.observers: list[Callable[[float], None]] = []  # each reconcile's duration, in seconds

    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        if self.owns is not None and not self.owns(key):
            return  # another replica's shard (about half of all events with two): see _worker for one lost since
        if delay > 0:
            loop = asyncio.get_running_loop()
            due = loop.time() + delay
            current = self.timers.get(key)
            if current is not None and current[0] <= due:
                return
            if current is not None:
                current[1].cancel()
            self.timers[key] = (due, loop.call_at(due, self._fire, key))
            return
        if key in self.busy:
            self.again.add(key)
        elif key not in self.queued:
            self.queued.add(key)
            self.queue.put_nowait(key)

    def _fire(self, key: Key) -> None:
        self.timers.pop(key, None)
        self.enqueue(key)

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    async def run(self) -> None:
        workers = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if self.gate is not None and not self.gate.is_set():
                await self.gate.wait()
            self.queued.discard(key)
            if self.owns is not None and not self.owns(key):
                continue  # another replica's shard: its holder reconciles it (and resyncs when it takes it)
            self.busy.add(key)
            started = time.perf_counter()
            try:
                self._follow(key, await self.reconcile(key))
            except ConflictError:
                self.again.add(key)
            except TransientError as exc:
                log.warning("TransientError API error, retrying: execution=%s/%s error=%s", *key, exc)
                self.enqueue(key, delay=TRANSIENT_RETRY_SECONDS)
            except RejectedError as exc:
                if exc.status != 404:
                    log.exception("Reconcile failed: execution=%s/%s", *key)
                    self.enqueue(key, delay=FAILED_RETRY_SECONDS)
                else:
                    log.info("Execution deleted while reconciled: execution=%s/%s", *key)
            except Exception:
                log.exception("Reconcile failed: execution=%s/%s", *key)
                self.enqueue(key, delay=FAILED_RETRY_SECONDS)
            finally:
                elapsed = time.perf_counter() - started
                for observe in self.observers:
                    observe(elapsed)
                self.busy.discard(key)
                if key in self.again:
                    self.again.discard(key)
                    self.enqueue(key)

    def _follow(self, key: Key, result: Result) -> None:
        """Do what ``result`` asks: ``key`` again later (at once if 0), and the keys to wake now."""
        if result.requeue_after is not None:
            if result.requeue_after <= 0:
                self.again.add(key)
            else:
                self.enqueue(key, delay=result.requeue_after)
        for other in result.wake:
            self.enqueue(other)
