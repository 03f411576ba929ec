"""Tasks that run in the operator: pause, fail, subflow; and allowFailure on every kind of task."""

from __future__ import annotations

from typing import Any

import pytest
from support.sim import Cluster, Driver, as_run, flow_of, outcome_by_task, shell

from overture.api import State
from overture.api.times import parse_time
from overture.engine import ChildObservation, CreateExecution, CreateJob, Observed, child_execution_name

# --- pause ----------------------------------------------------------------------------------

PAUSE_FOR_APPROVAL = flow_of(
    shell("before"),
    {
        "id": "approve",
        "type": "pause",
        "onResume": [{"id": "ok", "type": "BOOLEAN"}, {"id": "note", "type": "STRING", "required": False}],
    },
    shell("after", "echo {{ outputs.approve.ok }} {{ outputs.approve.note }}"),
)


def paused_driver() -> Driver:
    driver = Driver(PAUSE_FOR_APPROVAL)
    for _ in range(3):
        driver.step()
        driver.wait(1)
    assert driver.run("approve").state == State.PAUSED
    return driver


def test_pause_without_delay_waits_until_resumes_is_bumped() -> None:
    driver = paused_driver()
    for _ in range(5):
        decision = driver.tick(60)
        assert decision.requeue_after is None
        assert decision.creations == ()
    assert driver.state == State.PAUSED
    assert driver.run("approve").state == State.PAUSED
    assert "after" not in driver.states()
    driver.set_spec(resumes=1, resume_inputs={"ok": "yes", "note": "fine"})
    assert driver.run_to_end() == State.SUCCESS
    assert driver.run("approve").outputs == {"ok": True, "note": "fine"}
    assert [as_run(j) for j in driver.actions(CreateJob) if j.task_id == "after"] == ["echo True fine"]
    assert ("Resumed", "Task approve resumed") in driver.events()


def test_pause_with_bad_resume_inputs_stays_paused_with_a_message() -> None:
    driver = paused_driver()
    driver.set_spec(resumes=1, resume_inputs={"ok": "perhaps"})
    driver.tick()
    run = driver.run("approve")
    assert (driver.state, run.state) == (State.PAUSED, State.PAUSED)
    assert run.message == "spec.resumeInputs.ok: expected true or false (BOOLEAN input)"
    assert any(reason == "ResumeRejected" for reason, _ in driver.events())
    driver.tick()  # the same request is not read twice
    assert len([r for r, _ in driver.events() if r == "ResumeRejected"]) == 1
    driver.set_spec(resumes=2, resume_inputs={"ok": False})
    assert driver.run_to_end() == State.SUCCESS
    assert driver.run("approve").outputs == {"ok": False, "note": None}
    assert driver.run("approve").message is None


def test_pause_with_a_missing_required_resume_input_stays_paused() -> None:
    driver = paused_driver()
    driver.set_spec(resumes=1)
    driver.tick()
    assert driver.run("approve").state == State.PAUSED
    assert "spec.resumeInputs.ok: required BOOLEAN input is missing" in driver.run("approve").message


def test_resumes_bumped_before_the_pause_starts_does_not_skip_it() -> None:
    driver = Driver(PAUSE_FOR_APPROVAL, resumes=3)
    for _ in range(4):
        driver.step()
        driver.wait(1)
    assert driver.run("approve").state == State.PAUSED
    assert driver.run("approve").resumed_at == 3


def test_pause_with_delay_resumes_by_itself() -> None:
    driver = Driver(flow_of({"id": "wait", "type": "pause", "delay": "1m"}, shell("after")))
    decision = driver.step()
    assert driver.run("wait").state == State.RUNNING
    assert driver.state == State.RUNNING
    assert decision.requeue_after == 60
    driver.wait(45)
    assert driver.step().requeue_after == 15
    assert "after" not in driver.states()
    driver.wait(15)
    driver.step()
    assert driver.run("wait").state == State.SUCCESS
    assert driver.run("after").state == State.RUNNING
    assert driver.run("after").start_date == parse_time("2026-01-01T12:01:00Z")


# --- fail -----------------------------------------------------------------------------------


def test_fail_task_fails_the_run_with_its_rendered_message() -> None:
    flow = flow_of(
        {"id": "stop", "type": "fail", "message": "bad day {{ inputs.day }}"},
        shell("never"),
        inputs=[{"id": "day", "type": "DATE"}],
    )
    driver = Driver(flow, inputs={"day": "2026-01-31"})
    assert driver.run_to_end() == State.FAILED
    assert driver.states() == {"stop": State.FAILED}
    assert driver.run("stop").message == "bad day 2026-01-31"
    assert driver.status.message == "task stop failed: bad day 2026-01-31"
    assert driver.actions(CreateJob) == []


def test_fail_task_under_run_if_only_fails_when_true() -> None:
    flow = flow_of(
        shell("check"),
        {"id": "guard", "type": "fail", "runIf": "{{ outputs.check.rows == 0 }}", "message": "no rows"},
        shell("load"),
    )
    for rows, state in ((0, State.FAILED), (5, State.SUCCESS)):
        driver = Driver(flow, cluster=Cluster(outcome_by_task({"check": (True, {"rows": rows})})))
        assert driver.run_to_end() == state


# --- subflow --------------------------------------------------------------------------------


def subflow(wait: bool = True, transmit: bool = True, **fields: Any) -> dict[str, Any]:
    return {
        "id": "child",
        "type": "subflow",
        "flowRef": {"name": "loader"},
        "inputs": {"day": "{{ inputs.day }}", "n": 3},
        "wait": wait,
        "transmitFailure": transmit,
        **fields,
    }


SUBFLOW_INPUTS = [{"id": "day", "type": "STRING"}]


def test_subflow_creates_a_child_with_a_deterministic_name_and_waits_for_it() -> None:
    flow = flow_of(subflow(), shell("after", "echo {{ outputs.child.outputs.rows }}"), inputs=SUBFLOW_INPUTS)
    driver = Driver(flow, inputs={"day": "d1"})
    decision = driver.step()
    name = child_execution_name("run-1", "child")
    assert name == "run-1-child"
    assert decision.creations == (
        CreateExecution(name=name, flow="loader", inputs={"day": "d1", "n": 3}, task_run="child"),
    )
    assert driver.run("child").child_execution == name
    for _ in range(3):  # the child is running, or not seen yet: wait, creating nothing again
        assert driver.tick().creations == ()
        driver.cluster.children[name] = ChildObservation(name, State.RUNNING)
    assert driver.run("child").state == State.RUNNING
    driver.cluster.children[name] = ChildObservation(name, State.SUCCESS, outputs={"rows": 7})
    assert driver.run_to_end() == State.SUCCESS
    assert driver.run("child").outputs == {"execution": name, "state": "SUCCESS", "outputs": {"rows": 7}}
    assert [as_run(j) for j in driver.actions(CreateJob)] == ["echo 7"]


@pytest.mark.parametrize(
    ("child_state", "transmit", "task_state", "run_state"),
    [
        (State.FAILED, True, State.FAILED, State.FAILED),
        (State.KILLED, True, State.FAILED, State.FAILED),
        (State.FAILED, False, State.SUCCESS, State.SUCCESS),
        (State.WARNING, True, State.WARNING, State.WARNING),
        (State.SUCCESS, True, State.SUCCESS, State.SUCCESS),
    ],
)
def test_subflow_outcome(child_state: State, transmit: bool, task_state: State, run_state: State) -> None:
    driver = Driver(flow_of(subflow(transmit=transmit), inputs=SUBFLOW_INPUTS), inputs={"day": "d1"})
    driver.step()
    driver.cluster.children["run-1-child"] = ChildObservation("run-1-child", child_state, message="it broke")
    assert driver.run_to_end() == run_state
    assert driver.run("child").state == task_state
    if task_state == State.FAILED:
        assert driver.run("child").message == f"subflow execution run-1-child ended {child_state.value}: it broke"


def test_subflow_without_wait_succeeds_at_once() -> None:
    driver = Driver(flow_of(subflow(wait=False), shell("after"), inputs=SUBFLOW_INPUTS), inputs={"day": "d1"})
    decision = driver.step()
    assert len(driver.actions(CreateExecution)) == 1
    assert driver.run("child").state == State.SUCCESS
    assert driver.run("child").outputs == {"execution": "run-1-child"}
    assert [j.task_id for j in decision.actions if isinstance(j, CreateJob)] == ["after"]
    assert driver.run_to_end() == State.SUCCESS


def test_subflow_inputs_with_an_undefined_variable_fail_the_task() -> None:
    flow = flow_of({"id": "child", "type": "subflow", "flowRef": {"name": "x"}, "inputs": {"a": "{{ inputs.nope }}"}})
    driver = Driver(flow)
    assert driver.run_to_end() == State.FAILED
    assert driver.run("child").message.startswith("inputs: undefined key 'nope'")
    assert driver.actions(CreateExecution) == []


def test_subflow_per_iteration_child_names_are_distinct() -> None:
    each = {"id": "loop", "type": "each", "items": ["a", "b"], "concurrencyLimit": 0, "tasks": [subflow(wait=False)]}
    driver = Driver(flow_of(each, inputs=SUBFLOW_INPUTS), inputs={"day": "d"})
    assert driver.run_to_end() == State.SUCCESS
    assert [c.name for c in driver.actions(CreateExecution)] == ["run-1-child-0", "run-1-child-1"]


# --- allowFailure -----------------------------------------------------------------------------


ALLOWED_FAILURES = {
    "shell": shell("flaky", allowFailure=True),
    "fail": {"id": "flaky", "type": "fail", "allowFailure": True},
    "template": shell("flaky", "echo {{ vars.nope }}", allowFailure=True),
    "parallel": {"id": "flaky", "type": "parallel", "allowFailure": True, "tasks": [shell("inner")]},
    "subflow": {"id": "flaky", "type": "subflow", "flowRef": {"name": "x"}, "allowFailure": True},
}


@pytest.mark.parametrize("kind", list(ALLOWED_FAILURES))
def test_allow_failure_lets_the_run_go_on_and_end_warning(kind: str) -> None:
    flow = flow_of(ALLOWED_FAILURES[kind], shell("after"))
    driver = Driver(flow, cluster=Cluster(outcome_by_task({"flaky": (False, "no"), "inner": (False, "no")})))
    driver.step()
    if kind == "subflow":
        driver.cluster.children["run-1-flaky"] = ChildObservation("run-1-flaky", State.FAILED)
    assert driver.run_to_end() == State.WARNING
    assert driver.run("flaky").state == State.WARNING
    assert driver.run("flaky").message.startswith("failed (allowFailure): ")
    assert driver.run("after").state == State.SUCCESS
    condition = driver.status.conditions[0]
    assert (condition.status.value, condition.reason) == ("True", "SucceededWithWarnings")


def test_allow_failure_does_not_run_errors_tasks() -> None:
    flow = flow_of(shell("flaky", allowFailure=True), errors=[shell("alert")])
    driver = Driver(flow, cluster=Cluster(outcome_by_task({"flaky": (False, "no")})))
    assert driver.run_to_end() == State.WARNING
    assert "alert" not in driver.states()


def test_observed_children_are_only_read_for_their_own_names() -> None:
    driver = Driver(flow_of(subflow(), inputs=SUBFLOW_INPUTS), inputs={"day": "d"})
    driver.step()
    other = {"run-2-child": ChildObservation("run-2-child", State.FAILED)}
    driver.tick(observed=Observed(children=other))
    assert driver.run("child").state == State.RUNNING
