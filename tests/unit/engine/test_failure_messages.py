"""A FAILED execution says why in ``status.message`` (found by tests/e2e/test_fuzz.py in soak mode).

It does when a task that runs (or a pause, a subflow, a fail task) failed, and when a flowable
task failed by itself: an ``each`` whose items do not render, an ``if`` whose condition or a
``switch`` whose value does not. Before, ``Work.first_failure`` looked at leaf tasks only, so such
an execution ended FAILED with an empty message. A flowable that failed because a child did is
not the failure: the child is.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.sim import make_execution, run_to_end

from overture.api import State, parse_flow
from overture.validation import validate_flow

PYTHON = [{"id": "work", "type": "python", "script": "print('hi')"}]
FLOWABLE_FAILURES = {
    "each items": {"id": "loop", "type": "each", "items": "{{ 'not a list' }}", "tasks": PYTHON},
    "if condition": {"id": "check", "type": "if", "condition": "{{ 1 / 0 }}", "then": PYTHON},
    "switch value": {
        "id": "pick",
        "type": "switch",
        "value": "{{ 10 // 0 }}",
        "cases": [{"value": "a", "tasks": PYTHON}],
    },
}


def ended(*tasks: dict[str, Any]) -> tuple[str, str | None, dict[str, str | None]]:
    flow_doc = {"apiVersion": "overture.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "f", "namespace": "n"}}
    assert validate_flow(parse_flow({**flow_doc, "spec": {"tasks": list(tasks)}})) == []  # the operator runs it
    flow, execution = make_execution({"tasks": list(tasks)})
    execution, _ = run_to_end(flow, execution)
    assert execution.status is not None
    runs = {r.id: r.message for r in execution.status.task_runs}
    return execution.status.state.value, execution.status.message, runs


def test_a_failed_fail_task_is_the_message() -> None:
    state, message, _ = ended({"id": "stop", "type": "fail", "message": "no data today"})
    assert state == State.FAILED.value
    assert message == "task stop failed: no data today"


def test_a_flowable_failing_because_of_a_child_names_the_child() -> None:
    stop = {"id": "stop", "type": "fail", "message": "no data today"}
    state, message, runs = ended({"id": "outer", "type": "sequential", "tasks": [stop]})
    assert state == State.FAILED.value
    assert runs["outer"] == "a task inside failed"
    assert message == "task stop failed: no data today"


@pytest.mark.parametrize("case", FLOWABLE_FAILURES)
def test_the_task_run_of_a_failed_flowable_has_the_reason(case: str) -> None:
    state, _, runs = ended(FLOWABLE_FAILURES[case])
    assert state == State.FAILED.value
    (message,) = runs.values()
    assert message


@pytest.mark.parametrize("case", FLOWABLE_FAILURES)
def test_the_execution_message_names_a_failed_flowable(case: str) -> None:
    _, message, runs = ended(FLOWABLE_FAILURES[case])
    ((run_id, reason),) = runs.items()
    assert reason
    assert message == f"task {run_id} failed: {reason}"
