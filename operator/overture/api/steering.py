"""What ``pause``, ``resume``, ``kill`` and ``restart`` write into an Execution's spec.

One pure function for the CLI and the UI alike; the operator acts on these fields
(``engine/overrides.py``). The execution is a plain object as read from the API server, so that
the caller can write the patch guarded by the ``resourceVersion`` it read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from overture.api.execution import paused_task
from overture.api.inputs import coerce_inputs
from overture.api.states import RESTARTABLE, is_terminal

STEERING_ACTIONS = ("pause", "resume", "kill", "restart")


class SteeringError(ValueError):
    """The action does not apply to this execution. ``conflict``: because of the state it is in
    (HTTP 409); otherwise because of the inputs given (422), each wrong one in ``problems``."""

    def __init__(self, message: str, problems: Sequence[str] = (), *, conflict: bool) -> None:
        super().__init__(message)
        self.message, self.problems, self.conflict = message, list(problems), conflict


def steering_patch(action: str, execution: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The spec change of ``action``; ``inputs`` (by input id) only for a resume. Raises SteeringError."""
    if action not in STEERING_ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(STEERING_ACTIONS)}")
    name = (execution.get("metadata") or {}).get("name")
    spec = execution.get("spec") or {}
    state = (execution.get("status") or {}).get("state")
    if action == "restart":
        if state not in RESTARTABLE:
            raise SteeringError(
                f"execution {name!r} is {state or 'not started'}; only FAILED or KILLED executions restart",
                conflict=True,
            )
        # kill: false too, or a killed execution would be killed again as soon as it restarts
        return {"restarts": int(spec.get("restarts") or 0) + 1, "kill": False}
    if is_terminal(state):
        raise SteeringError(f"execution {name!r} already ended {state}; nothing to {action}", conflict=True)
    if action == "pause":
        return {"suspend": True}
    if action == "kill":
        return {"kill": True}
    patch: dict[str, Any] = {"suspend": False, "resumes": int(spec.get("resumes") or 0) + 1}
    waiting = paused_task(execution)
    if inputs and waiting is None:
        raise SteeringError(f"no pause task of execution {name!r} waits for inputs", conflict=False)
    if waiting is not None:
        values, problems = coerce_inputs(waiting.on_resume, dict(inputs), "inputs")
        if problems:
            raise SteeringError(f"task {waiting.id!r} cannot resume with these inputs", problems, conflict=False)
        old = spec.get("resumeInputs") or {}
        # the given inputs only (the operator applies the defaults); null removes what an earlier resume gave
        patch["resumeInputs"] = {**dict.fromkeys(old), **{key: values[key] for key in inputs}}
    return patch
