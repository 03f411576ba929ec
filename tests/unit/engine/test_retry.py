"""Retries, Job names and timeouts: every attempt its own Job, due at a time the engine says."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.sim import T0, Cluster, Driver, fail_until, flow_of, shell

from overture.api import Backoff, Retry, State
from overture.api.times import parse_time
from overture.engine import (
    CreateJob,
    DeleteJob,
    JobObservation,
    JobPhase,
    Observed,
    child_execution_name,
    fit_name,
    job_name,
    task_run_id,
)
from overture.engine.attempts import failure_message
from overture.engine.retry import backoff_delay, next_attempt_time


def always_fail(job: CreateJob) -> tuple[bool, Any]:
    return False, f"attempt {job.attempt} failed"


def retrying(retry: dict[str, Any], script: Any = always_fail, **task: Any) -> Driver:
    """Task t (with ``retry``) plays ``script``; the task after it succeeds."""
    return Driver(
        flow_of(shell("t", retry=retry, **task), shell("after")),
        cluster=Cluster(lambda job: script(job) if job.task_id == "t" else (True, {})),
    )


def attempt_starts(driver: Driver) -> list[float]:
    """Seconds from T0 at which each attempt of task t started."""
    return [(a.start_date - T0).total_seconds() for a in driver.run("t").attempts]  # type: ignore[operator]


# --- backoff arithmetic -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry", "delays"),
    [
        ({"backoff": "constant", "interval": "10s"}, [10, 10, 10, 10]),
        ({"backoff": "exponential", "interval": "1s"}, [1, 2, 4, 8]),
        ({"backoff": "exponential", "interval": "1s", "multiplier": 3}, [1, 3, 9, 27]),
        ({"backoff": "exponential", "interval": "1s", "maxInterval": "5s"}, [1, 2, 4, 5, 5]),
        ({"backoff": "constant", "interval": "1m", "maxInterval": "30s"}, [30, 30]),
    ],
)
def test_backoff_delays(retry: dict[str, Any], delays: list[float]) -> None:
    model = Retry.model_validate({"maxAttempts": 10, **retry})
    got = [backoff_delay(model, n, "seed").total_seconds() for n in range(1, len(delays) + 1)]
    assert got == delays


@pytest.mark.parametrize(
    ("retry", "low", "high"),
    [
        ({"interval": "10s"}, 0, 10),
        ({"interval": "10s", "minInterval": "4s"}, 4, 10),
        ({"interval": "1s", "minInterval": "2s", "maxInterval": "6s"}, 2, 6),
        ({"interval": "10s", "minInterval": "10s"}, 10, 10),
    ],
)
def test_random_backoff_is_within_bounds_and_deterministic(retry: dict[str, Any], low: float, high: float) -> None:
    model = Retry.model_validate({"backoff": "random", "maxAttempts": 50, **retry})
    delays = [backoff_delay(model, n, "run-1/t").total_seconds() for n in range(1, 50)]
    assert all(low <= d <= high for d in delays)
    assert delays == [backoff_delay(model, n, "run-1/t").total_seconds() for n in range(1, 50)]
    if high > low:
        assert len(set(delays)) > 10, "random backoff should vary between attempts"
        other = [backoff_delay(model, n, "run-2/t").total_seconds() for n in range(1, 50)]
        assert other != delays, "another execution gets other waits"


def test_next_attempt_time_stops_at_max_attempts_and_max_duration() -> None:
    retry = Retry(backoff=Backoff.CONSTANT, max_attempts=3, interval="10s", max_duration="25s")
    assert next_attempt_time(None, 1, T0, T0, "s") is None
    assert next_attempt_time(retry, 1, T0, T0 + timedelta(seconds=1), "s") == T0 + timedelta(seconds=11)
    assert next_attempt_time(retry, 2, T0, T0 + timedelta(seconds=15), "s") == T0 + timedelta(seconds=25)
    assert next_attempt_time(retry, 2, T0, T0 + timedelta(seconds=16), "s") is None  # past maxDuration
    assert next_attempt_time(retry, 3, T0, T0 + timedelta(seconds=1), "s") is None  # no attempt left


@pytest.mark.parametrize(
    ("retry", "attempt", "delay"),
    [
        ({"backoff": "exponential", "interval": "1s", "maxInterval": "1h"}, 60, 3600.0),
        ({"backoff": "exponential", "interval": "1s", "maxInterval": "1h"}, 99, 3600.0),
        ({"backoff": "exponential", "interval": "1h", "multiplier": 10}, 99, 999_999_999 * 86400.0),
        ({"backoff": "random", "interval": "1s", "maxInterval": "5s"}, 99, None),
    ],
)
def test_backoff_of_late_attempts_does_not_overflow(retry: dict[str, Any], attempt: int, delay: float | None) -> None:
    model = Retry.model_validate({"maxAttempts": 100, **retry})
    got = backoff_delay(model, attempt, "seed").total_seconds()
    assert got == delay if delay is not None else 0 <= got <= 5


def test_a_next_attempt_past_the_year_9999_is_no_attempt() -> None:
    retry = Retry(backoff=Backoff.EXPONENTIAL, max_attempts=100, interval="1s", multiplier=10)
    assert next_attempt_time(retry, 5, T0, T0, "s") == T0 + timedelta(seconds=10_000)
    assert next_attempt_time(retry, 40, T0, T0, "s") is None
    driver = retrying({"maxAttempts": 3, "interval": "9999999d"})
    assert driver.run_to_end() == State.FAILED
    assert len(driver.run("t").attempts) == 1


# --- retries through step ---------------------------------------------------------------------


def test_constant_retry_until_success_each_attempt_its_own_job() -> None:
    driver = retrying({"maxAttempts": 5, "interval": "10s"}, fail_until(3, {"ok": True}))
    driver.step()
    driver.wait(1)
    decision = driver.step()  # attempt 1 failed
    run = driver.run("t")
    assert (run.state, run.next_attempt_at, run.message) == (
        State.RETRYING,
        parse_time("2026-01-01T12:00:11Z"),
        "exit code 1; its log: kubectl logs job/run-1-t-1",
    )
    assert decision.requeue_after == 10
    assert [a.state for a in run.attempts] == [State.FAILED]
    assert (
        "TaskRetrying",
        "Task t attempt 1 failed: exit code 1; its log: kubectl logs job/run-1-t-1; retrying at 12:00:11",
    ) in driver.events()
    driver.wait(5)
    assert driver.step().requeue_after == 5
    assert driver.step().creations == ()
    assert driver.run_to_end() == State.SUCCESS
    run = driver.run("t")
    assert [a.job for a in run.attempts] == ["run-1-t-1", "run-1-t-2", "run-1-t-3"]
    assert [a.state for a in run.attempts] == [State.FAILED, State.FAILED, State.SUCCESS]
    assert run.outputs == {"ok": True}
    assert attempt_starts(driver) == [0, 11, 22]
    assert ("TaskRetried", "Retried task t (attempt 2) as Job run-1-t-2") in driver.events()


@pytest.mark.parametrize(
    ("retry", "starts"),
    [
        ({"maxAttempts": 3, "interval": "5s"}, [0, 6, 12]),
        ({"maxAttempts": 4, "backoff": "exponential", "interval": "2s"}, [0, 3, 8, 17]),
        ({"maxAttempts": 5, "backoff": "exponential", "interval": "2s", "maxInterval": "5s"}, [0, 3, 8, 14, 20]),
        ({"maxAttempts": 10, "interval": "10s", "maxDuration": "25s"}, [0, 11, 22]),
        ({"maxAttempts": 1}, [0]),
    ],
)
def test_attempts_follow_backoff_and_stop_at_the_limits(retry: dict[str, Any], starts: list[float]) -> None:
    driver = retrying(retry)
    assert driver.run_to_end() == State.FAILED
    run = driver.run("t")
    assert attempt_starts(driver) == starts
    assert len(run.attempts) <= retry["maxAttempts"]
    assert [a.job for a in run.attempts] == [f"run-1-t-{n}" for n in range(1, len(starts) + 1)]
    assert run.state == State.FAILED
    assert run.message == f"exit code 1; its log: kubectl logs job/run-1-t-{len(starts)}"
    assert "after" not in driver.states()


def test_random_backoff_through_step_is_the_same_on_every_replay() -> None:
    retry = {"maxAttempts": 4, "backoff": "random", "interval": "20s", "minInterval": "5s"}
    first = retrying(retry)
    first.run_to_end()
    second = retrying(retry)
    second.run_to_end()
    starts = attempt_starts(first)
    assert starts == attempt_starts(second)
    waits = [b - a - 1 for a, b in itertools.pairwise(starts)]  # each attempt runs 1 s
    assert all(5 <= w <= 21 for w in waits), waits  # whole seconds: the sim ticks every second


def test_requeue_after_points_at_the_next_attempt() -> None:
    driver = retrying({"maxAttempts": 3, "backoff": "exponential", "interval": "30s"})
    driver.step()
    driver.wait(1)
    assert driver.step().requeue_after == 30
    driver.wait(30)
    driver.step()  # attempt 2 starts
    driver.wait(1)
    assert driver.step().requeue_after == 60


def test_retry_with_task_defaults_and_no_retry_block_fails_at_once() -> None:
    driver = Driver(flow_of(shell("t")), cluster=Cluster(always_fail))
    assert driver.run_to_end() == State.FAILED
    assert len(driver.run("t").attempts) == 1


# --- Job names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("execution", "run_id", "attempt", "expected"),
    [
        ("run-1", "t", 1, "run-1-t-1"),
        ("run-1", "load_data", 2, "run-1-load-data-2"),
        ("run-1", "work[3]", 1, "run-1-work-3-1"),
        ("run-1", "cell[1][0]", 4, "run-1-cell-1-0-4"),
    ],
)
def test_job_names(execution: str, run_id: str, attempt: int, expected: str) -> None:
    assert job_name(execution, run_id, attempt) == expected


def test_long_job_names_are_hashed_to_63_characters_and_stay_distinct() -> None:
    execution = "nightly-warehouse-load-schedule-2026-01-31t02-00-00z-abcdef"
    task = "extract_every_customer_table_from_the_production_replica"
    names = {job_name(execution, f"{task}[{i}]", a) for i in range(20) for a in range(1, 4)}
    assert len(names) == 60
    for name in names:
        assert len(name) <= 63
        assert name == name.lower()
        assert name[0].isalnum()
        assert name[-1].isalnum()
        assert name.startswith("nightly-warehouse-load")
    assert job_name(execution, task, 1) == job_name(execution, task, 1)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["w", "w-1", "w-2", "w-1-2", "w-12", "w-r1", "w-1-r1", "x", "w-x", "w-1-x"]),
            st.lists(st.integers(0, 2), max_size=2).map(tuple),
            st.integers(1, 3),
        ),
        min_size=2,
        max_size=8,
        unique=True,
    )
)
def test_different_task_runs_and_attempts_never_share_a_name(runs: list[tuple[str, tuple[int, ...], int]]) -> None:
    jobs = {(task_run_id(task, iterations), attempt) for task, iterations, attempt in runs}
    names = {job_name("run-1", run_id, attempt) for run_id, attempt in jobs}
    assert len(names) == len(jobs)
    children = {(task_run_id(task, iterations), attempt % 3) for task, iterations, attempt in runs}
    assert len({child_execution_name("run-1", r, n) for r, n in children}) == len(children)


def test_a_numbered_task_id_cannot_take_the_name_of_an_iteration() -> None:
    assert job_name("run-1", "w[1]", 1) == "run-1-w-1-1"
    assert job_name("run-1", "w-1", 1) != "run-1-w-1-1"
    assert job_name("run-1", "w-1", 1).startswith("run-1-w-1-1-")
    assert child_execution_name("run-1", "c", 1) == "run-1-c-r1"
    assert child_execution_name("run-1", "c-r1") != "run-1-c-r1"


def test_fit_name_leaves_short_valid_names_alone_and_hashes_the_rest() -> None:
    assert fit_name("a", "b", "1") == "a-b-1"
    assert fit_name("A", "b") != "a-b"  # changed by cleaning: hashed, so "A-b" and "a-b" stay distinct
    assert len(fit_name("x" * 100)) == 63


def test_long_execution_names_through_step() -> None:
    flow = flow_of(
        {
            "id": "loop",
            "type": "each",
            "items": [1, 2],
            "tasks": [shell("t" * 60, retry={"maxAttempts": 2, "interval": "1s"})],
        }
    )
    driver = Driver(flow, name="e" * 60, cluster=Cluster(fail_until(2)))
    assert driver.run_to_end() == State.SUCCESS
    names = [j.name for j in driver.actions(CreateJob)]
    assert len(names) == len(set(names)) == 4
    assert all(len(n) <= 63 for n in names)


# --- timeouts ---------------------------------------------------------------------------------


def test_task_timeout_deletes_the_job_and_fails_the_attempt() -> None:
    driver = Driver(flow_of(shell("t", timeout="5s"), shell("after")), cluster=Cluster(duration=100))
    decision = driver.step()
    assert decision.requeue_after == 5
    assert [j.timeout_seconds for j in decision.actions if isinstance(j, CreateJob)] == [5]
    driver.wait(3)
    assert driver.step().requeue_after == 2
    driver.wait(2)
    decision = driver.step()
    assert [a for a in decision.actions if isinstance(a, DeleteJob)] == [DeleteJob("run-1-t-1", "timed out after 5s")]
    run = driver.run("t")
    assert (run.state, run.message) == (State.FAILED, "timed out after 5s")
    assert run.attempts[0].message == "timed out after 5s"
    assert driver.state == State.FAILED
    assert driver.status.message == "task t failed: timed out after 5s"


def test_task_timeout_then_retry_gets_a_new_job_and_its_own_deadline() -> None:
    cluster = Cluster(duration=100)
    driver = Driver(flow_of(shell("t", timeout="5s", retry={"maxAttempts": 2, "interval": "1s"})), cluster=cluster)
    driver.step()
    driver.wait(5)
    driver.step()  # attempt 1 timed out
    assert driver.run("t").state == State.RETRYING
    cluster.duration = 2
    assert driver.run_to_end() == State.SUCCESS
    assert [a.state for a in driver.run("t").attempts] == [State.FAILED, State.SUCCESS]
    assert [d.name for d in driver.actions(DeleteJob)] == ["run-1-t-1"]


def test_job_deadline_exceeded_reads_as_a_timeout() -> None:
    driver = Driver(flow_of(shell("t", timeout="5s")))
    driver.step()
    failed = JobObservation("run-1-t-1", JobPhase.FAILED, pod="p", exit_code=None, reason="DeadlineExceeded")
    driver.tick(observed=Observed(jobs={"run-1-t-1": failed}))
    assert driver.run("t").message == "timed out (its activeDeadlineSeconds passed)"


def test_execution_timeout_kills_running_jobs_and_fails() -> None:
    flow = flow_of(shell("slow"), shell("never"), timeout="10s", **{"finally": [shell("cleanup")]})
    driver = Driver(flow, cluster=Cluster(duration=100))
    assert driver.step().requeue_after == 10
    driver.wait(10)
    decision = driver.step()
    assert driver.state == State.FAILED
    assert driver.status.message == "timed out after 10s"
    assert [a for a in decision.actions if isinstance(a, DeleteJob)] == [DeleteJob("run-1-slow-1", "execution killed")]
    assert driver.run("slow").state == State.KILLED
    assert driver.run("slow").attempts[0].state == State.KILLED
    condition = driver.status.conditions[0]
    assert (condition.status.value, condition.reason, condition.message) == ("False", "Failed", "timed out after 10s")


def test_job_deleted_under_a_running_attempt_fails_it() -> None:
    driver = Driver(flow_of(shell("t")), cluster=Cluster(duration=100))
    driver.step()
    driver.tick()  # seen running, with its pod
    assert driver.run("t").attempts[0].pod == "run-1-t-1-pod"
    driver.tick(observed=Observed())
    assert driver.run("t").state == State.FAILED
    assert driver.run("t").message == "its Job or pod was deleted before it ended"


@pytest.mark.parametrize(
    ("observation", "message"),
    [
        (
            JobObservation("j", JobPhase.FAILED, exit_code=137, reason="OOMKilled"),
            "OOMKilled, exit code 137; its log: kubectl logs job/j",
        ),
        (
            JobObservation("j", JobPhase.FAILED, exit_code=2, termination_message="password=hunter2\n"),
            "exit code 2; its log: kubectl logs job/j",  # never the task's own words (issue 14)
        ),
        # Not "failed: ...": every reader says it failed already ("Task t failed: failed: ..." in issue 17).
        (JobObservation("j", JobPhase.FAILED, message="BackoffLimitExceeded"), "BackoffLimitExceeded"),
        (JobObservation("j", JobPhase.FAILED, message="x" * 3000), "x" * 1000 + "..."),
        (JobObservation("j", JobPhase.FAILED), "the pod gave no reason, exit code or message"),
    ],
)
def test_failure_messages_say_what_happened(observation: JobObservation, message: str) -> None:
    assert failure_message(observation) == message


@pytest.mark.parametrize(
    "flow",
    [
        flow_of(shell("a"), timeout="9999999d"),
        flow_of(shell("a", timeout="9999999d")),
        flow_of({"id": "a", "type": "pause", "delay": "9999999d"}),
    ],
)
def test_durations_of_millennia_do_not_overflow(flow: dict[str, Any]) -> None:
    driver = Driver(flow)
    decision = driver.step()
    assert decision.requeue_after is not None
    assert decision.requeue_after > 2e11  # about 8,000 years: the end of time, where the deadline saturates
    driver.tick()
    assert driver.state == (State.RUNNING if "pause" in str(flow) else State.SUCCESS)


# --- retry policies (issue 17) -----------------------------------------------------------------


def exits(*codes: int) -> Any:
    """Attempt n exits with codes[n-1]; past the list, it succeeds."""
    return lambda job: (True, {}) if job.attempt > len(codes) else (False, (codes[job.attempt - 1], "boom"))


FAST = {"maxAttempts": 4, "interval": "1s"}


def test_only_the_listed_exit_codes_are_retried() -> None:
    flow = flow_of(shell("a", retry={**FAST, "exitCodes": [75]}))
    driver = Driver(flow, cluster=Cluster(exits(75, 2)))
    assert driver.run_to_end() == State.FAILED
    run = driver.run("a")
    assert [a.exit_code for a in run.attempts] == [75, 2]
    assert run.message is not None
    assert run.message.endswith("(not retried: exit code 2, not one of retry.exitCodes [75])")


def test_retry_when_reads_the_failed_attempt() -> None:
    when = "{{ attempt.exitCode != 3 and 'quota' not in attempt.message and attempt.number < 3 }}"
    flow = flow_of(shell("a", retry={**FAST, "when": when}))
    driver = Driver(flow, cluster=Cluster(exits(1, 1, 1, 1)))
    assert driver.run_to_end() == State.FAILED
    run = driver.run("a")
    assert len(run.attempts) == 3  # attempt.number < 3 stopped the third retry
    assert run.message is not None
    assert "(not retried: retry.when rendered 'False')" in run.message


def test_retry_when_that_does_not_render_stops_retrying_and_says_why() -> None:
    flow = flow_of(shell("a", retry={**FAST, "when": "{{ attempt.exitCode > vars.limit }}"}), variables={"limit": 0})
    driver = Driver(flow, cluster=Cluster(exits(1, 1)))
    assert driver.run_to_end() == State.SUCCESS  # 1 > 0: retried until it succeeds
    flow = flow_of(shell("a", retry={**FAST, "when": "{{ attempt.exitCode > 'x' }}"}))
    driver = Driver(flow, cluster=Cluster(exits(1)))
    assert driver.run_to_end() == State.FAILED
    assert "not retried: retry.when: TypeError" in (driver.run("a").message or "")


@pytest.mark.parametrize(("warn", "state"), [(True, State.WARNING), (False, State.SUCCESS)])
def test_warning_on_retry(warn: bool, state: State) -> None:
    flow = flow_of(
        shell("a", retry={**FAST, "warningOnRetry": warn}), shell("b", retry={**FAST, "warningOnRetry": warn})
    )
    driver = Driver(flow, cluster=Cluster(lambda job: exits(1)(job) if job.task_id == "a" else (True, {})))
    assert driver.run_to_end() == state
    assert driver.states() == {"a": state, "b": State.SUCCESS}  # b needed no retry
    if warn:
        assert driver.run("a").message == "succeeded at attempt 2 (retry.warningOnRetry)"
