"""Deterministic names of the objects an execution creates.

The same task run attempt always gets the same Job name, so a second operator, or the same one
after a restart, gets AlreadyExists instead of a second Job; two different task runs or attempts
of one execution never get the same name. A task id that ends in a number (``load-2``) reads
like an iteration or an attempt (``run-1-load-2-1`` is also attempt 1 of ``load`` in iteration 2),
so names made from such ids carry a hash of the run id: they cannot meet another run's name.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63


def fit_name(*parts: str, limit: int = MAX_NAME, unique_key: str | None = None) -> str:
    """Join parts with '-' as a DNS label; past ``limit`` (or always, given ``unique_key``),
    truncate and append a hash of ``unique_key``, or of the whole."""
    raw = "-".join(p for p in parts if p)
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if unique_key is None and len(name) <= limit and name == raw:
        return name
    digest = hashlib.sha256((unique_key or raw).encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def task_run_id(task_id: str, iterations: tuple[int, ...]) -> str:
    """``process`` at the top level, ``process[2]`` in iteration 2 of an each, ``x[2][0]`` nested."""
    if not iterations:
        return task_id
    return task_id + "".join(f"[{i}]" for i in iterations)


def job_name(execution: str, run_id: str, attempt: int) -> str:
    """``<execution>-<task>[-<iteration>]-<attempt>``, truncated and hashed to fit 63 characters."""
    task, iterations = _name_parts(run_id)
    key = f"{execution}/{run_id}/{attempt}" if _NUMBERED.search(task) else None
    return fit_name(execution, task, *iterations, str(attempt), unique_key=key)


def child_execution_name(execution: str, run_id: str, restart: int = 0) -> str:
    """``<execution>-<task>[-<iteration>]``; a child started again by restart N ends in ``-rN``."""
    task, iterations = _name_parts(run_id)
    key = f"{execution}/{run_id}/r{restart}" if _NUMBERED.search(task) else None
    return fit_name(execution, task, *iterations, f"r{restart}" if restart else "", unique_key=key)


# The end of a task id that could be read as an iteration, an attempt or a restart.
_NUMBERED = re.compile(r"-r?[0-9]+$")


def _name_parts(run_id: str) -> tuple[str, list[str]]:
    """``load_data[2][0]`` -> ``("load-data", ["2", "0"])``."""
    task, _, rest = run_id.partition("[")
    return task.replace("_", "-"), re.findall(r"[0-9]+", rest)
