"""``timeout`` on tasks that run no Job of their own: pause, subflow and the flowables.

The deadline counts from the task run's ``startDate``; the engine asks to be woken at it. Past it,
the run ends FAILED "timed out after X", and everything still running inside it is stopped the
way a kill stops it: Jobs deleted, child executions killed, runs KILLED, nothing new started.
"""

from __future__ import annotations

from typing import Any

from support.sim import Cluster, Driver, as_run, flow_of, shell

from overture.api import State
from overture.engine import ChildObservation, CreateJob, DeleteJob, KillExecution

# --- pause ----------------------------------------------------------------------------------


def pause(**fields: Any) -> dict[str, Any]:
    return {"id": "approve", "type": "pause", "timeout": "10m", **fields}


def test_a_pause_waiting_past_its_timeout_fails_the_run() -> None:
    driver = Driver(flow_of(pause(), shell("after")))
    decision = driver.step()
    assert driver.run("approve").state == State.PAUSED
    assert decision.requeue_after == 600.0  # woken at the deadline, not polled
    driver.wait(599)
    assert driver.step().requeue_after == 1.0
    assert driver.run("approve").state == State.PAUSED
    driver.wait(1)
    driver.step()
    run = driver.run("approve")
    assert (run.state, run.message) == (State.FAILED, "timed out after 10m")
    assert driver.state == State.FAILED
    assert driver.status.message == "task approve failed: timed out after 10m"
    assert "after" not in driver.states()


def test_a_pause_resumed_in_time_is_not_timed_out() -> None:
    driver = Driver(flow_of(pause(), shell("after")))
    driver.step()
    driver.wait(300)
    driver.set_spec(resumes=1)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.run("approve").state == State.SUCCESS


def test_a_timed_out_pause_with_allow_failure_ends_warning_and_the_flow_goes_on() -> None:
    driver = Driver(flow_of(pause(allowFailure=True), shell("after")))
    driver.step()
    driver.wait(600)
    assert driver.run_to_end() == State.WARNING
    assert driver.run("approve").message == "failed (allowFailure): timed out after 10m"
    assert driver.run("after").state == State.SUCCESS


def test_a_timed_out_pause_runs_the_errors_tasks() -> None:
    flow = flow_of(pause(), errors=[shell("alert", "echo {{ error.taskId }} {{ error.message }}")])
    driver = Driver(flow)
    driver.step()
    driver.wait(600)
    assert driver.run_to_end() == State.FAILED
    assert [as_run(j) for j in driver.actions(CreateJob)] == ["echo approve timed out after 10m"]


# --- subflow --------------------------------------------------------------------------------


def test_a_subflow_past_its_timeout_fails_and_its_child_is_killed() -> None:
    flow = flow_of({"id": "child", "type": "subflow", "flowRef": {"name": "loader"}, "timeout": "5m"})
    driver = Driver(flow)
    assert driver.step().requeue_after == 300.0
    name = driver.run("child").child_execution
    driver.cluster.children[name] = ChildObservation(name, State.RUNNING)
    driver.wait(299)
    driver.step()
    assert driver.run("child").state == State.RUNNING
    assert driver.actions(KillExecution) == []
    driver.wait(1)
    driver.step()
    run = driver.run("child")
    assert (run.state, run.message) == (State.FAILED, "timed out after 5m")
    assert driver.actions(KillExecution) == [KillExecution(name)]
    assert driver.state == State.FAILED


def test_a_subflow_whose_child_ended_at_the_deadline_takes_the_child_outcome() -> None:
    flow = flow_of({"id": "child", "type": "subflow", "flowRef": {"name": "loader"}, "timeout": "5m"})
    driver = Driver(flow)
    driver.step()
    name = driver.run("child").child_execution
    driver.cluster.children[name] = ChildObservation(name, State.SUCCESS)
    driver.wait(300)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.actions(KillExecution) == []


# --- flowables ------------------------------------------------------------------------------


def test_a_parallel_past_its_timeout_deletes_running_jobs_and_starts_nothing_new() -> None:
    parallel = {
        "id": "fan",
        "type": "parallel",
        "timeout": "30s",
        "concurrency": 1,
        "tasks": [shell("slow"), shell("next")],
    }
    driver = Driver(flow_of(parallel, shell("after")), cluster=Cluster(duration=100))
    assert driver.step().requeue_after == 30.0
    job = driver.run("slow").attempts[-1].job
    driver.wait(30)
    driver.step()
    fan, slow = driver.run("fan"), driver.run("slow")
    assert (fan.state, fan.message) == (State.FAILED, "timed out after 30s")
    assert (slow.state, slow.attempts[-1].state) == (State.KILLED, State.KILLED)
    assert driver.actions(DeleteJob) == [DeleteJob(job, "timed out after 30s")]
    assert driver.state == State.FAILED
    assert driver.status.message == "task fan failed: timed out after 30s"
    assert {j.task_id for j in driver.actions(CreateJob)} == {"slow"}
    assert set(driver.states()) == {"fan", "slow"}


def test_an_each_past_its_timeout_stops_its_iteration_and_starts_no_other() -> None:
    each = {"id": "loop", "type": "each", "items": ["a", "b", "c"], "timeout": "1m", "tasks": [shell("work")]}
    driver = Driver(flow_of(each), cluster=Cluster(duration=45))
    driver.step()
    driver.wait(45)
    driver.step()  # the first iteration ended, the second started
    assert driver.run("work[0]").state == State.SUCCESS
    assert driver.run("work[1]").state == State.RUNNING
    driver.wait(15)
    driver.step()
    loop = driver.run("loop")
    assert (loop.state, loop.message) == (State.FAILED, "timed out after 1m")
    assert driver.run("work[1]").state == State.KILLED
    assert [d.name for d in driver.actions(DeleteJob)] == [driver.run("work[1]").attempts[-1].job]
    assert "work[2]" not in driver.states()
    assert driver.state == State.FAILED


def test_a_sequential_timeout_stops_a_nested_subflow_and_pause() -> None:
    sequential = {
        "id": "steps",
        "type": "sequential",
        "timeout": "2m",
        "tasks": [
            {
                "id": "both",
                "type": "parallel",
                "tasks": [{"id": "child", "type": "subflow", "flowRef": {"name": "loader"}}, pause(timeout=None)],
            }
        ],
    }
    driver = Driver(flow_of(sequential))
    driver.step()
    driver.wait(120)
    driver.step()
    states = driver.states()
    assert states == {
        "steps": State.FAILED,
        "both": State.KILLED,
        "child": State.KILLED,
        "approve": State.KILLED,
    }
    assert driver.actions(KillExecution) == [KillExecution(driver.run("child").child_execution)]
    assert driver.state == State.FAILED
