"""What pause, resume, kill and restart write into an Execution's spec (the CLI and the UI write the same)."""

from __future__ import annotations

from typing import Any

import pytest

from overture.api import SteeringError, steering_patch

APPROVAL = {
    "tasks": [
        {
            "id": "approve",
            "type": "pause",
            "onResume": [{"id": "approved", "type": "BOOLEAN"}, {"id": "note", "type": "STRING", "default": "-"}],
        }
    ]
}


def _execution(state: str, runs: tuple[dict[str, Any], ...] = (), **spec: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"state": state, "taskRuns": list(runs)}
    if runs:
        status["flowSpec"] = APPROVAL
    return {"metadata": {"name": "e"}, "spec": {"flowRef": {"name": "f"}, **spec}, "status": status}


PAUSED = ({"id": "approve", "taskId": "approve", "state": "PAUSED"},)


def test_each_action_writes_its_fields() -> None:
    assert steering_patch("pause", _execution("RUNNING"), {}) == {"suspend": True}
    assert steering_patch("kill", _execution("RUNNING"), {}) == {"kill": True}
    assert steering_patch("restart", _execution("FAILED", restarts=2), {}) == {"restarts": 3, "kill": False}
    assert steering_patch("restart", _execution("KILLED"), {}) == {"restarts": 1, "kill": False}
    assert steering_patch("resume", _execution("PAUSED", resumes=1), {}) == {"suspend": False, "resumes": 2}


def test_a_resume_writes_the_given_inputs_typed_and_clears_earlier_ones() -> None:
    execution = _execution("RUNNING", PAUSED, resumes=1, resumeInputs={"approved": False, "old": 1})
    patch = steering_patch("resume", execution, {"approved": "true"})
    # The defaults are the operator's to apply; an earlier resume's inputs become null (merge-patch removes them).
    assert patch == {"suspend": False, "resumes": 2, "resumeInputs": {"approved": True, "old": None}}


@pytest.mark.parametrize(
    ("action", "execution", "inputs", "conflict", "message"),
    [
        ("kill", _execution("SUCCESS"), {}, True, "execution 'e' already ended SUCCESS; nothing to kill"),
        ("pause", _execution("FAILED"), {}, True, "execution 'e' already ended FAILED; nothing to pause"),
        (
            "restart",
            _execution("RUNNING"),
            {},
            True,
            "execution 'e' is RUNNING; only FAILED or KILLED executions restart",
        ),
        ("resume", _execution("RUNNING"), {"approved": True}, False, "no pause task of execution 'e' waits for inputs"),
    ],
)
def test_refusals_say_why(
    action: str, execution: dict[str, Any], inputs: dict[str, Any], conflict: bool, message: str
) -> None:
    with pytest.raises(SteeringError) as caught:
        steering_patch(action, execution, inputs)
    assert (caught.value.message, caught.value.conflict, caught.value.problems) == (message, conflict, [])


def test_wrong_resume_inputs_are_each_named() -> None:
    with pytest.raises(SteeringError) as caught:
        steering_patch("resume", _execution("RUNNING", PAUSED), {"approved": "maybe", "extra": 1})
    assert caught.value.message == "task 'approve' cannot resume with these inputs"
    assert not caught.value.conflict
    assert caught.value.problems == [
        "inputs.extra: the flow declares no such input (inputs: approved, note)",
        "inputs.approved: expected true or false (BOOLEAN input)",
    ]


def test_an_unknown_action_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="unknown action 'stop'"):
        steering_patch("stop", _execution("RUNNING"), {})
