"""Steering a run through its spec: kill, suspend, restart, replay; and flow concurrency."""

from __future__ import annotations

from typing import Any

import pytest
from support.sim import Cluster, Driver, always_succeed, as_run, fail_when, flow_of, outcome_by_task, shell

from overture.api import CONDITION_SUCCEEDED, ReplaySource, State, find_condition
from overture.api.times import parse_time
from overture.engine import (
    ChildObservation,
    CreateExecution,
    CreateJob,
    DeleteJob,
    JobObservation,
    JobPhase,
    KillExecution,
    Observed,
)

# --- kill -----------------------------------------------------------------------------------------

PARALLEL = flow_of(
    {"id": "fan", "type": "parallel", "tasks": [shell("a"), shell("b")]},
    shell("after"),
    **{"finally": [shell("cleanup")]},
)


def running(*names: str) -> Observed:
    return Observed(jobs={n: JobObservation(n, JobPhase.RUNNING, pod=f"{n}-pod") for n in names})


def test_kill_deletes_running_jobs_waits_in_killing_then_ends_killed() -> None:
    driver = Driver(PARALLEL, cluster=Cluster(duration=100))
    driver.step()
    driver.tick()
    driver.set_spec(kill=True)
    decision = driver.tick()
    assert driver.state == State.KILLING
    assert sorted(d.name for d in decision.actions if isinstance(d, DeleteJob)) == ["run-1-a-1", "run-1-b-1"]
    assert decision.requeue_after == 2
    assert ("Killing", "Killing the execution: killed") in driver.events()
    # The Jobs are still terminating: still KILLING, nothing new created.
    decision = driver.tick(observed=running("run-1-a-1"))
    assert driver.state == State.KILLING
    assert decision.creations == ()
    # They are gone: KILLED; finally does not run on a kill.
    decision = driver.tick(observed=Observed())
    assert driver.state == State.KILLED
    assert driver.states() == {"fan": State.KILLED, "a": State.KILLED, "b": State.KILLED}
    assert all(a.state == State.KILLED for r in driver.status.task_runs for a in r.attempts)
    condition = find_condition(driver.status.conditions, CONDITION_SUCCEEDED)
    assert condition is not None
    assert (condition.status.value, condition.reason) == ("False", "Killed")
    assert sum(1 for reason, _ in driver.events() if reason == "Killing") == 1


def test_kill_with_no_job_running_ends_killed_at_once() -> None:
    driver = Driver(flow_of({"id": "hold", "type": "pause"}, shell("after")))
    driver.step()
    assert driver.state == State.PAUSED
    driver.set_spec(kill=True)
    decision = driver.tick()
    assert driver.state == State.KILLED
    assert driver.run("hold").state == State.KILLED
    assert decision.creations == ()


def test_kill_propagates_to_running_children_only() -> None:
    flow = flow_of(
        {
            "id": "p",
            "type": "parallel",
            "tasks": [
                {"id": "c1", "type": "subflow", "flowRef": {"name": "x"}},
                {"id": "c2", "type": "subflow", "flowRef": {"name": "x"}},
                {"id": "c3", "type": "subflow", "flowRef": {"name": "x"}},
            ],
        },
    )
    driver = Driver(flow)
    driver.step()
    driver.cluster.children.update(
        {
            "run-1-c1": ChildObservation("run-1-c1", State.RUNNING),
            "run-1-c3": ChildObservation("run-1-c3", State.SUCCESS),
        }
    )
    driver.tick()
    driver.set_spec(kill=True)
    decision = driver.tick()
    kills = [a.name for a in decision.actions if isinstance(a, KillExecution)]
    assert kills == ["run-1-c1", "run-1-c2"]  # c2 not seen yet: it may exist, kill it too
    assert driver.state == State.KILLED
    assert driver.run("c3").state == State.SUCCESS


def test_kill_a_queued_execution() -> None:
    driver = Driver(flow_of(shell("a"), concurrency={"limit": 1, "behavior": "QUEUE"}))
    driver.step(active_others=1)
    assert driver.state == State.QUEUED
    driver.set_spec(kill=True)
    decision = driver.tick(active_others=1)
    assert driver.state == State.KILLED
    assert decision.creations == ()


def test_kill_is_final() -> None:
    driver = Driver(flow_of(shell("a")), cluster=Cluster(duration=100))
    driver.step()
    driver.set_spec(kill=True)
    driver.tick(observed=Observed())
    assert driver.state == State.KILLED
    driver.set_spec(kill=False)
    assert driver.tick().actions == ()
    assert driver.state == State.KILLED


# --- suspend / resume ------------------------------------------------------------------------------


def test_suspend_starts_no_new_task_and_resume_carries_on() -> None:
    driver = Driver(flow_of(shell("a"), shell("b"), shell("c")), cluster=Cluster(duration=2))
    driver.step()
    driver.set_spec(suspend=True)
    driver.tick()
    assert driver.state == State.PAUSED
    condition = find_condition(driver.status.conditions, CONDITION_SUCCEEDED)
    assert condition is not None
    assert (condition.status.value, condition.reason) == ("Unknown", "Paused")
    for _ in range(10):  # a ends; b never starts while suspended
        assert driver.tick().creations == ()
    assert driver.states() == {"a": State.SUCCESS}
    assert driver.state == State.PAUSED
    driver.set_spec(suspend=False)
    decision = driver.tick()
    assert driver.state == State.RUNNING
    assert [j.task_id for j in decision.actions if isinstance(j, CreateJob)] == ["b"]
    assert driver.run_to_end() == State.SUCCESS
    reasons = [r for r, _ in driver.events()]
    assert reasons.count("Paused") == 1
    assert reasons.count("Running") == 1


def test_suspend_holds_retries_and_each_iterations() -> None:
    flow = flow_of(
        shell("flaky", retry={"maxAttempts": 2, "interval": "5s"}),
        {"id": "loop", "type": "each", "items": [1, 2, 3], "concurrencyLimit": 0, "tasks": [shell("w")]},
    )
    driver = Driver(flow, cluster=Cluster(fail_when(lambda job: job.task_id == "flaky" and job.attempt == 1)))
    driver.step()
    driver.tick()
    assert driver.run("flaky").state == State.RETRYING
    driver.set_spec(suspend=True)
    for _ in range(20):
        assert driver.tick().creations == ()
    driver.set_spec(suspend=False)
    assert driver.run_to_end() == State.SUCCESS
    assert len(driver.run("flaky").attempts) == 2


def test_execution_created_suspended_starts_nothing() -> None:
    driver = Driver(flow_of(shell("a")), suspend=True)
    decision = driver.step()
    assert driver.state == State.PAUSED
    assert decision.creations == ()


# --- restart --------------------------------------------------------------------------------------

RESTARTABLE = flow_of(
    shell("a"),
    {"id": "fan", "type": "parallel", "tasks": [shell("b"), shell("ok")]},
    shell("c"),
    errors=[shell("alert")],
    **{"finally": [shell("cleanup")]},
)


def failed_once(flow: dict[str, Any] = RESTARTABLE, failing: str = "b") -> Driver:
    driver = Driver(flow, cluster=Cluster(outcome_by_task({failing: (False, "no")})))
    assert driver.run_to_end() == State.FAILED
    return driver


def test_restart_reruns_only_failed_runs_with_a_new_attempt() -> None:
    driver = failed_once()
    assert driver.states() == {
        "a": State.SUCCESS,
        "fan": State.FAILED,
        "b": State.FAILED,
        "ok": State.SUCCESS,
        "alert": State.SUCCESS,
        "cleanup": State.SUCCESS,
    }
    before = set(driver.cluster.created)
    driver.cluster.script = always_succeed
    driver.set_spec(restarts=1)
    driver.wait(60)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.status.restarts == 1
    assert [a.attempt for a in driver.run("b").attempts] == [1, 2]
    assert [a.state for a in driver.run("b").attempts] == [State.FAILED, State.SUCCESS]
    assert len(driver.run("a").attempts) == 1
    assert len(driver.run("ok").attempts) == 1
    created_after = driver.cluster.created[len(before) :]
    assert "run-1-a-1" not in created_after
    assert "run-1-ok-2" not in created_after
    assert "run-1-b-2" in created_after
    assert "run-1-c-1" in created_after
    assert not [n for n in created_after if "alert" in n], "errors do not run when the restarted run succeeds"
    assert driver.run("alert").state == State.CREATED  # the earlier round's record, not started again
    assert [a.job for a in driver.run("alert").attempts] == ["run-1-alert-1"]
    assert driver.run("cleanup").state == State.SUCCESS
    assert len(driver.cluster.created) == len(set(driver.cluster.created)), "a Job name was created twice"
    assert driver.status.end_date is not None
    assert driver.status.message is None


def test_restart_runs_errors_and_finally_again_as_new_jobs() -> None:
    driver = failed_once()
    driver.set_spec(restarts=1)
    driver.wait(60)
    assert driver.run_to_end() == State.FAILED  # b fails again
    assert [a.attempt for a in driver.run("b").attempts] == [1, 2]
    alerts = [j for j in driver.actions(CreateJob) if j.task_id == "alert"]
    cleanups = [j for j in driver.actions(CreateJob) if j.task_id == "cleanup"]
    assert [j.name for j in alerts] == ["run-1-alert-1", "run-1-alert-2"], "errors run again, as a new Job"
    assert [j.name for j in cleanups] == ["run-1-cleanup-1", "run-1-cleanup-2"], "finally runs again, as a new Job"
    assert driver.run("cleanup").end_date > parse_time("2026-01-01T12:01:00Z")


def test_restart_after_a_restart() -> None:
    driver = failed_once()
    for n in (1, 2):
        driver.set_spec(restarts=n)
        driver.wait(60)
        assert driver.run_to_end() == State.FAILED
    assert [a.attempt for a in driver.run("b").attempts] == [1, 2, 3]
    assert driver.status.restarts == 2
    assert len(driver.cluster.created) == len(set(driver.cluster.created))


def test_restart_is_ignored_unless_the_run_failed() -> None:
    driver = Driver(flow_of(shell("a")))
    assert driver.run_to_end() == State.SUCCESS
    driver.set_spec(restarts=1)
    decision = driver.tick()
    assert decision.creations == ()
    assert driver.state == State.SUCCESS
    assert driver.status.restarts == 1  # the request was read, and is not read again later


def test_restart_while_running_is_read_once_and_ignored() -> None:
    driver = Driver(flow_of(shell("a")), cluster=Cluster(outcome_by_task({"a": (False, "x")}), duration=3))
    driver.step()
    driver.set_spec(restarts=1)
    driver.tick()
    assert driver.run_to_end() == State.FAILED
    assert driver.status.restarts == 1
    assert len(driver.run("a").attempts) == 1


def test_restart_reruns_a_failed_each_iteration_only() -> None:
    flow = flow_of(
        {"id": "loop", "type": "each", "items": ["x", "y", "z"], "concurrencyLimit": 0, "tasks": [shell("w")]}
    )
    driver = Driver(flow, cluster=Cluster(fail_when(lambda job: job.iteration == "[1]")))
    assert driver.run_to_end() == State.FAILED
    driver.cluster.script = always_succeed
    driver.set_spec(restarts=1)
    assert driver.run_to_end() == State.SUCCESS
    assert [len(driver.run(f"w[{i}]").attempts) for i in range(3)] == [1, 2, 1]
    assert driver.run("w[1]").value == "y"


def test_restart_of_a_fail_task_fails_again() -> None:
    driver = Driver(
        flow_of(
            shell("a"),
            {"id": "stop", "type": "fail", "runIf": "{{ inputs.stop }}"},
            shell("c"),
            inputs=[{"id": "stop", "type": "BOOLEAN"}],
        ),
        inputs={"stop": True},
    )
    assert driver.run_to_end() == State.FAILED
    driver.set_spec(restarts=1)
    assert driver.run_to_end() == State.FAILED
    assert len(driver.run("a").attempts) == 1


def test_restart_of_a_failed_subflow_starts_a_new_child() -> None:
    driver = Driver(flow_of({"id": "child", "type": "subflow", "flowRef": {"name": "x"}}))
    driver.step()
    driver.cluster.children["run-1-child"] = ChildObservation("run-1-child", State.FAILED)
    assert driver.run_to_end() == State.FAILED
    driver.set_spec(restarts=1)
    driver.step()
    names = [c.name for c in driver.actions(CreateExecution)]
    assert names == ["run-1-child", "run-1-child-r1"], "a restarted subflow starts a new child"
    assert driver.state == State.RUNNING
    driver.cluster.children[names[1]] = ChildObservation(names[1], State.SUCCESS)
    assert driver.run_to_end() == State.SUCCESS


def test_restart_of_an_execution_that_timed_out_gets_a_new_deadline() -> None:
    flow = flow_of(shell("a", "sleep"), shell("b"), timeout="10s")
    driver = Driver(flow, cluster=Cluster(duration=100))
    driver.step()
    driver.wait(10)
    driver.step()
    assert driver.state == State.FAILED
    assert driver.status.message == "timed out after 10s"
    driver.cluster.duration = 1
    driver.set_spec(restarts=1)
    driver.wait(3600)
    assert driver.run_to_end() == State.SUCCESS, driver.status.message
    assert [a.attempt for a in driver.run("a").attempts] == [1, 2]


def test_restart_of_a_killed_execution() -> None:
    driver = Driver(flow_of(shell("a"), shell("b")), cluster=Cluster(duration=100))
    driver.step()
    driver.set_spec(kill=True)
    driver.tick(observed=Observed())
    assert driver.state == State.KILLED
    driver.cluster.duration = 1
    driver.set_spec(kill=False, restarts=1)
    assert driver.run_to_end() == State.SUCCESS
    assert [a.state for a in driver.run("a").attempts] == [State.KILLED, State.SUCCESS]


# --- replay ---------------------------------------------------------------------------------------

REPLAYED = flow_of(
    shell("extract"),
    shell("transform", "t {{ outputs.extract.rows }}"),
    shell("load", "l {{ outputs.transform.rows }}"),
)


def source_run() -> Driver:
    script = outcome_by_task({"extract": (True, {"rows": 1}), "transform": (True, {"rows": 2}), "load": (False, "x")})
    driver = Driver(REPLAYED, cluster=Cluster(script))
    assert driver.run_to_end() == State.FAILED
    return driver


@pytest.mark.parametrize(
    ("from_task", "copied", "rerun"),
    [
        ("transform", ["extract"], ["transform", "load"]),
        ("load", ["extract", "transform"], ["load"]),
        ("extract", [], ["extract", "transform", "load"]),
    ],
)
def test_replay_reuses_earlier_runs_and_reruns_from_the_task(
    from_task: str, copied: list[str], rerun: list[str]
) -> None:
    source = source_run()
    driver = Driver(REPLAYED, name="run-2", replay=ReplaySource(execution="run-1", from_task=from_task))
    driver.cluster.script = outcome_by_task({"extract": (True, {"rows": 10}), "transform": (True, {"rows": 20})})
    assert driver.run_to_end(replay_source=source.status) == State.SUCCESS
    assert sorted(j.task_id for j in driver.actions(CreateJob)) == sorted(rerun)
    assert all(j.name.startswith("run-2-") for j in driver.actions(CreateJob))
    for task in copied:
        assert driver.run(task).attempts == source.run(task).attempts
    commands = {j.task_id: as_run(j) for j in driver.actions(CreateJob)}
    if "load" in commands:
        assert commands["load"] == ("l 2" if "transform" in copied else "l 20")


def test_replay_of_a_dag_reruns_the_task_and_everything_downstream() -> None:
    flow = flow_of(shell("a"), shell("b"), shell("c", dependsOn=["a"]), shell("d", dependsOn=["c", "b"]))
    source = Driver(flow)
    source.run_to_end()
    driver = Driver(flow, name="run-2", replay=ReplaySource(execution="run-1", from_task="c"))
    assert driver.run_to_end(replay_source=source.status) == State.SUCCESS
    assert sorted(j.task_id for j in driver.actions(CreateJob)) == ["c", "d"]


def test_replay_of_a_missing_execution_fails() -> None:
    driver = Driver(REPLAYED, name="run-2", replay=ReplaySource(execution="gone", from_task="load"))
    driver.step()
    assert driver.state == State.FAILED
    assert driver.status.message == "spec.replay.execution: execution 'gone' was not found"


def test_replay_execution_context_names_the_original() -> None:
    source = source_run()
    flow = flow_of(shell("a", "{{ execution.originalId }} {{ execution.id }}"))
    driver = Driver(flow, name="run-2", replay=ReplaySource(execution="run-1", from_task="a"))
    driver.step(replay_source=source.status)
    assert as_run(driver.actions(CreateJob)[0]) == "run-1 run-2"


# --- concurrency ----------------------------------------------------------------------------------


def limited(behavior: str, limit: int = 1) -> Driver:
    return Driver(flow_of(shell("a"), concurrency={"limit": limit, "behavior": behavior}))


def test_concurrency_queue_waits_for_a_slot() -> None:
    driver = limited("QUEUE")
    decision = driver.step(active_others=1)
    assert driver.state == State.QUEUED
    assert decision.creations == ()
    assert decision.requeue_after == 15
    assert driver.status.message == "queued: 1 execution(s) of this flow running, limit 1"
    assert driver.status.start_date is None
    condition = find_condition(driver.status.conditions, CONDITION_SUCCEEDED)
    assert condition is not None
    assert (condition.status.value, condition.reason) == ("Unknown", "Queued")
    assert driver.tick(active_others=1).creations == ()
    assert driver.tick(active_others=0, queued_ahead=1).creations == ()  # an older queued run goes first
    assert driver.state == State.QUEUED
    decision = driver.tick(active_others=0, queued_ahead=0)
    assert driver.state == State.RUNNING
    assert driver.status.start_date == parse_time("2026-01-01T12:00:03Z")
    assert [j.task_id for j in decision.actions if isinstance(j, CreateJob)] == ["a"]
    assert [r for r, _ in driver.events()].count("Queued") == 1
    assert driver.run_to_end() == State.SUCCESS


@pytest.mark.parametrize(("behavior", "state"), [("CANCEL", State.CANCELLED), ("FAIL", State.FAILED)])
def test_concurrency_cancel_and_fail_end_at_once(behavior: str, state: State) -> None:
    driver = limited(behavior, limit=2)
    decision = driver.step(active_others=2)
    assert driver.state == state
    assert decision.creations == ()
    assert "2 execution(s) of this flow running, limit 2" in driver.status.message


def test_concurrency_below_the_limit_starts_at_once() -> None:
    driver = limited("FAIL", limit=2)
    driver.step(active_others=1)
    assert driver.state == State.RUNNING


def test_restart_of_an_execution_that_never_ran_a_task_does_nothing() -> None:
    flow = flow_of(shell("b"), shell("a", "echo {{ inputs.n }}"), inputs=[{"id": "n", "type": "INT"}])
    driver = Driver(flow, inputs={"n": "many"})
    driver.step()
    assert driver.state == State.FAILED
    driver.set_spec(restarts=1)
    decision = driver.tick()
    assert driver.state == State.FAILED, "a restart ran an execution whose inputs are invalid"
    assert decision.creations == ()
    assert driver.status.restarts == 1


def test_restart_of_an_execution_failed_by_concurrency_does_not_bypass_the_limit() -> None:
    driver = Driver(flow_of(shell("a"), concurrency={"limit": 1, "behavior": "FAIL"}))
    driver.step(active_others=1)
    assert driver.state == State.FAILED
    driver.set_spec(restarts=1)
    assert driver.tick(active_others=1).creations == ()
    assert driver.state == State.FAILED


# --- observedGeneration -----------------------------------------------------------------------------


def test_status_observes_the_generation_of_each_spec_change() -> None:
    driver = Driver(flow_of(shell("a"), shell("b")), cluster=Cluster(duration=100))
    driver.step()
    assert driver.status.observed_generation == 1
    metadata = driver.execution.metadata.model_copy(update={"generation": 2})
    driver.execution = driver.execution.model_copy(update={"metadata": metadata})
    driver.set_spec(suspend=True)
    driver.tick()
    assert driver.state == State.PAUSED
    assert driver.status.observed_generation == 2
    condition = find_condition(driver.status.conditions, CONDITION_SUCCEEDED)
    assert condition is not None
    assert (condition.reason, condition.observed_generation) == ("Paused", 2)
