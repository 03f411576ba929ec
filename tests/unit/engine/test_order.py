"""Ordering: list order, dependsOn DAGs, parallel, sequential, each, if/switch, runIf, disabled."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.sim import Cluster, Driver, as_run, flow_of, outcome_by_task, shell

from overture.api import State
from overture.api.times import parse_time
from overture.engine import CreateJob, EmitEvent


def starts_by_step(driver: Driver) -> list[list[str]]:
    """The task runs whose first attempt was created, step by step."""
    return [[a.task_run for a in d.actions if isinstance(a, CreateJob) and a.attempt == 1] for d in driver.decisions]


def max_active(driver: Driver, prefix: str = "") -> int:
    """The most runnable task runs (ids starting with ``prefix``) unfinished at once, over every step."""
    most = 0
    for decision in driver.decisions:
        active = [
            r for r in decision.status.task_runs if r.id.startswith(prefix) and r.attempts and not r.state.is_terminal
        ]
        most = max(most, len(active))
    return most


def assert_started_after(driver: Driver, task_run: str, dependencies: list[str]) -> None:
    """In every status where ``task_run`` exists, each dependency already ended successfully."""
    for decision in driver.decisions:
        runs = {r.id: r for r in decision.status.task_runs}
        if task_run in runs:
            for dep in dependencies:
                assert dep in runs, f"{task_run} started before {dep}"
                assert runs[dep].state.is_successful, f"{task_run} started while {dep} was {runs[dep].state}"


# --- sequential order -----------------------------------------------------------------------


def test_tasks_run_in_list_order_one_at_a_time() -> None:
    driver = Driver(flow_of(shell("a"), shell("b"), shell("c")))
    assert driver.run_to_end() == State.SUCCESS
    assert [s for s in starts_by_step(driver) if s] == [["a"], ["b"], ["c"]]
    assert_started_after(driver, "b", ["a"])
    assert_started_after(driver, "c", ["a", "b"])
    assert max_active(driver) == 1


def test_a_failed_task_stops_the_list() -> None:
    driver = Driver(flow_of(shell("a"), shell("b"), shell("c")), cluster=Cluster(outcome_by_task({"b": (False, "x")})))
    assert driver.run_to_end() == State.FAILED
    assert driver.states() == {"a": State.SUCCESS, "b": State.FAILED}
    assert driver.status.message == "task b failed: exit code 1; its log: kubectl logs job/run-1-b-1"


# --- DAG --------------------------------------------------------------------------------------


DIAMOND = flow_of(
    shell("c", dependsOn=["a", "b"]),
    shell("a"),
    shell("b"),
    shell("d", dependsOn=["c"]),
    shell("e", dependsOn=["a"]),
)


def test_dag_starts_independent_branches_in_the_same_step() -> None:
    driver = Driver(DIAMOND, cluster=Cluster(duration=3))
    assert driver.run_to_end() == State.SUCCESS
    steps = [s for s in starts_by_step(driver) if s]
    assert sorted(steps[0]) == ["a", "b"]
    assert sorted(steps[1]) == ["c", "e"]
    assert steps[2] == ["d"]
    assert_started_after(driver, "c", ["a", "b"])
    assert_started_after(driver, "d", ["c"])
    assert_started_after(driver, "e", ["a"])


def test_dag_task_waits_for_its_slowest_dependency() -> None:
    cluster = Cluster(durations={"b": 5})
    driver = Driver(flow_of(shell("a"), shell("b"), shell("c", dependsOn=["a", "b"])), cluster=cluster)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.run("c").start_date == driver.run("b").end_date == parse_time("2026-01-01T12:00:05Z")
    assert_started_after(driver, "c", ["a", "b"])


@pytest.mark.parametrize(
    ("failing", "expected"),
    [
        ("a", {"a": State.FAILED, "b": State.SUCCESS}),
        ("b", {"a": State.SUCCESS, "b": State.FAILED}),  # e was ready when b failed: not started
        ("c", {"a": State.SUCCESS, "b": State.SUCCESS, "c": State.FAILED, "e": State.SUCCESS}),
    ],
)
def test_dag_failed_dependency_blocks_dependants(failing: str, expected: dict[str, State]) -> None:
    driver = Driver(DIAMOND, cluster=Cluster(outcome_by_task({failing: (False, "boom")})))
    assert driver.run_to_end() == State.FAILED
    assert driver.states() == expected
    assert "d" not in driver.states()
    assert driver.status.message.startswith(f"task {failing} failed")


def test_dag_no_new_task_starts_after_a_failure_even_if_earlier_in_order() -> None:
    # z comes before a in dependency order, but becomes ready only after a failed.
    flow = flow_of(shell("slow"), shell("z", dependsOn=["slow"]), shell("a"))
    cluster = Cluster(outcome_by_task({"a": (False, "boom")}), durations={"slow": 3})
    driver = Driver(flow, cluster=cluster)
    assert driver.run_to_end() == State.FAILED
    assert driver.states() == {"slow": State.SUCCESS, "a": State.FAILED}


# --- parallel and sequential flowables -------------------------------------------------------


@pytest.mark.parametrize(("concurrency", "expected_max"), [(0, 5), (1, 1), (2, 2), (5, 5)])
def test_parallel_respects_its_concurrency(concurrency: int, expected_max: int) -> None:
    children = [shell(f"p{i}") for i in range(5)]
    flow = flow_of({"id": "fan", "type": "parallel", "concurrency": concurrency, "tasks": children}, shell("after"))
    driver = Driver(flow)
    assert driver.run_to_end() == State.SUCCESS
    assert max_active(driver, "p") == expected_max
    assert {f"p{i}" for i in range(5)} <= set(driver.states())
    assert driver.run("fan").state == State.SUCCESS
    assert all(driver.run(f"p{i}").parent == "fan" for i in range(5))
    assert_started_after(driver, "after", ["fan", *[f"p{i}" for i in range(5)]])


def test_parallel_child_failure_fails_the_parallel_and_the_run() -> None:
    flow = flow_of({"id": "fan", "type": "parallel", "tasks": [shell("ok"), shell("bad")]}, shell("after"))
    driver = Driver(flow, cluster=Cluster(outcome_by_task({"bad": (False, "no")})))
    assert driver.run_to_end() == State.FAILED
    assert driver.states() == {"fan": State.FAILED, "ok": State.SUCCESS, "bad": State.FAILED}
    assert driver.run("fan").message == "a task inside failed"
    assert driver.status.message == "task bad failed: exit code 1; its log: kubectl logs job/run-1-bad-1"


def test_sequential_flowable_runs_children_in_order_inside_a_parallel() -> None:
    branch_a = {"id": "seq-a", "type": "sequential", "tasks": [shell("a1"), shell("a2")]}
    branch_b = {"id": "seq-b", "type": "sequential", "tasks": [shell("b1"), shell("b2"), shell("b3")]}
    driver = Driver(flow_of({"id": "both", "type": "parallel", "tasks": [branch_a, branch_b]}))
    assert driver.run_to_end() == State.SUCCESS
    steps = [sorted(s) for s in starts_by_step(driver) if s]
    assert steps == [["a1", "b1"], ["a2", "b2"], ["b3"]]
    assert driver.run("a2").parent == "seq-a"


# --- each -------------------------------------------------------------------------------------


def each(items: Any, *tasks: dict[str, Any], limit: int | None = None, task_id: str = "loop") -> dict[str, Any]:
    task: dict[str, Any] = {"id": task_id, "type": "each", "items": items, "tasks": list(tasks)}
    if limit is not None:
        task["concurrencyLimit"] = limit
    return task


@pytest.mark.parametrize(("limit", "expected_max"), [(None, 1), (1, 1), (2, 2), (3, 3), (0, 5)])
def test_each_over_a_literal_list_respects_concurrency_limit(limit: int | None, expected_max: int) -> None:
    items = ["v0", "v1", "v2", "v3", "v4"]
    driver = Driver(
        flow_of(each(items, shell("work", "echo {{ taskrun.value }} {{ taskrun.iteration }}"), limit=limit))
    )
    assert driver.run_to_end() == State.SUCCESS
    assert max_active(driver, "work[") == expected_max
    for index, value in enumerate(items):
        run = driver.run(f"work[{index}]")
        assert (run.state, run.value, run.iteration, run.parent) == (State.SUCCESS, value, index, "loop")
    jobs = {j.task_run: j for j in driver.actions(CreateJob)}
    assert as_run(jobs["work[3]"]) == "echo v3 3"
    assert jobs["work[3]"].iteration == "[3]"
    assert jobs["work[3]"].name == "run-1-work-3-1"


def test_each_over_a_json_array_output() -> None:
    script = outcome_by_task({"list": (True, {"files": ["a.csv", "b.csv", "c.csv"]})})
    flow = flow_of(
        shell("list"),
        each("{{ outputs.list.files | json }}", shell("load", "load {{ taskrun.value }}"), limit=0),
    )
    driver = Driver(flow, cluster=Cluster(script))
    assert driver.run_to_end() == State.SUCCESS
    assert driver.run("loop").value == ["a.csv", "b.csv", "c.csv"]
    commands = sorted(as_run(j) for j in driver.actions(CreateJob) if j.task_id == "load")
    assert commands == ["load a.csv", "load b.csv", "load c.csv"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ("{{ outputs.list.name }}", "items: rendered 'not-json', which is not a JSON array"),
        ("{{ outputs.list.obj | json }}", "items: rendered a JSON dict, not an array"),
        ("{{ outputs.list.missing }}", "items: undefined key 'missing'"),
    ],
)
def test_each_with_bad_items_fails(items: str, message: str) -> None:
    script = outcome_by_task({"list": (True, {"name": "not-json", "obj": {"a": 1}})})
    driver = Driver(flow_of(shell("list"), each(items, shell("load"))), cluster=Cluster(script))
    assert driver.run_to_end() == State.FAILED
    assert driver.run("loop").message.startswith(message)


def test_each_iteration_outputs_inside_and_after_the_loop() -> None:
    def script(job: CreateJob) -> tuple[bool, Any]:
        if job.task_id == "square":
            n = int(as_run(job).split()[-1])
            return True, {"n": n * n}
        return True, {}

    flow = flow_of(
        each(
            [1, 2, 3],
            shell("square", "square {{ taskrun.value }}"),
            shell("show", "got {{ outputs.square.n }} for {{ taskrun.value }}"),
            limit=0,
        ),
        shell("total", "all {{ outputs.square | json }}"),
    )
    driver = Driver(flow, cluster=Cluster(script))
    assert driver.run_to_end() == State.SUCCESS
    commands = {j.task_run: as_run(j) for j in driver.actions(CreateJob)}
    assert commands["show[0]"] == "got 1 for 1"
    assert commands["show[2]"] == "got 9 for 3"
    assert commands["total"] == 'all [{"n": 1}, {"n": 4}, {"n": 9}]'
    assert driver.run("square[1]").outputs == {"n": 4}


def test_each_failed_iteration_starts_no_new_iteration() -> None:
    def script(job: CreateJob) -> tuple[bool, Any]:
        return (False, "bad item") if job.iteration == "[1]" else (True, {})

    driver = Driver(flow_of(each(["a", "b", "c", "d"], shell("work"), limit=2)), cluster=Cluster(script))
    assert driver.run_to_end() == State.FAILED
    assert driver.states() == {
        "loop": State.FAILED,
        "work[0]": State.SUCCESS,
        "work[1]": State.FAILED,
    }


def test_each_over_an_empty_list_succeeds() -> None:
    driver = Driver(flow_of(each([], shell("work")), shell("after")))
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {"loop": State.SUCCESS, "after": State.SUCCESS}


def test_nested_each_runs_carry_every_iteration() -> None:
    inner = each("{{ taskrun.value | json }}", shell("cell", "cell {{ parents[0].value }}"), task_id="inner", limit=0)
    driver = Driver(flow_of(each([["a", "b"], ["c"]], inner, limit=0)))
    assert driver.run_to_end() == State.SUCCESS
    assert driver.run("cell[1][0]").value == "c"
    assert sorted(j.name for j in driver.actions(CreateJob)) == [
        "run-1-cell-0-0-1",
        "run-1-cell-0-1-1",
        "run-1-cell-1-0-1",
    ]


# --- if / switch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("go", "ran", "branch"),
    [(True, "yes", "then"), (False, "no", "else"), ("off", "no", "else"), ("1", "yes", "then")],
)
def test_if_takes_one_branch(go: Any, ran: str, branch: str) -> None:
    flow = flow_of(
        {"id": "choose", "type": "if", "condition": "{{ inputs.go }}", "then": [shell("yes")], "else": [shell("no")]},
        shell("after"),
        inputs=[{"id": "go", "type": "STRING"}],
    )
    driver = Driver(flow, inputs={"go": go if isinstance(go, str) else str(go).lower()})
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {"choose": State.SUCCESS, ran: State.SUCCESS, "after": State.SUCCESS}
    assert driver.run("choose").outputs == {"value": branch}


def test_if_false_without_else_succeeds() -> None:
    flow = flow_of({"id": "choose", "type": "if", "condition": "{{ 1 > 2 }}", "then": [shell("yes")]}, shell("after"))
    driver = Driver(flow)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {"choose": State.SUCCESS, "after": State.SUCCESS}


SWITCH = flow_of(
    {
        "id": "route",
        "type": "switch",
        "value": "{{ inputs.kind }}",
        "cases": [{"value": "csv", "tasks": [shell("csv")]}, {"value": "json", "tasks": [shell("json")]}],
        "defaults": [shell("other")],
    },
    inputs=[{"id": "kind", "type": "STRING"}],
)


@pytest.mark.parametrize(("kind", "ran"), [("csv", "csv"), ("json", "json"), ("xml", "other")])
def test_switch_runs_the_matching_case_or_defaults(kind: str, ran: str) -> None:
    driver = Driver(SWITCH, inputs={"kind": kind})
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {"route": State.SUCCESS, ran: State.SUCCESS}
    assert driver.run("route").outputs == {"value": kind}


def test_switch_without_a_match_or_defaults_succeeds_running_nothing() -> None:
    flow = flow_of(
        {"id": "route", "type": "switch", "value": "zip", "cases": [{"value": "csv", "tasks": [shell("c")]}]}
    )
    driver = Driver(flow)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {"route": State.SUCCESS}


def test_if_condition_with_an_undefined_variable_fails_naming_it() -> None:
    flow = flow_of({"id": "choose", "type": "if", "condition": "{{ vars.nope }}", "then": [shell("yes")]})
    driver = Driver(flow)
    assert driver.run_to_end() == State.FAILED
    assert "undefined key 'nope'" in driver.run("choose").message
    assert driver.run("choose").message.startswith("condition: ")


# --- runIf, disabled ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run_if", "state"), [("{{ 1 == 2 }}", State.SKIPPED), ("false", State.SKIPPED), ("yes", State.SUCCESS)]
)
def test_run_if(run_if: str, state: State) -> None:
    flow = flow_of(
        shell("a"),
        shell("maybe", runIf=run_if, dependsOn=["a"]),
        shell("after", dependsOn=["maybe"]),  # allSucceeded: skipped with it
        shell("join", dependsOn=["after"], runWhen="noneFailed"),
    )
    driver = Driver(flow)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {"a": State.SUCCESS, "maybe": state, "after": state, "join": State.SUCCESS}
    if state == State.SKIPPED:
        assert driver.run("after").message == "dependency maybe was skipped"
        assert driver.run("maybe").message == "runIf was false"
        assert not [j for j in driver.actions(CreateJob) if j.task_id == "maybe"]


def test_run_if_reads_outputs_of_earlier_tasks() -> None:
    script = outcome_by_task({"check": (True, {"rows": 0})})
    flow = flow_of(shell("check"), shell("load", runIf="{{ outputs.check.rows > 0 }}"), shell("after"))
    driver = Driver(flow, cluster=Cluster(script))
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {"check": State.SUCCESS, "load": State.SKIPPED, "after": State.SUCCESS}


@pytest.mark.parametrize("dag", [False, True])
def test_disabled_task_is_skipped_and_the_list_goes_on(dag: bool) -> None:
    depends = {"dependsOn": ["off"]} if dag else {}
    flow = flow_of(shell("off", disabled=True), shell("after", **depends))
    driver = Driver(flow)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {"off": State.SKIPPED, "after": State.SUCCESS}
    assert driver.run("off").message == "disabled"
    assert [j.task_id for j in driver.actions(CreateJob)] == ["after"]


def test_disabled_flowable_runs_none_of_its_children() -> None:
    flow = flow_of({"id": "fan", "type": "parallel", "disabled": True, "tasks": [shell("x")]}, shell("after"))
    driver = Driver(flow)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {"fan": State.SKIPPED, "after": State.SUCCESS}


def test_outputs_in_status_are_json() -> None:
    script = outcome_by_task({"a": (True, {"rows": 42, "files": ["x"]})})
    driver = Driver(flow_of(shell("a")), cluster=Cluster(script))
    driver.run_to_end()
    wire = driver.status.to_wire()
    assert json.loads(json.dumps(wire))["taskRuns"][0]["outputs"] == {"rows": 42, "files": ["x"]}


# --- trigger rules: runWhen and depends (issue 17) --------------------------------------------


def test_the_branch_pattern_runs_one_branch_and_the_join() -> None:
    flow = flow_of(
        shell("left", runIf="{{ 1 == 1 }}"),
        shell("right", runIf="{{ 1 == 2 }}"),
        shell("after-left", dependsOn=["left"]),
        shell("after-right", dependsOn=["right"]),
        shell("join", dependsOn=["after-left", "after-right"], runWhen="noneFailed"),
        shell("on-failure", depends="left.Failed || right.Failed"),
    )
    driver = Driver(flow)
    assert driver.run_to_end() == State.SUCCESS
    assert driver.states() == {
        "left": State.SUCCESS,
        "right": State.SKIPPED,
        "after-left": State.SUCCESS,
        "after-right": State.SKIPPED,
        "join": State.SUCCESS,
        "on-failure": State.SKIPPED,
    }
    assert driver.run("on-failure").message == "depends was false: left.Failed || right.Failed"
    assert sorted(j.task_id for j in driver.actions(CreateJob)) == ["after-left", "join", "left"]


@pytest.mark.parametrize(
    ("rule", "handler"),
    [
        ({"runWhen": "anyFailed"}, State.SUCCESS),
        ({"runWhen": "allDone"}, State.SUCCESS),
        ({"depends": "bad.Failed"}, State.SUCCESS),
    ],
)
def test_a_failure_handler_runs_and_the_run_still_fails(rule: dict[str, str], handler: State) -> None:
    needs = {} if "depends" in rule else {"dependsOn": ["bad"]}
    flow = flow_of(shell("bad"), shell("other", dependsOn=["bad"]), shell("handler", **needs, **rule))
    driver = Driver(flow, cluster=Cluster(outcome_by_task({"bad": (False, "boom")})))
    assert driver.run_to_end() == State.FAILED
    assert driver.states() == {"bad": State.FAILED, "handler": handler}  # other never ran
    assert "task bad failed" in (driver.status.message or "")


def test_a_failure_stops_tasks_whose_rule_does_not_wait_for_it() -> None:
    flow = flow_of(shell("bad"), shell("slow"), shell("late", dependsOn=["slow"], runWhen="allDone"))
    driver = Driver(flow, cluster=Cluster(outcome_by_task({"bad": (False, "boom")}), durations={"slow": 3}))
    assert driver.run_to_end() == State.FAILED
    assert driver.states()["late"] == State.SUCCESS  # allDone: its dependency ended, it runs


def test_each_outputs_are_read_by_iteration_value() -> None:
    def by_value(job: Any) -> tuple[bool, Any]:
        return True, {"day": job.command[-1].split()[-1]}

    flow = flow_of(
        each(["2026-01-30", "2026-01-31"], shell("load", "echo {{ taskrun.value }}")),
        each([{"k": 1}, 7], shell("obj", "echo x"), task_id="loop2"),
        shell(
            "report",
            "{{ outputs.load['2026-01-31'].day }} {{ outputs.load[0].day }} {{ outputs.load | length }}",
            "{{ outputs.obj['{\"k\":1}'] is defined }} {{ outputs.obj['7'] is defined }}"
            " {{ outputs.load['x'] is defined }}",
        ),
    )
    driver = Driver(flow, cluster=Cluster(by_value))
    assert driver.run_to_end() == State.SUCCESS
    report = next(j for j in driver.actions(CreateJob) if j.task_id == "report")
    assert report.command[-1].split("\n") == ["2026-01-31 2026-01-30 2", "True True False"]


# --- steps without a pod: log, return (issue 17) ----------------------------------------------


def test_log_and_return_run_in_the_operator() -> None:
    flow = flow_of(
        shell("count"),
        each(
            ["a", "b", "c"],
            {
                "id": "double",
                "type": "return",
                "value": {"item": "{{ taskrun.value }}", "n": "{{ outputs.count.n * 2 }}"},
            },
            {"id": "say", "type": "log", "message": "{{ outputs.double.value.item }} -> {{ outputs.double.value.n }}"},
        ),
        {"id": "done", "type": "log", "level": "WARN", "message": "{{ outputs.double['b'].value.item }}"},
    )
    driver = Driver(flow, cluster=Cluster(outcome_by_task({"count": (True, {"n": 21})})))
    assert driver.run_to_end() == State.SUCCESS
    assert [j.task_id for j in driver.actions(CreateJob)] == ["count"]  # one pod, not eight
    assert driver.run("double[1]").outputs == {"value": {"item": "b", "n": "42"}}
    assert driver.run("say[2]").outputs == {"message": "c -> 42"}
    events = [(e.type.value, e.reason, e.message) for e in driver.actions(EmitEvent) if e.reason == "TaskLog"]
    assert events[-1] == ("Warning", "TaskLog", "done: b")
    assert ("Normal", "TaskLog", "say[0]: a -> 42") in events


def test_a_log_that_does_not_render_fails_naming_the_field() -> None:
    driver = Driver(flow_of({"id": "say", "type": "log", "message": "{{ vars.nope }}"}))
    assert driver.run_to_end() == State.FAILED
    assert (driver.run("say").message or "").startswith("message: undefined key 'nope'")


# --- errors on a flowable (issue 17) ----------------------------------------------------------


def test_errors_of_a_flowable_run_when_a_task_inside_fails() -> None:
    group = {
        "id": "load",
        "type": "sequential",
        "tasks": [shell("a"), shell("bad"), shell("never")],
        "errors": [shell("cleanup-load", "echo {{ error.taskId }}: {{ error.message }}")],
    }
    flow = flow_of(group, shell("after"), errors=[shell("alert", "echo {{ error.taskId }}")])
    driver = Driver(flow, cluster=Cluster(outcome_by_task({"bad": (False, "disk full")})))
    assert driver.run_to_end() == State.FAILED
    assert driver.states() == {
        "load": State.FAILED,
        "a": State.SUCCESS,
        "bad": State.FAILED,
        "cleanup-load": State.SUCCESS,
        "alert": State.SUCCESS,
    }
    commands = {j.task_id: as_run(j) for j in driver.actions(CreateJob)}
    # a failure says where its log is, never what it printed (issue 14)
    assert commands["cleanup-load"] == "echo bad: exit code 1; its log: kubectl logs job/run-1-bad-1"
    assert commands["alert"] == "echo bad"  # the flow's errors name the task that failed, not its group
    order = [j.task_id for j in driver.actions(CreateJob)]
    assert order.index("cleanup-load") < order.index("alert")


def test_errors_of_a_flowable_do_not_run_when_nothing_failed() -> None:
    group = {"id": "g", "type": "parallel", "tasks": [shell("a")], "errors": [shell("on-error")]}
    driver = Driver(flow_of(group))
    assert driver.run_to_end() == State.SUCCESS
    assert "on-error" not in driver.states()
