"""Finished task runs of a big execution, archived inside its status: the Execution stays small.

An Execution holds every task run in its status, and etcd refuses an object over 1.5 MiB. Past
``ARCHIVE_AFTER`` task runs, the status as written (``ExecutionStatus.to_wire``) keeps in
``taskRuns`` only what a person looks at first (every unfinished run, and the first
``FAILURES_SHOWN`` that failed or warned: a failure ``allowFailure`` let pass ends WARNING, and
it is the one a person looks for in a fan-out that went on past it) and puts every other run
into ``archivedRuns``: the list of all runs in order (an archived run as its JSON, a run kept
in ``taskRuns`` as its id), in chunks of ``CHUNK_RUNS``, each zlib-compressed (level 1, as the
store packs finished executions) and base64. ``taskRunCounts`` counts every run by state, so
``kubectl get -o wide`` and the metrics read the counts without decoding anything.

Reading a status (``ExecutionStatus`` from its JSON; ``task_runs_of`` for a plain object) puts the
archived runs back where they were: the models, the engine and the CLI see every task run.

Runs are only ever appended, so a chunk's runs stay the same from one reconcile to the next
unless one of them changed: ``ChunkCache`` keeps the chunks it read and wrote lately, parsed and
encoded, and a reconcile of a 10,000-run execution parses and encodes only the chunks that
changed instead of every run.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from overture.api.states import State

ARCHIVE_AFTER = 200
FAILURES_SHOWN = 20
CHUNK_RUNS = 250
ENCODING = "zlib+base64"

R = TypeVar("R")


class ArchiveError(ValueError):
    """``archivedRuns`` cannot be read (the operator never writes such a status)."""


def count_states(states: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(states).items()))


def shown_in_full(states: Sequence[str]) -> list[bool]:
    """Which runs ``taskRuns`` keeps in full: all of them up to ``ARCHIVE_AFTER``; past it, the
    unfinished ones and the first ``FAILURES_SHOWN`` that failed or warned (allowed failures)."""
    if len(states) <= ARCHIVE_AFTER:
        return [True] * len(states)
    shown: list[bool] = []
    failures = 0
    for state in states:
        failed = state in (State.FAILED, State.WARNING)
        keep = not State(state).is_terminal or (failed and failures < FAILURES_SHOWN)
        failures += keep and failed
        shown.append(keep)
    return shown


def task_runs_of(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every task run of a status read as a plain object (wire form), archived ones included, in
    order. An archive that cannot be read counts as none here (``parse_execution`` names the problem)."""
    shown = [run for run in status.get("taskRuns") or [] if isinstance(run, dict)]
    archive = status.get("archivedRuns")
    if not archive:
        return shown
    try:
        entries = [entry for data in _chunks(archive) for entry in _entries_of(str(data))]
    except ArchiveError:
        return shown
    return _merge(entries, shown)


@lru_cache(maxsize=256)
def _entries_of(data: str) -> tuple[Any, ...]:
    """A chunk's entries, for readers of plain objects (``overture run --follow`` reads the same
    chunks at every update). Shared: the runs are read, never changed."""
    return tuple(decode(data, 0))


def restore_runs(status: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` (wire form) with every task run in ``taskRuns``, in order, and no archive."""
    restored = {key: value for key, value in status.items() if key != "archivedRuns"}
    restored["taskRuns"] = task_runs_of(status)
    return restored


def task_run_counts(status: Mapping[str, Any]) -> dict[str, int]:
    """Task runs by state, from ``taskRunCounts`` when the operator wrote it, else from the runs."""
    counts = status.get("taskRunCounts")
    if isinstance(counts, dict):
        return {str(k): int(v) for k, v in counts.items() if isinstance(v, int)}
    return count_states(str(run.get("state") or State.CREATED) for run in task_runs_of(status))


def encode(entries: Sequence[Any]) -> str:
    return base64.b64encode(zlib.compress(json.dumps(entries, separators=(",", ":")).encode(), 1)).decode()


def decode(data: Any, index: int) -> list[Any]:
    """Chunk ``index``'s entries: runs (plain objects) and ids of runs kept in ``taskRuns``."""
    where = f"archivedRuns.chunks[{index}]"
    try:
        entries = json.loads(zlib.decompress(base64.b64decode(str(data), validate=True)))
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise ArchiveError(f"{where}: cannot be read ({exc}); Overture writes base64 of zlib-compressed JSON") from None
    if not isinstance(entries, list):
        raise ArchiveError(f"{where}: not a list of task runs")
    for entry in entries:
        if not isinstance(entry, dict | str):
            raise ArchiveError(f"{where}: an entry is a {type(entry).__name__}, not a task run or the id of one")
    return entries


def _chunks(archive: Any) -> list[Any]:
    if not isinstance(archive, Mapping) or archive.get("encoding") != ENCODING:
        raise ArchiveError(f"archivedRuns.encoding: not {ENCODING!r}; this status was not written by Overture")
    chunks = archive.get("chunks")
    if not isinstance(chunks, list):
        raise ArchiveError("archivedRuns.chunks: not a list")
    return chunks


def _merge(
    entries: Iterable[Any], shown: list[Any], id_of: Callable[[Any], str] = lambda r: str(r.get("id"))
) -> list[Any]:
    """Archived runs in their places, and the runs kept in ``taskRuns`` where their ids stand."""
    by_id = {id_of(run): run for run in shown}
    runs: list[Any] = []
    for entry in entries:
        if not isinstance(entry, str):
            runs.append(entry)
        elif (run := by_id.pop(entry, None)) is not None:
            runs.append(run)
    return runs + list(by_id.values())  # kept runs the archive does not list: last


class ChunkCache(Generic[R]):
    """Chunks read and written lately, both ways, as parsed runs (``R``) and as encoded text.

    Frozen runs are shared, never changed, so a chunk whose runs are the very objects it was read
    as (or written from) is the same chunk: its text is reused and nothing is dumped or encoded.
    """

    def __init__(self, parse: Callable[[Any], R], dump: Callable[[R], dict[str, Any]], size: int = 128) -> None:
        self._parse = parse
        self._dump = dump
        self._size = size
        self._read: OrderedDict[str, tuple[R | str, ...]] = OrderedDict()
        self._written: OrderedDict[tuple[int | str, ...], tuple[tuple[R | str, ...], str]] = OrderedDict()

    def write(self, runs: Sequence[R], shown: Sequence[bool], id_of: Callable[[R], str]) -> dict[str, Any]:
        entries: list[R | str] = [id_of(run) if keep else run for run, keep in zip(runs, shown, strict=True)]
        chunks = [self._encoded(tuple(entries[i : i + CHUNK_RUNS])) for i in range(0, len(entries), CHUNK_RUNS)]
        return {"encoding": ENCODING, "runs": shown.count(False), "chunks": chunks}

    def read(self, archive: Any, shown: list[Any], id_of: Callable[[Any], str]) -> list[Any]:
        entries: list[Any] = []
        for index, data in enumerate(_chunks(archive)):
            entries.extend(self._decoded(data, index))
        return _merge(entries, shown, id_of)

    def _encoded(self, chunk: tuple[R | str, ...]) -> str:
        key = _key(chunk)
        hit = self._written.get(key)
        if hit is not None:
            self._written.move_to_end(key)
            return hit[1]
        data = encode([entry if isinstance(entry, str) else self._dump(entry) for entry in chunk])
        self._keep_read(data, chunk)  # the next reconcile reads what this one wrote
        self._remember(chunk, data)
        return data

    def _decoded(self, data: Any, index: int) -> tuple[R | str, ...]:
        hit = self._read.get(data) if isinstance(data, str) else None
        if hit is not None:
            self._read.move_to_end(data)
            return hit
        chunk = tuple(self._parsed(entry, index, n) for n, entry in enumerate(decode(data, index)))
        self._keep_read(str(data), chunk)
        self._remember(chunk, str(data))
        return chunk

    def _keep_read(self, data: str, chunk: tuple[R | str, ...]) -> None:
        self._read[data] = chunk
        if len(self._read) > self._size:
            self._read.popitem(last=False)

    def _parsed(self, entry: Any, index: int, n: int) -> R | str:
        if isinstance(entry, str):
            return entry
        try:
            return self._parse(entry)
        except ValueError as exc:  # pydantic's ValidationError too
            errors = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
            where = ".".join(str(part) for part in errors[0]["loc"])
            raise ArchiveError(
                f"archivedRuns.chunks[{index}]: entry {n} is not a task run ({where}: {errors[0]['msg']})"
            ) from None

    def _remember(self, chunk: tuple[R | str, ...], data: str) -> None:
        self._written[_key(chunk)] = (chunk, data)  # the chunk kept alive: its runs' ids stay theirs
        if len(self._written) > self._size:
            self._written.popitem(last=False)


def _key(chunk: tuple[Any, ...]) -> tuple[int | str, ...]:
    return tuple(entry if isinstance(entry, str) else id(entry) for entry in chunk)
