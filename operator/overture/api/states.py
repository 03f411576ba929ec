"""States of executions and task runs, as in Kestra.

Terminal states never change again unless a person restarts the run. ``TERMINAL`` says which
they are, once: ``State.is_terminal`` for a parsed state, ``is_terminal`` for one read from an
object as it is (any value: a state's text, None, something else).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeGuard


class State(StrEnum):
    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    RETRYING = "RETRYING"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"
    KILLING = "KILLING"
    KILLED = "KILLED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"  # task runs only: runIf was false, or the branch was not taken

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_successful(self) -> bool:
        """Ended in a way that lets dependants run."""
        return self in (State.SUCCESS, State.WARNING, State.SKIPPED)


TERMINAL = frozenset({State.SUCCESS, State.WARNING, State.FAILED, State.KILLED, State.CANCELLED, State.SKIPPED})
RESTARTABLE = frozenset({State.FAILED, State.KILLED})  # what a restart reruns (executions and task runs)


def is_terminal(state: object) -> TypeGuard[str]:
    """Whether ``state``, as found in an object's status, is a terminal state (False for anything else)."""
    return isinstance(state, str) and state in TERMINAL  # a StrEnum member equals (and hashes as) its text
