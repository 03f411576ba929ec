"""Re-running ``step`` on its own output with the same observation creates nothing new."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from support.sim import T0, Cluster, Driver, fail_when, flow_of, shell

from overture.api import State
from overture.engine import (
    ChildObservation,
    CreateExecution,
    CreateJob,
    Decision,
    JobObservation,
    JobPhase,
    Observed,
    step,
)

FLOWS: dict[str, dict[str, Any]] = {
    "sequential": flow_of(shell("a"), shell("b"), shell("c")),
    "dag": flow_of(shell("a"), shell("b"), shell("c", dependsOn=["a", "b"])),
    "parallel": flow_of({"id": "p", "type": "parallel", "concurrency": 2, "tasks": [shell(f"p{i}") for i in range(5)]}),
    "each": flow_of(
        {
            "id": "loop",
            "type": "each",
            "items": [1, 2, 3, 4, 5],
            "concurrencyLimit": 2,
            "tasks": [shell("w"), shell("v")],
        },
    ),
    "retries": flow_of(shell("flaky", retry={"maxAttempts": 3, "interval": "2s"}), shell("after")),
    "errors-finally": flow_of(shell("bad"), errors=[shell("alert")], **{"finally": [shell("cleanup")]}),
    "if-switch": flow_of(
        {"id": "i", "type": "if", "condition": "yes", "then": [shell("t")], "else": [shell("e")]},
        {"id": "s", "type": "switch", "value": "x", "cases": [{"value": "x", "tasks": [shell("x")]}]},
    ),
    "pause-delay": flow_of({"id": "wait", "type": "pause", "delay": "3s"}, shell("after")),
    "subflow": flow_of({"id": "child", "type": "subflow", "flowRef": {"name": "x"}, "wait": False}, shell("after")),
    "timeout": flow_of(shell("slow", timeout="2s", retry={"maxAttempts": 2, "interval": "1s"}), shell("after")),
}

SCRIPT = fail_when(lambda job: job.task_id == "bad" or (job.task_id == "flaky" and job.attempt < 3))


def assert_idempotent(flow: Any, execution: Any, observed: Observed, decision: Decision, now: Any) -> None:
    again = step(flow, execution.model_copy(update={"status": decision.status}), observed, now)
    assert again.creations == (), f"step created {again.creations} again"
    assert again.status.task_runs == decision.status.task_runs
    assert again.status.state == decision.status.state


@pytest.mark.parametrize("name", list(FLOWS))
def test_stepping_twice_on_the_same_observation_creates_nothing_new(name: str) -> None:
    durations = {"slow": 5.0}
    driver = Driver(FLOWS[name], cluster=Cluster(SCRIPT, durations=durations))
    for _ in range(200):
        observed = driver.cluster.observe(driver.now)
        before = driver.execution
        decision = driver.step(observed)
        assert_idempotent(driver.flow, before, observed, decision, driver.now)
        if driver.state.is_terminal:
            break
        driver.wait(1)
    assert driver.state.is_terminal
    assert len(driver.cluster.created) == len(set(driver.cluster.created))


def test_a_job_never_seen_is_ensured_again_after_the_grace_period_only() -> None:
    driver = Driver(flow_of(shell("a")))
    driver.step()
    assert driver.cluster.created == ["run-1-a-1"]
    unseen = Observed()  # the Job does not show up (a lost create, or a slow cache)
    for seconds in (1, 5, 14):
        decision = step(driver.flow, driver.execution, unseen, _at(seconds))
        assert decision.creations == ()
        assert decision.requeue_after == 15 - seconds  # wakes up when the grace ends
    decision = step(driver.flow, driver.execution, unseen, _at(15))
    (again,) = decision.creations
    assert isinstance(again, CreateJob)
    assert again.name == "run-1-a-1"  # the same name: AlreadyExists if it was there after all
    assert again == driver.decisions[0].creations[0]
    assert decision.status.task_runs == driver.status.task_runs  # nothing else changes
    seen = Observed(jobs={"run-1-a-1": JobObservation("run-1-a-1", JobPhase.PENDING)})
    assert step(driver.flow, driver.execution, seen, _at(60)).creations == ()


def test_a_job_seen_once_then_gone_is_not_created_again() -> None:
    driver = Driver(flow_of(shell("a")), cluster=Cluster(duration=100))
    driver.step()
    driver.tick()
    decision = step(driver.flow, driver.execution, Observed(), _at(100))
    assert decision.creations == ()
    assert decision.status.task_runs[0].state == State.FAILED


def test_a_child_execution_is_created_once() -> None:
    driver = Driver(flow_of({"id": "child", "type": "subflow", "flowRef": {"name": "x"}}))
    driver.step()
    for seconds in (1, 30, 3600):
        assert step(driver.flow, driver.execution, Observed(), _at(seconds)).creations == ()
    running = Observed(children={"run-1-child": ChildObservation("run-1-child", State.RUNNING)})
    assert step(driver.flow, driver.execution, running, _at(5)).creations == ()
    assert len(driver.actions(CreateExecution)) == 1


def test_step_is_deterministic() -> None:
    first = Driver(FLOWS["each"], cluster=Cluster(SCRIPT))
    second = Driver(FLOWS["each"], cluster=Cluster(SCRIPT))
    first.run_to_end()
    second.run_to_end()
    assert [d.actions for d in first.decisions] == [d.actions for d in second.decisions]
    assert first.status == second.status


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
