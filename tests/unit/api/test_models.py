"""The pydantic models of operator/overture/api: parsing, round trips, taskDefaults, durations, inputs."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.flowdocs import complex_doc, flow_doc, parse_spec, shell

from overture.api import (
    Condition,
    ConditionStatus,
    Execution,
    Input,
    InputType,
    SpecError,
    State,
    TaskRun,
    TriggerKind,
    coerce_inputs,
    find_condition,
    format_duration,
    parse_execution,
    parse_flow,
    to_timedelta,
    with_condition,
)
from overture.api.common import DURATION_HINT
from overture.api.execution import published_outputs

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


def problems_of(doc: Any, parse: Any = parse_flow) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse(doc)
    return caught.value.problems


# --- parsing and round trips ---------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_round_trips_through_the_wire_form(path: Path) -> None:
    flow = parse_flow(yaml.safe_load(path.read_text()))

    again = parse_flow(flow.to_wire())

    assert again == flow
    assert again.to_wire() == flow.to_wire()


def test_complex_flow_round_trips_and_keeps_every_section() -> None:
    flow = parse_flow(complex_doc())

    wire = flow.to_wire()

    assert parse_flow(wire) == flow
    assert wire["apiVersion"] == "overture.dev/v1alpha1"
    assert wire["kind"] == "Flow"
    assert [t["type"] for t in wire["spec"]["tasks"]] == [
        "python",
        "shell",
        "each",
        "parallel",
        "sequential",
        "if",
        "switch",
        "pause",
        "subflow",
    ]
    assert [t["type"] for t in wire["spec"]["triggers"]] == ["schedule", "schedule", "webhook", "flow", "resource"]
    assert wire["spec"]["tasks"][5]["else"][0]["id"] == "go"  # aliases: else, finally
    assert wire["spec"]["finally"][0]["id"] == "cleanup"


def test_wire_form_is_camel_case_without_defaults() -> None:
    flow = parse_spec({"tasks": [shell("a", retry={"maxAttempts": 5})]})

    task = flow.to_wire()["spec"]["tasks"][0]

    assert task == {"id": "a", "type": "shell", "commands": ["echo a"], "retry": {"maxAttempts": 5}}
    assert flow.spec.tasks[0].retry is not None
    assert flow.spec.tasks[0].retry.interval == "10s"  # the default comes back from the model


def test_models_are_frozen() -> None:
    flow = parse_spec({"tasks": [shell("a")]})

    with pytest.raises(ValueError, match="frozen"):
        flow.spec.tasks[0].id = "b"  # type: ignore[misc]


def test_durations_stay_strings_on_the_wire() -> None:
    flow = parse_spec({"timeout": "PT1H30M", "tasks": [shell("a", timeout="1.5h")]})

    assert flow.to_wire()["spec"]["timeout"] == "PT1H30M"
    assert flow.to_wire()["spec"]["tasks"][0]["timeout"] == "1.5h"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([1, 2], "document: expected a Flow object (a mapping), found the list [1, 2]"),
        (None, "document: expected a Flow object (a mapping), found an empty value (null)"),
        ({**flow_doc({"tasks": [shell("a")]}), "kind": "Execution"}, 'kind: "Execution" is not Flow'),
        ({**flow_doc({"tasks": [shell("a")]}), "apiVersion": "v1"}, 'apiVersion: "v1" is not supported'),
    ],
)
def test_parse_flow_rejects_other_documents(doc: Any, expected: str) -> None:
    assert any(expected in p for p in problems_of(doc))


def test_parse_flow_reports_every_problem_at_once() -> None:
    doc = flow_doc({"tasks": [{"id": "A", "type": "shell"}, {"id": "b", "type": "nope"}], "timeout": "soon"})

    problems = problems_of(doc)

    assert problems == [
        "spec.tasks[0].id: \"A\" is not allowed here; use lowercase letters, digits, '-' or '_', starting and "
        "ending with a letter or digit (ids become part of Job and Execution names)",
        "spec.tasks[0].commands: required field is missing",
        'spec.tasks[1]: "nope" is not a known type; use one of shell, python, container, parallel, sequential, each, '
        "if, switch, pause, subflow, fail, log, return, http, sql, notify, template",
        f"spec.timeout: 'soon' is not a duration; {DURATION_HINT}",
    ]


def test_spec_error_message_lists_the_problems() -> None:
    error = SpecError(["a: x", "b: y"])

    assert str(error) == "a: x\nb: y"
    assert isinstance(error, ValueError)


def test_metadata_keeps_only_what_the_models_read() -> None:
    doc = flow_doc({"tasks": [shell("a")]})
    doc["metadata"].update({"uid": "u-1", "generation": 4, "managedFields": [{"manager": "kubectl"}]})

    flow = parse_flow(doc)

    assert (flow.metadata.uid, flow.metadata.generation) == ("u-1", 4)
    assert "managedFields" not in flow.to_wire()["metadata"]


def test_resource_quantities_may_be_numbers() -> None:
    flow = parse_spec({"tasks": [shell("a", resources={"requests": {"cpu": 1, "memory": "64Mi"}})]})

    resources = flow.spec.tasks[0].resources  # type: ignore[union-attr]
    assert resources is not None
    assert resources.requests == {"cpu": "1", "memory": "64Mi"}


# --- taskDefaults --------------------------------------------------------------------------


def effective(spec: dict[str, Any]) -> dict[str, Any]:
    """The wire form of the parsed spec: what the engine runs."""
    wire: dict[str, Any] = parse_spec(spec).to_wire()["spec"]
    return wire


@pytest.mark.parametrize(
    ("defaults", "task", "expected"),
    [
        pytest.param(
            [{"values": {"image": "alpine:3"}}],
            shell("a"),
            {"image": "alpine:3"},
            id="untyped default applies to a runnable task",
        ),
        pytest.param(
            [{"type": "shell", "values": {"image": "alpine:3", "timeout": "5m"}}],
            shell("a", image="busybox:1"),
            {"image": "busybox:1", "timeout": "5m"},
            id="the task's own value wins",
        ),
        pytest.param(
            [{"type": "python", "values": {"image": "python:3.13"}}],
            shell("a"),
            {"image": None},
            id="a default of another type does not apply",
        ),
        pytest.param(
            [{"values": {"timeout": "1m"}}, {"type": "shell", "values": {"timeout": "2m"}}],
            shell("a"),
            {"timeout": "2m"},
            id="later defaults win over earlier ones",
        ),
        pytest.param(
            [{"type": "shell", "values": {"retry": {"maxAttempts": 5, "backoff": "exponential"}}}],
            shell("a", retry={"interval": "1s"}),
            {"retry": {"maxAttempts": 5, "backoff": "exponential", "interval": "1s"}},
            id="mappings merge key by key",
        ),
        pytest.param(
            [{"type": "shell", "values": {"resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "1"}}}}],
            shell("a", resources={"limits": {"memory": "2Gi"}}),
            {"resources": {"limits": {"memory": "2Gi"}, "requests": {"cpu": "1"}}},
            id="nested mappings merge and the task's value wins",
        ),
        pytest.param(
            [{"type": "shell", "values": {"env": [{"name": "A", "value": "1"}]}}],
            shell("a", env=[{"name": "B", "value": "2"}]),
            {"env": [{"name": "B", "value": "2"}]},
            id="lists are replaced, not merged",
        ),
    ],
)
def test_task_defaults(defaults: list[dict[str, Any]], task: dict[str, Any], expected: dict[str, Any]) -> None:
    got = effective({"taskDefaults": defaults, "tasks": [task]})["tasks"][0]

    assert {key: got.get(key) for key in expected} == expected


def test_task_defaults_reach_nested_tasks_and_errors_and_finally() -> None:
    spec = {
        "taskDefaults": [{"type": "shell", "values": {"image": "alpine:3"}}],
        "tasks": [
            {
                "id": "p",
                "type": "parallel",
                "tasks": [shell("a"), {"id": "s", "type": "sequential", "tasks": [shell("b")]}],
            },
            {"id": "i", "type": "if", "condition": "x", "then": [shell("c")], "else": [shell("d")]},
            {
                "id": "w",
                "type": "switch",
                "value": "x",
                "cases": [{"value": "x", "tasks": [shell("e")]}],
                "defaults": [shell("f")],
            },
            {"id": "l", "type": "each", "items": [1], "tasks": [shell("g", image="own:1")]},
        ],
        "errors": [shell("h")],
        "finally": [shell("j")],
    }

    flow = parse_spec(spec)

    from overture.validation import all_tasks

    images = {task.id: getattr(task, "image", "n/a") for _, task in all_tasks(flow.spec)}
    assert images == {
        "p": "n/a",
        "a": "alpine:3",
        "s": "n/a",
        "b": "alpine:3",
        "i": "n/a",
        "c": "alpine:3",
        "d": "alpine:3",
        "w": "n/a",
        "e": "alpine:3",
        "f": "alpine:3",
        "l": "n/a",
        "g": "own:1",
        "h": "alpine:3",
        "j": "alpine:3",
    }


def test_untyped_default_does_not_touch_flowable_tasks() -> None:
    # `image` is no field of a parallel task: applying it there would make the flow invalid.
    spec = {
        "taskDefaults": [{"values": {"image": "alpine:3"}}],
        "tasks": [{"id": "p", "type": "parallel", "tasks": [shell("a")]}],
    }

    assert effective(spec)["tasks"][0]["tasks"][0]["image"] == "alpine:3"


def test_task_defaults_are_idempotent_across_a_round_trip() -> None:
    flow = parse_spec({"taskDefaults": [{"type": "shell", "values": {"timeout": "5m"}}], "tasks": [shell("a")]})

    assert parse_flow(flow.to_wire()) == flow


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10s", timedelta(seconds=10)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("2d", timedelta(days=2)),
        ("1h0m5s", timedelta(hours=1, seconds=5)),
        ("0s", timedelta(0)),
        (" 5m ", timedelta(minutes=5)),
        ("PT10S", timedelta(seconds=10)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1D", timedelta(days=1)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("pt0.5s", timedelta(milliseconds=500)),
    ],
)
def test_duration_parses(text: str, expected: timedelta) -> None:
    assert to_timedelta(text) == expected


@pytest.mark.parametrize(
    "text", ["", "10", "soon", "10 s", "-5s", "1h-30m", "5min", "1e3s", "P", "PT", "P1DT", "P1H", "PT1D", "1w"]
)
def test_bad_duration_names_itself_and_gives_the_hint(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration") as caught:
        to_timedelta(text)

    assert str(caught.value) == f"{text!r} is not a duration; {DURATION_HINT}"


@pytest.mark.parametrize("text", ["99999999999d", "P99999999999D", "9" * 30 + "h"])
def test_duration_too_long_for_a_timedelta_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="too long a duration"):
        to_timedelta(text)


def test_bad_duration_in_a_flow_names_the_path_and_the_hint() -> None:
    problems = problems_of(flow_doc({"tasks": [shell("a", retry={"interval": "soon"})]}))

    assert problems == [f"spec.tasks[0].retry.interval: 'soon' is not a duration; {DURATION_HINT}"]


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(hours=1, seconds=3), "1h3s"),
        (timedelta(days=2), "48h"),
        (timedelta(seconds=-4), "0s"),
        (timedelta(milliseconds=1500), "1s"),
    ],
)
def test_format_duration_writes_it_as_kubernetes_does(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


# --- inputs ---------------------------------------------------------------------------------


def declare(**fields: Any) -> Input:
    return Input.model_validate({"id": "x", **fields})


@pytest.mark.parametrize(
    ("decl", "given", "expected"),
    [
        ({"type": "STRING"}, "abc", "abc"),
        ({"type": "STRING"}, 42, "42"),
        ({"type": "STRING", "pattern": "[a-z]+"}, "abc", "abc"),
        ({"type": "STRING", "min": 2, "max": 3}, "abc", "abc"),
        ({"type": "INT"}, "42", 42),
        ({"type": "INT"}, " -7 ", -7),
        ({"type": "INT"}, 3.0, 3),
        ({"type": "INT", "min": 1, "max": 10}, 10, 10),
        ({"type": "FLOAT"}, "0.5", 0.5),
        ({"type": "FLOAT"}, 2, 2.0),
        ({"type": "FLOAT", "max": 1}, 1, 1.0),
        ({"type": "BOOLEAN"}, True, True),
        ({"type": "BOOLEAN"}, "yes", True),
        ({"type": "BOOLEAN"}, "Off", False),
        ({"type": "BOOLEAN"}, "0", False),
        ({"type": "SELECT", "values": ["a", "b"]}, "b", "b"),
        ({"type": "DATE"}, "2026-01-31", "2026-01-31"),
        ({"type": "DATETIME"}, "2026-01-31T02:00:00Z", "2026-01-31T02:00:00+00:00"),
        ({"type": "DATETIME"}, "2026-01-31T02:00:00+01:00", "2026-01-31T02:00:00+01:00"),
        ({"type": "DURATION"}, "1h30m", "1h30m"),
        ({"type": "DURATION"}, "PT5M", "PT5M"),
        ({"type": "JSON"}, '{"a": [1, 2]}', {"a": [1, 2]}),
        ({"type": "JSON"}, {"a": 1}, {"a": 1}),
        ({"type": "ARRAY", "itemType": "INT"}, [1, "2"], [1, 2]),
        ({"type": "ARRAY", "itemType": "INT"}, "[1, 2]", [1, 2]),
        ({"type": "ARRAY", "itemType": "STRING"}, ["a", 1], ["a", "1"]),
        ({"type": "ARRAY", "itemType": "DATE"}, ["2026-01-31"], ["2026-01-31"]),
        ({"type": "ARRAY", "itemType": "BOOLEAN"}, [], []),
        ({"type": "FILE"}, "s3://overture/ns/ex/inputs/data/a.csv", "s3://overture/ns/ex/inputs/data/a.csv"),
        ({"type": "FILE"}, "https://example.com/a.csv", "https://example.com/a.csv"),  # a webhook's URL
    ],
)
def test_coerce_accepts(decl: dict[str, Any], given: Any, expected: Any) -> None:
    values, problems = coerce_inputs((declare(**decl),), {"x": given})

    assert problems == []
    assert values == {"x": expected}
    assert type(values["x"]) is type(expected)


@pytest.mark.parametrize(
    ("decl", "given", "reason"),
    [
        ({"type": "STRING"}, {"a": 1}, "expected a string"),
        ({"type": "STRING", "pattern": "[a-z]+"}, "ab1", "'ab1' does not match the pattern '[a-z]+'"),
        ({"type": "STRING", "max": 2}, "abc", "length 3 is above the maximum 2"),
        ({"type": "STRING", "min": 4}, "abc", "length 3 is below the minimum 4"),
        ({"type": "INT"}, "4.5", "expected an integer, e.g. 42"),
        ({"type": "INT"}, 4.5, "expected an integer, e.g. 42"),
        ({"type": "INT"}, True, "expected an integer"),
        ({"type": "INT", "min": 1}, 0, "value 0 is below the minimum 1"),
        ({"type": "INT", "max": 10}, 11, "value 11 is above the maximum 10"),
        ({"type": "INT", "max": 10}, 10**400, "the number is too large"),
        ({"type": "FLOAT"}, "half", "expected a number, e.g. 0.5"),
        ({"type": "FLOAT"}, False, "expected a number"),
        ({"type": "FLOAT", "min": 0.5}, 0.25, "value 0.25 is below the minimum 0.5"),
        ({"type": "BOOLEAN"}, "maybe", "expected true or false"),
        ({"type": "BOOLEAN"}, 1, "expected true or false"),
        ({"type": "SELECT", "values": ["a", "b"]}, "c", "'c' is not one of a, b"),
        ({"type": "DATE"}, "31/01/2026", "expected a date as YYYY-MM-DD"),
        ({"type": "DATETIME"}, "2026-01-31T02:00:00", "expected a date-time with a time zone"),
        ({"type": "DATETIME"}, "tomorrow", "expected a date-time as RFC 3339"),
        ({"type": "DURATION"}, "soon", "'soon' is not a duration"),
        ({"type": "JSON"}, "{a: 1}", "expected JSON: Expecting property name"),
        ({"type": "ARRAY", "itemType": "INT"}, "1,2", "expected a list, e.g. [1, 2] or a JSON array"),
        ({"type": "ARRAY", "itemType": "INT"}, {"a": 1}, "expected a list, e.g. [1, 2] or a JSON array"),
        ({"type": "ARRAY", "itemType": "INT"}, [1, "two"], "item [1]: expected an integer, e.g. 42"),
        ({"type": "FILE"}, "@local.csv", "expected a file: s3://<bucket>/<key> or an http(s) URL"),
        ({"type": "FILE"}, "/etc/passwd", "expected a file: s3://<bucket>/<key> or an http(s) URL"),
    ],
)
def test_coerce_rejects_naming_the_input(decl: dict[str, Any], given: Any, reason: str) -> None:
    values, problems = coerce_inputs((declare(**decl),), {"x": given}, path="spec.inputs")

    assert values == {}
    assert len(problems) == 1
    assert problems[0].startswith(f"spec.inputs.x: {reason}")
    assert problems[0].endswith(f"({decl['type']} input)")


@pytest.mark.parametrize(
    ("decl", "given", "values", "problems"),
    [
        ({"required": True}, {}, {}, ["spec.inputs.x: required STRING input is missing; give a value"]),
        ({"required": True}, {"x": None}, {}, ["spec.inputs.x: required STRING input is missing; give a value"]),
        ({"required": False}, {}, {"x": None}, []),
        ({"type": "INT", "default": "5"}, {}, {"x": 5}, []),
        ({"type": "INT", "default": 5}, {"x": 6}, {"x": 6}, []),
        ({"type": "SELECT", "values": ["a", "b"], "default": "b"}, {}, {"x": "b"}, []),
        ({"type": "ARRAY", "itemType": "INT", "default": [1]}, {}, {"x": [1]}, []),
    ],
)
def test_required_and_default(
    decl: dict[str, Any], given: dict[str, Any], values: dict[str, Any], problems: list[str]
) -> None:
    assert coerce_inputs((declare(**decl),), given) == (values, problems)


def test_unknown_inputs_are_named_with_the_declared_ones() -> None:
    declared = (declare(required=False), Input(id="day", type=InputType.DATE, required=False))

    _, problems = coerce_inputs(declared, {"dya": "2026-01-01", "zz": 1}, path="spec.inputs")

    assert problems == [
        "spec.inputs.dya: the flow declares no such input (inputs: day, x)",
        "spec.inputs.zz: the flow declares no such input (inputs: day, x)",
    ]


def test_all_input_problems_come_at_once() -> None:
    declared = (declare(type="INT"), Input(id="mode", type=InputType.SELECT, values=("a",)))

    _, problems = coerce_inputs(declared, {"x": "many", "mode": "b", "other": 1})

    assert len(problems) == 3


@pytest.mark.parametrize(
    ("decl", "message"),
    [
        ({"type": "SELECT"}, "a SELECT input needs 'values'"),
        ({"type": "SELECT", "values": []}, "a SELECT input needs 'values'"),
        ({"type": "ARRAY"}, "an ARRAY input needs 'itemType'"),
        ({"type": "ARRAY", "itemType": "SELECT"}, "itemType cannot be ARRAY or SELECT"),
        ({"pattern": "("}, "pattern '(' is not a regular expression"),
        ({"pattern": "a{1001}"}, "is not a regular expression: invalid repetition size"),
        ({"pattern": r"(a)\1"}, "patterns use RE2 syntax: no backreferences or lookaround"),
        ({"pattern": "(?<=a)b"}, "invalid perl operator"),
        ({"type": "INT", "min": 2, "max": 1}, "min (2.0) is greater than max (1.0)"),
        ({"type": "INT", "default": "x"}, "default: expected an integer"),
        ({"type": "DATE", "default": "2026-13-01"}, "default: expected a date as YYYY-MM-DD"),
        ({"type": "STRING", "pattern": "[0-9]+", "default": "abc"}, "default: 'abc' does not match"),
        ({"type": "DURATION", "default": "99999999999d"}, "default: '99999999999d' is too long a duration"),
    ],
)
def test_bad_input_declarations(decl: dict[str, Any], message: str) -> None:
    problems = problems_of(flow_doc({"inputs": [{"id": "x", **decl}], "tasks": [shell("a")]}))

    assert len(problems) == 1
    assert problems[0].startswith("spec.inputs[0]")
    assert message in problems[0]


# --- executions ---------------------------------------------------------------------------


def execution_doc(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": "etl-x7k2", "namespace": "data"},
        "spec": {"flowRef": {"name": "etl"}, **spec},
    }


def test_execution_minimal_gets_the_defaults() -> None:
    execution = parse_execution(execution_doc())

    assert execution.spec.flow_ref.name == "etl"
    assert execution.spec.trigger.type == TriggerKind.MANUAL
    assert (execution.spec.suspend, execution.spec.kill, execution.spec.restarts) == (False, False, 0)
    assert execution.status is None
    assert execution.to_wire() == execution_doc()


def test_execution_with_status_round_trips() -> None:
    doc = execution_doc(
        inputs={"day": "2026-01-31"},
        trigger={"type": "schedule", "id": "nightly", "date": "2026-01-31T02:00:00+01:00"},
        labels={"team": "data"},
        restarts=1,
        resumes=2,
        resumeInputs={"ok": True},
        replay={"execution": "etl-old", "fromTask": "load"},
    )
    flow_spec = complex_doc()["spec"]
    doc["status"] = {
        "observedGeneration": 3,
        "state": "RUNNING",
        "flowSpec": flow_spec,
        "conditions": [
            {
                "type": "Succeeded",
                "status": "Unknown",
                "reason": "Running",
                "lastTransitionTime": "2026-01-31T01:00:00Z",
            }
        ],
        "startDate": "2026-01-31T01:00:00Z",
        "taskRuns": [
            {
                "id": "extract",
                "taskId": "extract",
                "state": "SUCCESS",
                "attempts": [
                    {"attempt": 1, "job": "etl-x7k2-extract-1", "state": "FAILED", "exitCode": 3, "message": "boom"},
                    {"attempt": 2, "job": "etl-x7k2-extract-2", "state": "SUCCESS", "pod": "p", "exitCode": 0},
                ],
                "outputs": {"rows": 42},
            },
            {
                "id": "process.1",
                "taskId": "process",
                "state": "RETRYING",
                "parent": "per-file",
                "iteration": 1,
                "value": "b.csv",
            },
        ],
    }

    execution = parse_execution(doc)

    assert execution.status is not None
    assert execution.status.state == State.RUNNING
    assert execution.status.flow_spec == parse_flow(complex_doc()).spec
    assert execution.status.task_runs[0].attempts[0].exit_code == 3
    assert execution.status.task_runs[1].value == "b.csv"
    assert execution.spec.trigger.type == TriggerKind.SCHEDULE
    assert parse_execution(execution.to_wire()) == execution


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"spec": {}}, "spec.flowRef: required field is missing"),
        ({"spec": {"flowRef": {"name": "etl"}, "restarts": -1}}, "spec.restarts: -1: input should be greater than"),
        ({"spec": {"flowRef": {"name": "etl"}, "trigger": {"type": "cron"}}}, 'spec.trigger.type: "cron"'),
        ({"spec": {"flowRef": {"name": "etl"}, "flowref": {}}}, "spec.flowref: unknown field; did you mean 'flowRef'?"),
        ({"spec": {"flowRef": {"name": "etl"}, "kill": "now"}}, 'spec.kill: "now" is not true or false'),
        ({"status": {"state": "DONE"}}, 'status.state: "DONE"'),
        ({"kind": "Flow"}, 'kind: "Flow" is not Execution'),
    ],
)
def test_bad_execution(change: dict[str, Any], expected: str) -> None:
    doc = {**execution_doc(), **copy.deepcopy(change)}

    assert any(expected in p for p in problems_of(doc, parse_execution)), problems_of(doc, parse_execution)


def test_task_run_and_execution_are_frozen_values() -> None:
    run = TaskRun(id="a", task_id="a", state=State.RUNNING)

    done = run.model_copy(update={"state": State.SUCCESS})

    assert (run.state, done.state) == (State.RUNNING, State.SUCCESS)
    assert isinstance(parse_execution(execution_doc()), Execution)


# --- conditions and states ------------------------------------------------------------------


def test_with_condition_keeps_transition_time_when_status_is_unchanged() -> None:
    t0, t1, t2, t3 = (datetime(2026, 1, 1, 12, 0, second, tzinfo=UTC) for second in range(4))
    ready = Condition(type="Ready", status=ConditionStatus.TRUE, reason="Valid", last_transition_time=t1)
    other = Condition(type="Other", status=ConditionStatus.FALSE, reason="X", last_transition_time=t0)

    same = with_condition((other, ready), ready.model_copy(update={"last_transition_time": t2, "message": "m"}))
    flipped = with_condition(
        same, ready.model_copy(update={"status": ConditionStatus.FALSE, "last_transition_time": t3})
    )

    assert [c.type for c in same] == ["Other", "Ready"]
    assert (same[1].last_transition_time, same[1].message) == (t1, "m")
    assert flipped[1].last_transition_time == t3
    assert find_condition(flipped, "Ready") == flipped[1]
    assert find_condition(flipped, "Missing") is None
    assert with_condition((), ready) == (ready,)


@pytest.mark.parametrize(
    ("state", "terminal", "successful"),
    [
        (State.RUNNING, False, False),
        (State.RETRYING, False, False),
        (State.SUCCESS, True, True),
        (State.WARNING, True, True),
        (State.SKIPPED, True, True),
        (State.FAILED, True, False),
        (State.KILLED, True, False),
        (State.KILLING, False, False),
    ],
)
def test_state_predicates(state: State, terminal: bool, successful: bool) -> None:
    assert (state.is_terminal, state.is_successful) == (terminal, successful)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {**flow_doc({"tasks": [shell("a")]}), "id": "k"},
            "id: unknown field; a Flow's id is its metadata.name",
        ),
        (
            flow_doc({"tasks": [shell("a", retry={"type": "exponential"})]}),
            "spec.tasks[0].retry.type: unknown field; the kind of retry is 'backoff' here: backoff: constant, "
            "exponential or random",
        ),
        (
            flow_doc({"tasks": [{"id": "e", "type": "each", "items": [1], "values": [1], "tasks": [shell("b")]}]}),
            "spec.tasks[0].values: unknown field; the list to iterate is 'items' here",
        ),
        (
            flow_doc({"inputs": [{"id": "x", "type": "STRING", "defaults": "a"}], "tasks": [shell("a")]}),
            "spec.inputs[0].defaults: unknown field; use default",
        ),
    ],
)
def test_kestra_habits_get_the_overture_spelling(doc: dict[str, Any], expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_flow(doc)
    assert caught.value.problems == [expected]


def test_published_outputs_are_the_flow_outputs_when_declared() -> None:
    runs = [{"id": "a", "taskId": "a", "outputs": {"x": 1}}, {"id": "e[0]", "taskId": "e", "outputs": {"y": 2}}]
    assert published_outputs({"taskRuns": runs}) == {"a": {"x": 1}}
    assert published_outputs({"taskRuns": runs, "outputs": {"rows": 3}}) == {"rows": 3}
