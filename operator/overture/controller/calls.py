"""The calls the engine asks for (``StartCall``: http, sql, notify attempts), made in the background.

A reconcile hands each ``StartCall`` to ``CallRunner.start`` and reads the answers so far with
``answers(key)`` into ``Observed.calls``. A call runs as its own asyncio task, never inside a
reconcile: a slow server holds no worker. When it ends, its answer is kept and the execution is
queued again (``wake``); the engine writes it into the status, and the answers of an execution
go when it ends (``forget``).

The engine asks again for a call at every step until it sees the answer, so one in flight (or
answered, not yet written) is not made twice; one lost with the process (a restart between the
request and the status write) is made again: calls are at least once. The secrets a request
names are read when it is made (a GET per Secret key) and revealed into it there only; a
message that would carry a secret's value (an error echoing a URL) has it replaced by ``***``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping

from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard
from overture.calls.perform import perform, reveal
from overture.calls.sql import StoreFile
from overture.engine import CallObservation, StartCall
from overture.kube.artifacts import ArtifactStore, attempt_prefix
from overture.kube.client import Kube
from overture.kube.errors import RejectedError
from overture.kube.store import Key

log = logging.getLogger("overture.controller")
MESSAGE_LIMIT = 1000


class CallRunner:
    def __init__(self, kube: Kube, guard: AddressGuard, artifacts: ArtifactStore | None = None) -> None:
        self.kube = kube
        self.guard = guard
        self.artifacts = artifacts  # where a call's files go (a sql task's rows.csv); None: no store
        self.wake: Callable[[Key], None] = lambda key: None  # set by the controller: queue the execution
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._answers: dict[Key, dict[str, CallObservation]] = {}

    def start(self, key: Key, call: StartCall) -> None:
        """Make ``call`` for execution ``key`` unless it is in flight or answered already."""
        if call.key in self._inflight or call.key in self._answers.get(key, {}):
            return
        self._inflight[call.key] = asyncio.create_task(self._run(key, call), name=f"call {call.key}")

    def answers(self, key: Key) -> Mapping[str, CallObservation]:
        return dict(self._answers.get(key, {}))

    def forget(self, key: Key) -> None:
        """The execution ended or is gone: its answers are in its status or no longer wanted."""
        self._answers.pop(key, None)

    async def _run(self, key: Key, call: StartCall) -> None:
        namespace = key[0]
        secrets: dict[str, str] = {}
        try:
            secrets = await self._secrets(namespace, call)
            store_file = self._file_store(key, call) if self.artifacts else None
            outputs = await perform(
                call.kind, reveal(call.request, secrets), self.guard, call.timeout_seconds, store_file
            )
            answer = CallObservation(call.key, ok=True, outputs=outputs)
            log.info("Made a call: execution=%s/%s task=%s attempt=%d", *key, call.task_run, call.attempt)
        except CallError as exc:
            answer = CallObservation(call.key, ok=False, message=_redacted(str(exc), secrets))
            log.info("A call failed: execution=%s/%s task=%s reason=%s", *key, call.task_run, answer.message)
        except Exception as exc:  # a bug of ours must fail the attempt, not leave it waiting
            log.exception("A call broke: execution=%s/%s task=%s", *key, call.task_run)
            answer = CallObservation(
                call.key, ok=False, message=f"the operator could not make the call: {type(exc).__name__}"
            )
        finally:
            self._inflight.pop(call.key, None)
        self._answers.setdefault(key, {})[call.key] = answer
        self.wake(key)

    def _file_store(self, key: Key, call: StartCall) -> StoreFile:
        """Where this attempt's one file goes: ``<attempt>/files/0``, as a pod's first file would
        (so retention deletes it with the execution), at most the store's ``max_file_bytes``."""
        store = self.artifacts
        assert store is not None
        object_key = attempt_prefix(key[0], key[1], call.key) + "files/0"
        limit = store.settings.max_file_bytes
        over = f"is over the limit of {limit} bytes a file (OVERTURE_MAX_FILE_BYTES)"

        async def store_file(name: str, chunks: AsyncIterator[bytes]) -> str:
            size = 0

            async def counted() -> AsyncIterator[bytes]:
                nonlocal size
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise CallError(f"{name} {over}")
                    yield chunk

            try:
                await store.write_stream(object_key, counted())
            except CallError:
                raise
            except Exception as exc:  # obstore's errors carry the request; ours may come back wrapped
                if size > limit:
                    raise CallError(f"{name} {over}") from None
                raise CallError(f"storing {name} in the artifact store failed: {type(exc).__name__}: {exc}") from None
            return store.settings.uri(object_key)

        return store_file

    async def _secrets(self, namespace: str, call: StartCall) -> dict[str, str]:
        values: dict[str, str] = {}
        for var, (name, key) in call.secrets.items():
            try:
                value = await self.kube.read_secret_value(namespace, name, key)
            except RejectedError as exc:  # 403: the chart grants the operator `get` on Secrets
                raise CallError(f"secret('{name}', '{key}'): the operator could not read it: {exc}") from None
            if value is None:
                raise CallError(
                    f"secret('{name}', '{key}'): no Secret {name!r} with key {key!r} in namespace {namespace!r}"
                )
            values[var] = value
        return values


def _redacted(message: str, secrets: Mapping[str, str]) -> str:
    for value in secrets.values():
        if len(value) >= 4:  # a one-letter secret would blank the message out
            message = message.replace(value, "***")
    return message[:MESSAGE_LIMIT]
