"""Deterministic names of the objects an execution creates.

The same task run attempt always gets the same Job name, so a second operator, or the same one
after a restart, gets AlreadyExists instead of a second Job.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63


def fit_name(*parts: str, limit: int = MAX_NAME) -> str:
    """Join parts with '-' as a DNS label; past ``limit``, truncate and append a hash of the whole."""
    raw = "-".join(p for p in parts if p)
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if len(name) <= limit and name == raw:
        return name
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def task_run_id(task_id: str, iterations: tuple[int, ...]) -> str:
    """``process`` at the top level, ``process[2]`` in iteration 2 of an each, ``x[2][0]`` nested."""
    return task_id + "".join(f"[{i}]" for i in iterations)


def job_name(execution: str, run_id: str, attempt: int) -> str:
    """``<execution>-<task>[-<iteration>]-<attempt>``, truncated and hashed to fit 63 characters."""
    parts = re.split(r"[\[\]]+", run_id.replace("_", "-"))
    return fit_name(execution, *[p for p in parts if p], str(attempt))


def child_execution_name(execution: str, run_id: str, restart: int = 0) -> str:
    """``<execution>-<task>[-<iteration>]``; a child started again by restart N ends in ``-rN``."""
    parts = re.split(r"[\[\]]+", run_id.replace("_", "-"))
    return fit_name(execution, *[p for p in parts if p], f"r{restart}" if restart else "")
