"""What every kind of task does with its run: the outcome of a list, the gate, timeouts, endings.

Shared by the kinds (``kinds.py``) and the lists of tasks they run (``scope.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from overture.api import AnyTask, State, TaskRun
from overture.engine.clock import after
from overture.engine.work import Work


class Outcome(StrEnum):
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"


@dataclass
class Gate:
    """Whether new tasks may start in a section (main, errors, finally)."""

    suspended: bool
    halted: bool = False

    @property
    def open(self) -> bool:
        return not (self.suspended or self.halted)


def is_late(work: Work, task: AnyTask, run: TaskRun) -> bool:
    """Whether ``run`` is past its task's timeout; if not yet, wake at the deadline."""
    start = run.start_date
    if task.timeout is None or start is None:
        return False
    deadline = after(start, task.timeout)
    if work.now >= deadline:
        return True
    work.wake(deadline)
    return False


def time_out(work: Work, task: AnyTask, run: TaskRun) -> TaskRun:
    """Stop everything inside ``run`` (and its child execution), then fail it."""
    message = f"timed out after {task.timeout}"
    for inner in (*work.descendants(run.id), run):
        work.stop(inner, message)
    return fail(work, task, work.runs[run.id], message)


def fail(work: Work, task: AnyTask, run: TaskRun, message: str) -> TaskRun:
    """End ``run`` FAILED, or WARNING when its task has ``allowFailure``."""
    if task.allow_failure:
        work.event("TaskFailed", f"Task {run.id} failed (allowed, the run will end WARNING): {message}", warning=True)
        return work.update(run, state=State.WARNING, end_date=work.stamp, message=f"failed (allowFailure): {message}")
    work.event("TaskFailed", f"Task {run.id} failed: {message}", warning=True)
    return work.update(run, state=State.FAILED, end_date=work.stamp, message=message, next_attempt_at=None)


def end(work: Work, run: TaskRun) -> TaskRun:
    return work.set_run(run)
