"""What every ``overture`` subcommand shares: YAML files, ``NAME=VALUE`` inputs, errors, task progress.

``CliError`` is the one error a command raises for a person to read: ``overture.cli.main`` prints
its message and exits with its code (1 by default; 2 for a usage error). ``Progress`` prints how
an execution's task runs move, from the status of a cluster run and of a local run alike, so
``overture run --wait`` and ``overture local run`` show the same lines for the same flow.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from overture.api import FlowSpec, Input, SpecError, State, coerce_inputs, task_runs_of, walk_tasks
from overture.documents import MAX_FILE_BYTES, YamlDocument, read_yaml
from overture.validation import read_flow

EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A problem a person fixes: printed as it is, no traceback."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# --- YAML files -------------------------------------------------------------------------------


def load_documents(path: Path) -> list[YamlDocument]:
    """Every YAML document in ``path``, read as kubectl reads it; raises SpecError for unreadable YAML."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # a bigger file is refused by read_yaml, unread
    except OSError as exc:
        raise SpecError([f"{path}: cannot read: {exc.strerror}"]) from None
    return read_yaml(data, str(path))


def flow_from_file(path: Path, name: str | None = None) -> YamlDocument:
    """The Flow document of ``path`` (the one called ``name`` if the file holds several)."""
    try:
        docs = load_documents(path)
    except SpecError as exc:
        raise CliError(str(exc)) from None
    flows = [d for d in docs if isinstance(d.value, dict) and d.value.get("kind", "Flow") == "Flow"]
    if name is not None:
        flows = [d for d in flows if (d.value.get("metadata") or {}).get("name") == name]
    if not flows:
        raise CliError(f"{path}: no Flow" + (f" named {name!r}" if name else "") + " in this file")
    if len(flows) > 1:
        names = ", ".join(str((d.value.get("metadata") or {}).get("name")) for d in flows)
        raise CliError(f"{path}: several Flows ({names}); name the one to use")
    return flows[0]


def parse_flow_document(document: YamlDocument, where: str) -> FlowSpec:
    """The spec of a Flow document, or a CliError listing its problems by path (with how YAML read
    the values they name, for a file)."""
    reading = read_flow(document.value)
    if reading.flow is not None:
        return reading.flow.spec
    problems = document.explain(reading.problems)
    raise CliError(f"{where} is invalid:\n" + "\n".join(f"  {p}" for p in problems))


# --- inputs -----------------------------------------------------------------------------------


def parse_inputs(pairs: Sequence[str], option: str = "--input") -> dict[str, str]:
    """``["day=2026-01-31", "n=3"]`` -> ``{"day": "2026-01-31", "n": "3"}``."""
    inputs: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise CliError(f"{option} {pair!r}: use NAME=VALUE, e.g. {option} day=2026-01-31", EXIT_USAGE)
        inputs[name.strip()] = value
    return inputs


def typed_inputs(declared: tuple[Input, ...], given: Mapping[str, str], what: str) -> dict[str, Any]:
    """``given`` checked against ``declared``: the typed values of the given names, or a CliError
    naming every input that is wrong (``inputs.files: expected an integer, e.g. 42 (INT input)``)."""
    values, problems = coerce_inputs(declared, dict(given), "inputs")
    if problems:
        raise problems_error(what, problems)
    return {name: values[name] for name in given}


def problems_error(what: str, problems: Sequence[str]) -> CliError:
    """``what``, then each problem on a line of its own."""
    return CliError("\n".join([f"{what}:" if problems else what, *(f"  {p}" for p in problems)]))


# --- progress of an execution -----------------------------------------------------------------


def name_width(flow: FlowSpec | None) -> int:
    """Column width for task run ids: the longest task id, plus room for ``[iteration]``."""
    if flow is None:
        return 24
    tasks = (*flow.tasks, *flow.errors, *flow.finally_)
    longest = max((len(task.id) for _, task in walk_tasks(tasks, "")), default=8)
    return min(max(longest + 4, 12), 48)


def output_text(outputs: Any) -> str:
    return json.dumps(outputs, separators=(", ", ": "), ensure_ascii=False)


class Progress:
    """Prints a line when a task run changes state or starts a new attempt, and log lines.

    Fed with wire-format statuses (camelCase dicts, as the API server returns them), so the
    cluster and the local runner share it. Thread-safe: log lines come from reader threads.
    """

    def __init__(self, width: int = 24, out: TextIO | None = None) -> None:
        self.width = width
        self.out = out or sys.stdout
        self.seen: dict[str, tuple[str, int]] = {}
        self.lock = threading.Lock()

    def emit(self, line: str) -> None:
        with self.lock:
            print(line, file=self.out, flush=True)

    def log(self, run_id: str, line: str) -> None:
        self.emit(f"  {run_id:<{self.width}} | {line.rstrip()}")

    def show(self, run: Mapping[str, Any]) -> None:
        self.emit(task_line(run, self.width))

    def update(self, status: Mapping[str, Any]) -> None:
        for run in self.changes(status):
            self.show(run)

    def changes(self, status: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The task runs of ``status`` whose state or attempt count changed since the last call;
        a flowable run that changed with its children comes after them (they ended first)."""
        changed = []
        for run in task_runs_of(status):
            key = (str(run.get("state")), len(run.get("attempts") or []))
            if self.seen.get(run["id"]) != key:
                self.seen[run["id"]] = key
                changed.append(run)
        parents = {run.get("parent") for run in changed}
        return sorted(changed, key=lambda run: run["id"] in parents and State(run["state"]).is_terminal)


def task_line(run: Mapping[str, Any], width: int = 24) -> str:
    """``  load   SUCCESS {"loaded": 84}``; a failure carries its message, a retry its next attempt."""
    state = str(run.get("state"))
    attempts = run.get("attempts") or []
    text = f"  {run['id']:<{width}} {state}"
    if len(attempts) > 1 and state in (State.RUNNING.value, State.RETRYING.value):
        text += f" (attempt {len(attempts)})"
    if run.get("outputs") and state in (State.SUCCESS.value, State.WARNING.value):
        text += f" {output_text(run['outputs'])}"
    message = run.get("message") or (attempts[-1].get("message") if attempts else None)
    if message and state not in (State.SUCCESS.value, State.RUNNING.value, State.CREATED.value):
        text += f": {_one_line(message)}"
    if state == State.RETRYING.value and run.get("nextAttemptAt"):
        text += f" (next attempt at {run['nextAttemptAt']})"
    return text


def end_line(name: str, status: Mapping[str, Any]) -> str:
    line = f"{name}: {status.get('state')}"
    if status.get("duration"):
        line += f" after {status['duration']}"
    if status.get("message"):
        line += f": {_one_line(str(status['message']))}"
    return line


def _one_line(text: str, limit: int = 300, head: int = 60) -> str:
    """``text`` on one line; a long one keeps its start and its end, where a log tail ends with
    what failed (a Python traceback's last line is the exception)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else f"{flat[:head].rstrip()} ... {flat[-(limit - head - 5) :].lstrip()}"
