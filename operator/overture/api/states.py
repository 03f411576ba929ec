"""States of executions and task runs, as in Kestra.

Terminal states never change again unless a person restarts the run.
"""

from __future__ import annotations

from enum import StrEnum


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
