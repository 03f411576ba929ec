"""How runs end: errors and finally, final state rules, outputs, templating, inputs, events, conditions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.sim import Cluster, Driver, as_run, flow_of, outcome_by_task, shell

from overture.api import CONDITION_SUCCEEDED, ConditionStatus, State, find_condition
from overture.api.times import parse_time
from overture.engine import TERMINATION_MESSAGE_LIMIT, CreateJob, EmitEvent, EnvValue, EventType, start_failure, step
from overture.engine.outputs import OutputsError, parse_outputs
from overture.templating import CONTEXT_KEYS

# --- errors and finally -------------------------------------------------------------------------

HANDLED = flow_of(
    shell("extract"),
    shell("load"),
    errors=[shell("alert", "alert {{ error.taskId }}: {{ error.message }}")],
    **{"finally": [shell("cleanup", "cleanup {{ execution.id }}")]},
)


def test_errors_run_on_failure_with_the_error_in_context_then_finally() -> None:
    driver = Driver(HANDLED, cluster=Cluster(outcome_by_task({"load": (False, "disk full")})))
    assert driver.run_to_end() == State.FAILED
    assert list(driver.states()) == ["extract", "load", "alert", "cleanup"]
    commands = {j.task_id: as_run(j) for j in driver.actions(CreateJob)}
    assert commands["alert"] == "alert load: exit code 1; its log: kubectl logs job/run-1-load-1"
    assert commands["cleanup"] == "cleanup run-1"
    assert driver.run("cleanup").start_date >= driver.run("alert").end_date
    assert driver.status.message == "task load failed: exit code 1; its log: kubectl logs job/run-1-load-1"


def test_errors_do_not_run_on_success_and_finally_still_does() -> None:
    driver = Driver(HANDLED)
    assert driver.run_to_end() == State.SUCCESS
    assert list(driver.states()) == ["extract", "load", "cleanup"]


def test_errors_see_the_failed_leaf_task_inside_a_flowable() -> None:
    flow = flow_of(
        {"id": "fan", "type": "parallel", "tasks": [shell("ok"), shell("bad")]},
        errors=[shell("alert", "{{ error.taskId }} {{ error.taskRunId }}")],
    )
    each = flow_of(
        {"id": "loop", "type": "each", "items": [1, 2], "tasks": [shell("bad")]},
        errors=[shell("alert", "{{ error.taskId }} {{ error.taskRunId }}")],
    )
    cluster = Cluster(outcome_by_task({"bad": (False, "x")}))
    driver = Driver(flow, cluster=cluster)
    driver.run_to_end()
    assert [as_run(j) for j in driver.actions(CreateJob) if j.task_id == "alert"] == ["bad bad"]
    driver = Driver(each, cluster=Cluster(outcome_by_task({"bad": (False, "x")})))
    driver.run_to_end()
    assert [as_run(j) for j in driver.actions(CreateJob) if j.task_id == "alert"] == ["bad bad[0]"]


def test_error_context_is_undefined_outside_errors() -> None:
    driver = Driver(flow_of(shell("a", "echo {{ error.taskId }}")))
    assert driver.run_to_end() == State.FAILED
    assert "undefined variable 'error'" in driver.run("a").message


def test_finally_runs_after_a_fail_task_and_in_order() -> None:
    flow = flow_of({"id": "stop", "type": "fail"}, **{"finally": [shell("f1"), shell("f2")]})
    driver = Driver(flow)
    assert driver.run_to_end() == State.FAILED
    assert driver.states() == {"stop": State.FAILED, "f1": State.SUCCESS, "f2": State.SUCCESS}
    assert driver.run("f2").start_date >= driver.run("f1").end_date


# --- final state rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flow", "failing", "final"),
    [
        (flow_of(shell("a"), shell("b")), {}, State.SUCCESS),
        (flow_of(shell("a", allowFailure=True), shell("b")), {"a"}, State.WARNING),
        (flow_of(shell("a"), errors=[shell("e")]), {"a"}, State.FAILED),
        (flow_of(shell("a"), errors=[shell("e")]), {"a", "e"}, State.FAILED),
        (flow_of(shell("a"), errors=[shell("e")]), {"e"}, State.SUCCESS),
        (flow_of(shell("a"), **{"finally": [shell("f")]}), {"f"}, State.FAILED),
        (flow_of(shell("a", allowFailure=True), **{"finally": [shell("f")]}), {"a"}, State.WARNING),
        (flow_of(shell("a", allowFailure=True), **{"finally": [shell("f")]}), {"a", "f"}, State.FAILED),
        (flow_of(shell("a"), **{"finally": [shell("f", allowFailure=True)]}), {"f"}, State.WARNING),
        (flow_of(shell("a"), errors=[shell("e", allowFailure=True)]), {"a", "e"}, State.FAILED),
    ],
)
def test_final_state_rules(flow: dict[str, Any], failing: set[str], final: State) -> None:
    driver = Driver(flow, cluster=Cluster(outcome_by_task(dict.fromkeys(failing, (False, "no")))))
    assert driver.run_to_end() == final
    condition = find_condition(driver.status.conditions, CONDITION_SUCCEEDED)
    assert condition is not None
    ok = final in (State.SUCCESS, State.WARNING)
    assert condition.status == (ConditionStatus.TRUE if ok else ConditionStatus.FALSE)
    assert driver.status.end_date is not None
    assert driver.status.duration is not None


# --- outputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("rows=42", "are not valid JSON (Expecting value at position 0): 'rows=42'"),
        ('{"rows": 4', "are not valid JSON"),
        ("[1, 2]", "must be a JSON object, not list"),
        ('{"blob": "' + "x" * TERMINATION_MESSAGE_LIMIT + '"}', "reach the 4 KiB limit of a termination message"),
    ],
)
def test_bad_outputs_fail_the_task_with_a_message(message: str, problem: str) -> None:
    driver = Driver(flow_of(shell("a"), shell("b")), cluster=Cluster(outcome_by_task({"a": (True, message)})))
    assert driver.run_to_end() == State.FAILED
    run = driver.run("a")
    assert run.state == State.FAILED
    assert problem in run.message
    assert run.message.startswith("outputs in /overture/outputs.json")
    assert run.attempts[0].exit_code == 0
    assert "b" not in driver.states()


def test_outputs_at_exactly_the_limit_fail_and_just_under_pass() -> None:
    body = '{"k": "'
    under = body + "x" * (TERMINATION_MESSAGE_LIMIT - len(body) - 3) + '"}'
    assert len(under.encode()) == TERMINATION_MESSAGE_LIMIT - 1
    assert parse_outputs(under)["k"].startswith("xxx")
    at = body + "x" * (TERMINATION_MESSAGE_LIMIT - len(body) - 2) + '"}'
    assert len(at.encode()) == TERMINATION_MESSAGE_LIMIT
    with pytest.raises(OutputsError, match=r"4 KiB limit .* \(4096 bytes\)"):
        parse_outputs(at)


@pytest.mark.parametrize("message", [None, "", "  \n"])
def test_no_outputs_is_an_empty_object(message: str | None) -> None:
    assert parse_outputs(message) == {}


# --- templating ---------------------------------------------------------------------------------


def test_secrets_become_env_references_never_values() -> None:
    flow = flow_of(
        shell(
            "call",
            "curl -H 'Authorization: {{ secret('api', 'token') }}' {{ vars.url }}",
            env=[
                {"name": "DB", "secretKeyRef": {"name": "db", "key": "password"}},
                {"name": "MODE", "value": "{{ inputs.mode }}"},
            ],
        ),
        variables={"url": "https://example.org"},
        inputs=[{"id": "mode", "type": "STRING", "default": "fast"}],
    )
    driver = Driver(flow)
    assert driver.run_to_end() == State.SUCCESS
    (job,) = driver.actions(CreateJob)
    token = next(e for e in job.env if e.secret_key == "token")
    # in a shell script the secret is its env var, quoted where it stands (issue 14)
    assert as_run(job) == f"curl -H 'Authorization: '\"${{{token.name}}}\"'' https://example.org"
    assert token == EnvValue(token.name, secret_name="api", secret_key="token")
    assert token.name.startswith("OVERTURE_SECRET_API_TOKEN_")
    assert EnvValue("DB", secret_name="db", secret_key="password") in job.env
    assert EnvValue("MODE", value="fast") in job.env
    assert "secret(" not in as_run(job)
    assert "$(" not in json.dumps(driver.status.to_wire())  # rendered commands are not kept in status


def test_the_same_secret_twice_is_one_env_var() -> None:
    driver = Driver(flow_of(shell("a", "{{ secret('s', 'k') }}", "{{ secret('s', 'k') }} {{ secret('s', 'j') }}")))
    driver.step()
    (job,) = driver.actions(CreateJob)
    assert sorted((e.secret_name, e.secret_key) for e in job.env if e.secret_name) == [("s", "j"), ("s", "k")]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("echo {{ inputs.nope }}", "commands[1]: undefined key 'nope'"),
        ("echo {{ nope }}", "commands[1]: undefined variable 'nope'"),
        ("echo {{ outputs.later.x }}", "commands[1]: outputs.later: task 'later' has not run yet"),
        ("echo {{ ''.__class__ }}", "commands[1]: "),
        ("echo {{ unclosed", "commands[1]: syntax error at line 1"),
    ],
)
def test_template_problems_fail_the_task_naming_the_field(command: str, message: str) -> None:
    driver = Driver(flow_of(shell("a", "echo ok", command), shell("later")))
    assert driver.run_to_end() == State.FAILED
    run = driver.run("a")
    assert run.message.startswith(message)
    assert run.attempts == ()
    assert driver.actions(CreateJob) == []


def test_template_context() -> None:
    flow = flow_of(
        shell(
            "a",
            "{{ inputs.day }} {{ vars.bucket }} {{ execution.id }} {{ execution.flow }} {{ execution.namespace }}",
            "{{ trigger.type }} {{ trigger.date }} {{ labels.team }} {{ taskrun.id }} {{ taskrun.attempt }}",
            "{{ inputs.day | date('%d/%m') }} {{ execution.startDate }}",
        ),
        inputs=[{"id": "day", "type": "DATE"}],
        variables={"bucket": "raw"},
        labels={"team": "data"},
    )
    trigger = {"type": "schedule", "id": "nightly", "date": "2026-01-01T02:00:00Z"}
    driver = Driver(flow, inputs={"day": "2026-01-31"}, trigger=trigger)
    driver.step()
    (job,) = driver.actions(CreateJob)
    assert as_run(job).split("\n") == [
        "2026-01-31 raw run-1 flow default",
        "schedule 2026-01-01T02:00:00Z data a 1",
        "31/01 2026-01-01T12:00:00Z",
    ]


def test_the_fixed_roots_have_the_keys_validation_knows() -> None:
    roots = sorted(CONTEXT_KEYS)
    flow = flow_of(shell("a", *(f"{{{{ {root} | list | sort | join(',') }}}}" for root in roots)))
    driver = Driver(flow)
    driver.step()
    (job,) = driver.actions(CreateJob)
    assert job.command[-1].split("\n") == [",".join(sorted(CONTEXT_KEYS[root])) for root in roots]


def test_taskrun_attempt_is_the_attempt_number() -> None:
    flow = flow_of(shell("a", "echo {{ taskrun.attempt }}", retry={"maxAttempts": 2, "interval": "1s"}))
    driver = Driver(flow, cluster=Cluster(lambda job: (True, {}) if job.attempt == 2 else (False, "x")))
    assert driver.run_to_end() == State.SUCCESS
    assert [as_run(j) for j in driver.actions(CreateJob)] == ["echo 1", "echo 2"]


@pytest.mark.parametrize(
    ("task", "image", "command", "args"),
    [
        (shell("a", "echo 1", "echo 2"), "busybox:1.36", ("/bin/sh", "-ec", "echo 1\necho 2"), ()),
        (
            {"id": "a", "type": "python", "script": "print({{ 1 + 1 }})"},
            "python:3.12-slim",
            ("python3", "-c", "print(2)"),
            (),
        ),
        (
            {"id": "a", "type": "container", "image": "alpine:3", "command": ["ls"], "args": ["{{ vars.dir }}"]},
            "alpine:3",
            ("ls",),
            ("/data",),
        ),
    ],
)
def test_job_requests_by_task_type(
    task: dict[str, Any], image: str, command: tuple[str, ...], args: tuple[str, ...]
) -> None:
    driver = Driver(flow_of({**task, "resources": {"limits": {"memory": "64Mi"}}}, variables={"dir": "/data"}))
    driver.step()
    (job,) = driver.actions(CreateJob)
    assert (job.image, job.command, job.args) == (image, command, args)
    assert job.resources == {"limits": {"memory": "64Mi"}}
    assert (job.task_id, job.task_run, job.attempt, job.iteration) == ("a", "a", 1, None)


# --- inputs ---------------------------------------------------------------------------------------

INPUTS_FLOW = flow_of(
    shell("a", "echo {{ inputs.n + 1 }} {{ inputs.day }}"),
    inputs=[{"id": "n", "type": "INT"}, {"id": "day", "type": "DATE", "required": False}],
)


@pytest.mark.parametrize(
    ("given", "problems"),
    [
        ({"n": "many"}, ["spec.inputs.n: expected an integer, e.g. 42 (INT input)"]),
        ({}, ["spec.inputs.n: required INT input is missing; give a value"]),
        ({"n": 1, "dy": "x"}, ["spec.inputs.dy: the flow declares no such input (inputs: day, n)"]),
        (
            {"n": "x", "day": "31/01"},
            ["spec.inputs.n: expected an integer", "spec.inputs.day: expected a date as YYYY-MM-DD"],
        ),
    ],
)
def test_bad_inputs_fail_the_execution_naming_the_input(given: dict[str, Any], problems: list[str]) -> None:
    driver = Driver(INPUTS_FLOW, inputs=given)
    decision = driver.step()
    assert driver.state == State.FAILED
    for problem in problems:
        assert problem in driver.status.message
    assert decision.creations == ()
    assert driver.status.task_runs == ()
    assert any(isinstance(a, EmitEvent) and a.reason == "ExecutionFailed" for a in decision.actions)
    assert driver.status.flow_spec is not None  # the snapshot is kept, so the failure can be read


def test_inputs_are_coerced_and_defaults_applied() -> None:
    driver = Driver(INPUTS_FLOW, inputs={"n": "41"})
    assert driver.run_to_end() == State.SUCCESS
    assert driver.status.inputs == {"n": 41, "day": None}
    assert as_run(driver.actions(CreateJob)[0]) == "echo 42 None"


def test_a_missing_flow_fails_the_execution() -> None:
    driver = Driver(INPUTS_FLOW)
    decision = step(None, driver.execution, driver.cluster.observe(driver.now), driver.now)
    assert decision.status.state == State.FAILED
    assert decision.status.message == "flow 'flow' cannot run"
    decision = start_failure(driver.execution, driver.now, "spec.tasks[0].id: bad")
    assert decision.status.message == "spec.tasks[0].id: bad"
    assert decision.status.conditions[0].status == ConditionStatus.FALSE


def test_the_flow_is_snapshotted_at_start_and_later_edits_are_ignored() -> None:
    driver = Driver(flow_of(shell("a"), shell("b")))
    driver.step()
    driver.flow = driver.flow.model_validate(flow_of(shell("other")))
    assert driver.run_to_end() == State.SUCCESS
    assert list(driver.states()) == ["a", "b"]


# --- events and conditions ---------------------------------------------------------------------


def test_events_tell_the_story() -> None:
    flow = flow_of(shell("a", retry={"maxAttempts": 2, "interval": "1s"}), shell("b"))
    driver = Driver(flow, cluster=Cluster(outcome_by_task({"a": (False, "no")})))
    assert driver.run_to_end() == State.FAILED
    reasons = [reason for reason, _ in driver.events()]
    assert reasons == ["Started", "TaskStarted", "TaskRetrying", "TaskRetried", "TaskFailed", "EndedBadly"]
    warnings = {e.reason for e in driver.actions(EmitEvent) if e.type == EventType.WARNING}
    assert warnings == {"TaskRetrying", "TaskFailed", "EndedBadly"}
    assert driver.events()[-1] == (
        "EndedBadly",
        "Execution ended FAILED after 3s: task a failed: exit code 1; its log: kubectl logs job/run-1-a-2",
    )


def test_success_events() -> None:
    driver = Driver(flow_of(shell("a")))
    driver.run_to_end()
    assert driver.events() == [
        ("Started", "Started the execution"),
        ("TaskStarted", "Started task a (attempt 1) as Job run-1-a-1"),
        ("TaskSucceeded", "Task a succeeded (attempt 1)"),
        ("Ended", "Execution ended SUCCESS after 1s"),
    ]


def test_succeeded_condition_is_unknown_while_running_then_true() -> None:
    driver = Driver(flow_of(shell("a")), cluster=Cluster(duration=3))
    driver.step()
    condition = find_condition(driver.status.conditions, CONDITION_SUCCEEDED)
    assert condition is not None
    assert (condition.status, condition.reason, condition.observed_generation) == (
        ConditionStatus.UNKNOWN,
        "Running",
        1,
    )
    started = condition.last_transition_time
    driver.tick()
    condition = find_condition(driver.status.conditions, CONDITION_SUCCEEDED)
    assert condition is not None
    assert condition.last_transition_time == started
    driver.run_to_end()
    condition = find_condition(driver.status.conditions, CONDITION_SUCCEEDED)
    assert condition is not None
    assert (condition.status, condition.reason) == (ConditionStatus.TRUE, "Succeeded")
    assert condition.last_transition_time == parse_time("2026-01-01T12:00:03Z")
    assert len(driver.status.conditions) == 1


def test_a_terminal_execution_does_nothing_more() -> None:
    driver = Driver(flow_of(shell("a")))
    driver.run_to_end()
    before = driver.status
    driver.wait(100)
    decision = driver.step()
    assert decision.actions == ()
    assert decision.requeue_after is None
    assert decision.status == before


@pytest.mark.parametrize(
    ("flow_tasks", "message"),
    [
        (
            [shell("a", "echo {{ outputs.b.x }}"), shell("b")],
            "outputs.b: task 'b' has not run yet; a task reads the outputs of tasks that ran before it "
            "(earlier in a sequence, or in its dependsOn)",
        ),
        (
            [shell("b", runIf="false"), shell("a", "echo {{ outputs.b.x }}")],
            "outputs.b: task 'b' has no outputs: it is SKIPPED",
        ),
    ],
)
def test_reading_outputs_of_a_task_that_did_not_run_says_so(flow_tasks: list[dict[str, Any]], message: str) -> None:
    driver = Driver(flow_of(*flow_tasks))
    assert driver.run_to_end() == State.FAILED
    assert driver.run("a").message == f"commands[0]: {message} in 'echo {{{{ outputs.b.x }}}}'"
    assert "OutputsView" not in (driver.status.message or "")


def test_dates_of_a_manual_run() -> None:
    flow = flow_of(
        shell("a"),
        shell(
            "b",
            "{{ trigger.type }} {{ trigger.date }} {{ execution.logicalDate }} {{ execution.startDate }}",
            "{{ taskrun.startDate }} {{ trigger.date | date('%Y-%m-%d') }}",
        ),
    )
    cluster = Cluster(duration=90)
    driver = Driver(flow, cluster=cluster)
    assert driver.run_to_end() == State.SUCCESS
    job = next(j for j in driver.actions(CreateJob) if j.task_id == "b")
    start = "2026-01-01T12:00:00Z"
    b_start = driver.run("b").start_date
    assert b_start is not None
    assert job.command[-1].split("\n") == [
        f"manual {start} {start} {start}",
        f"{b_start:%Y-%m-%dT%H:%M:%S}Z 2026-01-01",
    ]
    assert b_start.isoformat() > "2026-01-01T12:01"  # b started after a ran 90 s: its own date


def test_errors_and_finally_read_how_the_tasks_ended() -> None:
    report = (
        "{{ execution.state }} {{ execution.failures | map(attribute='taskId') | join(',') }} {{ execution.duration }}"
    )
    flow = flow_of(
        shell("ok"),
        {"id": "group", "type": "parallel", "tasks": [shell("bad1"), shell("bad2")]},
        errors=[shell("on-error", report)],
        **{"finally": [shell("always", report)]},
    )
    cluster = Cluster(outcome_by_task({"bad1": (False, "no disk"), "bad2": (False, "no net")}), duration=30)
    driver = Driver(flow, cluster=cluster)
    assert driver.run_to_end() == State.FAILED
    commands = {j.task_id: j.command[-1] for j in driver.actions(CreateJob)}
    assert commands["on-error"] == "FAILED bad1,bad2 1m"
    assert commands["always"] == "FAILED bad1,bad2 1m30s"


def test_a_task_of_the_flow_sees_the_run_still_running() -> None:
    driver = Driver(flow_of(shell("a", "{{ execution.state }} {{ execution.failures | length }}")))
    driver.step()
    (job,) = driver.actions(CreateJob)
    assert job.command[-1] == "RUNNING 0"


FLOW_OUTPUTS = [
    {"id": "rows", "value": "{{ outputs.load.rows }}"},
    {"id": "summary", "value": {"day": "{{ inputs.day }}", "tables": ["a", "{{ outputs.load.table }}"]}},
]


def test_flow_outputs_are_rendered_when_the_tasks_succeeded() -> None:
    flow = flow_of(shell("load"), inputs=[{"id": "day", "type": "STRING"}], outputs=FLOW_OUTPUTS)
    cluster = Cluster(outcome_by_task({"load": (True, {"rows": 42, "table": "games"})}))
    driver = Driver(flow, inputs={"day": "d1"}, cluster=cluster)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.status.outputs == {"rows": "42", "summary": {"day": "d1", "tables": ["a", "games"]}}


def test_a_flow_output_that_does_not_render_fails_the_run() -> None:
    flow = flow_of(shell("load"), outputs=[{"id": "rows", "value": "{{ outputs.load.rows }}"}])
    driver = Driver(flow)
    assert driver.run_to_end() == State.FAILED
    assert driver.status.outputs is None
    assert (driver.status.message or "").startswith("spec.outputs[0].value: undefined key 'rows'")


def test_a_failed_run_has_no_outputs() -> None:
    flow = flow_of(shell("load"), outputs=[{"id": "rows", "value": "x"}])
    driver = Driver(flow, cluster=Cluster(outcome_by_task({"load": (False, "no")})))
    assert driver.run_to_end() == State.FAILED
    assert driver.status.outputs is None
