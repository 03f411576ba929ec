"""validate_flow: the checks beyond the schema, each problem named by its path, all at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support.flowdocs import complex_doc, flow_doc, parse_spec, shell

from overture.api import parse_flow
from overture.validation import cron_problem_of, is_timezone, read_flow, validate_flow

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


def problems(spec: dict[str, Any], **meta: Any) -> list[str]:
    return validate_flow(parse_spec(spec, **meta))


def group(task_id: str, kind: str, *children: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "type": kind, "tasks": list(children), **fields}


def schedule(trigger_id: str, cron: str, **fields: Any) -> dict[str, Any]:
    return {"id": trigger_id, "type": "schedule", "cron": cron, **fields}


def test_complex_valid_flow_has_no_problems() -> None:
    assert validate_flow(parse_flow(complex_doc())) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_have_no_problems(path: Path) -> None:
    assert validate_flow(parse_flow(yaml.safe_load(path.read_text()))) == []


# Each case: a spec (and metadata) and exactly the problems expected, in order.
CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    # --- ids
    (
        "duplicate ids",
        {"tasks": [shell("a"), shell("a")]},
        {},
        ["spec.tasks[1].id: 'a' is already the id of spec.tasks[0]; task ids must be unique"],
    ),
    (
        "duplicate across errors and finally",
        {"tasks": [shell("a")], "errors": [shell("a")], "finally": [shell("a")]},
        {},
        [
            "spec.errors[0].id: 'a' is already the id of spec.tasks[0]; task ids must be unique",
            "spec.finally[0].id: 'a' is already the id of spec.tasks[0]; task ids must be unique",
        ],
    ),
    (
        "duplicate inside nested flowables",
        {"tasks": [group("p", "parallel", shell("x"), group("s", "sequential", shell("x")))]},
        {},
        [
            "spec.tasks[0].tasks[1].tasks[0].id: 'x' is already the id of spec.tasks[0].tasks[0]; "
            "task ids must be unique"
        ],
    ),
    (
        "flowable id reused by a child",
        {"tasks": [group("p", "parallel", shell("p"))]},
        {},
        ["spec.tasks[0].tasks[0].id: 'p' is already the id of spec.tasks[0]; task ids must be unique"],
    ),
    (
        "ids colliding once '_' becomes '-'",
        {"tasks": [shell("load_data")], "finally": [shell("load-data")]},
        {},
        [
            "spec.finally[0].id: 'load-data' and 'load_data' (spec.tasks[0]) give the same object name "
            "'load-data'; rename one"
        ],
    ),
    # --- dependencies
    (
        "a diamond is no cycle",
        {
            "tasks": [
                shell("a"),
                shell("b", dependsOn=["a"]),
                shell("c", dependsOn=["a"]),
                shell("d", dependsOn=["b", "c"]),
            ]
        },
        {},
        [],
    ),
    ("the same dependency twice is no cycle", {"tasks": [shell("a"), shell("b", dependsOn=["a", "a"])]}, {}, []),
    ("a dependency on a later task is fine", {"tasks": [shell("b", dependsOn=["a"]), shell("a")]}, {}, []),
    (
        "self dependency",
        {"tasks": [shell("a", dependsOn=["a"])]},
        {},
        [
            "spec.tasks[0].dependsOn[0]: a task cannot depend on itself",
            "spec.tasks: dependsOn forms a cycle a -> a; remove one of these dependencies",
        ],
    ),
    (
        "cycle of two",
        {"tasks": [shell("a", dependsOn=["b"]), shell("b", dependsOn=["a"])]},
        {},
        ["spec.tasks: dependsOn forms a cycle a -> b -> a; remove one of these dependencies"],
    ),
    (
        "cycle of three behind an entry task",
        {
            "tasks": [
                shell("start"),
                shell("x", dependsOn=["start", "z"]),
                shell("y", dependsOn=["x"]),
                shell("z", dependsOn=["y"]),
            ]
        },
        {},
        ["spec.tasks: dependsOn forms a cycle x -> z -> y -> x; remove one of these dependencies"],
    ),
    (
        "cycle in errors",
        {"tasks": [shell("a")], "errors": [shell("e1", dependsOn=["e2"]), shell("e2", dependsOn=["e1"])]},
        {},
        ["spec.errors: dependsOn forms a cycle e1 -> e2 -> e1; remove one of these dependencies"],
    ),
    (
        "cycle in a switch case",
        {
            "tasks": [
                {
                    "id": "w",
                    "type": "switch",
                    "value": "v",
                    "cases": [{"value": "v", "tasks": [shell("m", dependsOn=["n"]), shell("n", dependsOn=["m"])]}],
                }
            ]
        },
        {},
        ["spec.tasks[0].cases[0].tasks: dependsOn forms a cycle m -> n -> m; remove one of these dependencies"],
    ),
    (
        "unknown dependency",
        {"tasks": [shell("a"), shell("b"), shell("c", dependsOn=["a", "bb"])]},
        {},
        ["spec.tasks[2].dependsOn[1]: no task 'bb' in this list (tasks here: a, b)"],
    ),
    (
        "dependency on a nested task",
        {"tasks": [group("g", "sequential", shell("inner")), shell("after", dependsOn=["inner"])]},
        {},
        ["spec.tasks[1].dependsOn[0]: 'inner' is not in the same task list; dependsOn names a sibling task"],
    ),
    (
        "nested task depending on a top-level one",
        {"tasks": [shell("top"), group("g", "parallel", shell("inner", dependsOn=["top"]))]},
        {},
        ["spec.tasks[1].tasks[0].dependsOn[0]: 'top' is not in the same task list; dependsOn names a sibling task"],
    ),
    (
        "errors task depending on a main task",
        {"tasks": [shell("a")], "errors": [shell("e", dependsOn=["a"])]},
        {},
        ["spec.errors[0].dependsOn[0]: 'a' is not in the same task list; dependsOn names a sibling task"],
    ),
    # --- templates
    (
        "unknown task in outputs",
        {"tasks": [shell("a"), shell("b", "echo {{ outputs.c.x }}")]},
        {},
        ["spec.tasks[1].commands[0]: reads outputs of 'c', but no task has that id (tasks: a, b)"],
    ),
    (
        "unknown input",
        {"inputs": [{"id": "day", "required": False}], "tasks": [shell("a", "echo {{ inputs.dya }}")]},
        {},
        ["spec.tasks[0].commands[0]: reads input 'dya', which is not declared in spec.inputs (inputs: day)"],
    ),
    (
        "unknown variable",
        {"variables": {"a": 1}, "tasks": [shell("t", "echo {{ vars.b }}")]},
        {},
        ["spec.tasks[0].commands[0]: reads variable 'b', which is not in spec.variables (variables: a)"],
    ),
    (
        "unknown root name",
        {"tasks": [shell("a", "echo {{ output.a.x }}")]},
        {},
        [
            "spec.tasks[0].commands[0]: reads 'output', which is not defined (names: error, execution, flow, inputs, "
            "labels, outputs, parents, taskrun, trigger, vars)"
        ],
    ),
    (
        "unknown key of a root whose keys are fixed (issue 17: passed validate, failed at run time)",
        {"tasks": [shell("a", "echo {{ taskrun.startTime }} {{ flow.id }} {{ execution['nme'] }} {{ flow.name }}")]},
        {},
        [
            "spec.tasks[0].commands[0]: reads execution.nme, which is not defined (execution has: duration, "
            "failures, flow, id, logicalDate, name, namespace, originalId, startDate, state)",
            "spec.tasks[0].commands[0]: reads flow.id, which is not defined (flow has: name, namespace); use flow.name",
            "spec.tasks[0].commands[0]: reads taskrun.startTime, which is not defined (taskrun has: attempt, id, "
            "iteration, startDate, value)",
        ],
    ),
    (
        "depends names a task that is not a sibling (issue 17)",
        {"tasks": [shell("a"), shell("b", depends="a.Failed || ghost")]},
        {},
        ["spec.tasks[1].depends: no task 'ghost' in this list (tasks here: a)"],
    ),
    (
        "a cycle through depends",
        {"tasks": [shell("a", depends="b.Done"), shell("b", dependsOn=["a"])]},
        {},
        ["spec.tasks: dependsOn forms a cycle a -> b -> a; remove one of these dependencies"],
    ),
    (
        "syntax error reported once, without reference checks",
        {"tasks": [shell("a", "echo {{ outputs.zz.x ")]},
        {},
        [
            "spec.tasks[0].commands[0]: template syntax error at line 1: unexpected end of template, "
            "expected 'end of print statement'."
        ],
    ),
    (
        "every templated field is checked",
        {
            "tasks": [
                {
                    "id": "c",
                    "type": "container",
                    "image": "i",
                    "command": ["{{ inputs.a }}"],
                    "args": ["{{ inputs.b }}"],
                },
                {"id": "p", "type": "python", "script": "{{ inputs.c }}", "runIf": "{{ inputs.d }}"},
                {"id": "f", "type": "fail", "message": "{{ inputs.e }}"},
                {
                    "id": "w",
                    "type": "switch",
                    "value": "{{ inputs.f }}",
                    "cases": [{"value": "x", "tasks": [shell("x")]}],
                },
                {"id": "i", "type": "if", "condition": "{{ inputs.g }}", "then": [shell("y")]},
                {"id": "l", "type": "each", "items": "{{ inputs.h }}", "tasks": [shell("z")]},
                {"id": "s", "type": "subflow", "flowRef": {"name": "o"}, "inputs": {"k": ["{{ inputs.i }}"]}},
                shell("e", env=[{"name": "V", "value": "{{ inputs.j }}"}]),
            ]
        },
        {},
        [
            f"spec.{where}: reads input '{name}', which is not declared in spec.inputs (inputs: none are declared)"
            for where, name in [
                ("tasks[0].command[0]", "a"),
                ("tasks[0].args[0]", "b"),
                ("tasks[1].runIf", "d"),
                ("tasks[1].script", "c"),
                ("tasks[2].message", "e"),
                ("tasks[3].value", "f"),
                ("tasks[4].condition", "g"),
                ("tasks[5].items", "h"),
                ("tasks[6].inputs.k[0]", "i"),
                ("tasks[7].env[0].value", "j"),
            ]
        ],
    ),
    (
        "templates that read only what exists",
        {
            "inputs": [{"id": "files", "type": "JSON", "required": False}],
            "variables": {"v": 1},
            "tasks": [
                shell("list-files"),
                shell(
                    "use",
                    "{% for f in inputs.files %}{{ f.name }} {{ loop.index }}{% endfor %}",
                    "{% set n = outputs['list-files'].count %}{{ n }} {{ inputs.get('other') }}",
                    "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(vars.v) }} {{ range(3) | list }}",
                    "{{ secret('db', 'pw') }} {{ trigger.date }} {{ execution.id }} {{ taskrun.attempt }}",
                    "{{ labels.team }} {{ flow.name }} {{ error.message }} {{ parents }}",
                ),
            ],
        },
        {},
        [],
    ),
    # --- triggers
    (
        "good schedules",
        {
            "tasks": [shell("a")],
            "triggers": [
                schedule("a", "*/5 * * * *"),
                schedule("b", "0 2 * * MON-FRI", timezone="America/Argentina/Buenos_Aires"),
                schedule("c", "@daily", timezone="Etc/GMT+5"),
                schedule("d", "0 0 29 2 *"),
            ],
        },
        {},
        [],
    ),
    (
        "bad cron and timezone on one trigger",
        {"tasks": [shell("a")], "triggers": [schedule("n", "0 2 * *", timezone="Europe/Pariss")]},
        {},
        [
            "spec.triggers[0].cron: '0 2 * *' has 4 fields, not 5; use 5 fields (\"0 2 * * *\") or @hourly, "
            "@daily, @weekly, @monthly, @yearly",
            "spec.triggers[0].timezone: 'Europe/Pariss' is not an IANA time zone; use e.g. UTC or Europe/Paris",
        ],
    ),
    (
        "duplicate and colliding trigger ids",
        {
            "tasks": [shell("a")],
            "triggers": [schedule("t_1", "@daily"), schedule("t_1", "@hourly"), schedule("t-1", "@daily")],
        },
        {},
        [
            "spec.triggers[1].id: 't_1' is used by another trigger; trigger ids must be unique",
            "spec.triggers[2].id: 't-1' and 't_1' give the same object name 't-1'; rename one",
        ],
    ),
    (
        "trigger inputs: undeclared name and a template reading an unknown input",
        {
            "inputs": [{"id": "day", "required": False}],
            "tasks": [shell("a")],
            "triggers": [schedule("n", "@daily", inputs={"day": "{{ inputs.dy }}", "hour": "{{ trigger.date }}"})],
        },
        {},
        [
            "spec.triggers[0].inputs.hour: the flow declares no such input (inputs: day)",
            "spec.triggers[0].inputs.day: reads input 'dy', which is not declared in spec.inputs (inputs: day)",
        ],
    ),
    # --- names
    ("a dotted flow name is a valid object name", {"tasks": [shell("a")]}, {"name": "etl.daily"}, []),
    (
        "flow name of 64 characters",
        {"tasks": [shell("a")]},
        {"name": "f" * 64},
        [
            f"metadata.name: '{'f' * 64}' is 64 characters; a flow name is a label value on its executions and "
            "Jobs, so use at most 63"
        ],
    ),
    (
        "flow name with uppercase",
        {"tasks": [shell("a")]},
        {"name": "Etl"},
        [
            "metadata.name: 'Etl' is not a valid object name; use lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        ],
    ),
    (
        "service account name",
        {"tasks": [shell("a")], "serviceAccountName": "bad name"},
        {},
        ["spec.serviceAccountName: 'bad name' is not a valid ServiceAccount name"],
    ),
    (
        "subflow in another namespace",
        {"tasks": [{"id": "s", "type": "subflow", "flowRef": {"name": "o", "namespace": "other"}}]},
        {"namespace": "data"},
        ["spec.tasks[0].flowRef.namespace: a subflow must be in the flow's own namespace ('data'), not 'other'"],
    ),
    (
        "subflow naming its own namespace",
        {"tasks": [{"id": "s", "type": "subflow", "flowRef": {"name": "o", "namespace": "data"}}]},
        {"namespace": "data"},
        [],
    ),
    (
        "flow without a namespace yet: the subflow's cannot be compared",
        {"tasks": [{"id": "s", "type": "subflow", "flowRef": {"name": "o", "namespace": "other"}}]},
        {"namespace": None},
        [],
    ),
    (
        "duplicate input",
        {
            "inputs": [{"id": "a", "required": False}, {"id": "a", "type": "INT", "required": False}],
            "tasks": [shell("t")],
        },
        {},
        ["spec.inputs[1].id: 'a' is declared twice"],
    ),
]


@pytest.mark.parametrize(("spec", "meta", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(spec: dict[str, Any], meta: dict[str, Any], expected: list[str]) -> None:
    assert problems(spec, **meta) == expected


def test_all_problems_are_reported_at_once() -> None:
    spec = {
        "tasks": [shell("a", dependsOn=["missing"]), shell("a"), shell("c", "echo {{ outputs.nope.x }}")],
        "triggers": [schedule("n", "61 * * * *")],
    }

    found = problems(spec)

    assert len(found) == 4
    assert [p.split(":", 1)[0] for p in found] == [
        "spec.tasks[1].id",
        "spec.tasks[0].dependsOn[0]",
        "spec.tasks[2].commands[0]",
        "spec.triggers[0].cron",
    ]


def test_a_flow_with_three_problems_gets_three_messages() -> None:
    spec = {"tasks": [shell("a", dependsOn=["b"]), shell("b", "echo {{ inputs.q }}", dependsOn=["a"])]}

    found = problems(spec, name="Bad_Name")

    assert len(found) == 3
    assert [p.split(":", 1)[0] for p in found] == ["metadata.name", "spec.tasks", "spec.tasks[1].commands[0]"]


def test_a_problem_is_reported_once_even_when_found_twice() -> None:
    # The same unknown input read twice in one command gives one message.
    found = problems({"tasks": [shell("a", "{{ inputs.q }} {{ inputs.q }}")]})

    assert len(found) == 1


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("0 2 * * *", None),
        (" 0 2 * * * ", None),
        ("@hourly", None),
        ("@midnight", None),
        ("@annually", None),
        ("0 2 L * *", None),
        ("@every 5m", "'@every 5m' is not a known alias"),
        ("@Daily", "'@Daily' is not a known alias"),
        ("", "'' has 0 fields, not 5"),
        ("0 2 * * * 2026", "'0 2 * * * 2026' has 6 fields, not 5"),
        ("0 25 * * *", "'0 25 * * *' is not a valid cron expression"),
        ("0 2 * * 8", "'0 2 * * 8' is not a valid cron expression"),
        ("0-70 2 * * *", "'0-70 2 * * *' is not a valid cron expression"),
        ("H 2 * * *", "'H 2 * * *' is not a valid cron expression"),
        ("0 0 30 2 *", "'0 0 30 2 *' never fires: no date matches it"),
    ],
)
def test_cron(cron: str, problem: str | None) -> None:
    found = cron_problem_of(cron)

    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)
        assert found.endswith('use 5 fields ("0 2 * * *") or @hourly, @daily, @weekly, @monthly, @yearly')


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("UTC", True),
        ("Europe/Paris", True),
        ("US/Pacific", True),
        ("Etc/GMT-14", True),
        ("utc", False),
        ("Paris", False),
        ("Europe", False),
        ("Europe/", False),
        ("../etc/passwd", False),
        ("", False),
        ("Europe/Paris ", False),
    ],
)
def test_timezone(name: str, valid: bool) -> None:
    assert is_timezone(name) is valid


@pytest.mark.parametrize("template", ["{" * 20_000, "{{ " + "(" * 5_000 + "1" + ")" * 5_000 + " }}"])
def test_a_template_too_deep_to_parse_is_a_problem_of_its_field(template: str) -> None:
    """jinja's parser recurses per bracket; found by tests/e2e/test_fuzz.py (soak): RecursionError escaped."""
    found = problems({"tasks": [shell("a", commands=[template])]})
    assert len(found) == 1
    assert found[0].startswith("spec.tasks[0].commands[0]: template nested too deeply"), found


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        (
            shell("b", depends="a.Failure"),
            "spec.tasks[1].depends: 'a.Failure' reads 'a.Failure'; 'Failure' is not a result, use Succeeded, Failed, "
            "Skipped, Done",
        ),
        (shell("b", depends="a &&"), "spec.tasks[1].depends: 'a &&' ends where a task id was expected"),
        (shell("b", depends="a", dependsOn=["a"]), "spec.tasks[1]: set dependsOn (with runWhen) or depends, not both"),
        (
            shell("b", dependsOn=["a"], runWhen="oneFailed"),
            "spec.tasks[1].runWhen: \"oneFailed\": input should be 'allSucceeded', 'allDone', 'anyFailed' or "
            "'noneFailed'",
        ),
        (
            shell("b", depends="a", runWhen="allDone"),
            "spec.tasks[1]: runWhen applies to dependsOn; a depends expression says when by itself",
        ),
    ],
)
def test_trigger_rules_that_cannot_be_read_name_the_field(task: dict[str, Any], problem: str) -> None:
    assert read_flow(flow_doc({"tasks": [shell("a"), task]})).problems == (problem,)


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        (
            {"id": "g", "type": "parallel", "tasks": [shell("x")], "retry": {"maxAttempts": 3}},
            "spec.tasks[1]: retry applies to shell, python, container and template tasks (each attempt a new pod)"
            " and to http, sql and notify tasks (each attempt a new call); a parallel task is never retried: "
            "remove retry, or put it on the tasks inside it",
        ),
        (
            {"id": "g", "type": "subflow", "flowRef": {"name": "child"}, "retry": {"maxAttempts": 3}},
            "spec.tasks[1]: retry applies to shell, python, container and template tasks (each attempt a new pod)"
            " and to http, sql and notify tasks (each attempt a new call); a subflow task is never retried: "
            "remove retry, or put it on the child flow's tasks",
        ),
        (
            shell("b", retry={"when": "{{ attempts.exitCode > 1 }}"}),
            "spec.tasks[1].retry.when: reads 'attempts', which is not defined (names: error, execution, flow, inputs, "
            "labels, outputs, parents, taskrun, trigger, vars)",
        ),
    ],
)
def test_retry_policies_that_cannot_apply_name_the_field(task: dict[str, Any], problem: str) -> None:
    assert read_flow(flow_doc({"tasks": [shell("a"), task]})).problems == (problem,)


def test_retry_when_reads_the_attempt() -> None:
    task = shell("b", retry={"when": "{{ attempt.exitCode in [1, 2] }}", "exitCodes": [1, 2], "warningOnRetry": True})
    assert read_flow(flow_doc({"tasks": [shell("a"), task]})).problems == ()


def test_flow_outputs_are_checked_like_any_template() -> None:
    outputs = [
        {"id": "rows", "value": "{{ outputs.lod.rows }}"},
        {"id": "rows", "value": {"nested": ["{{ inputs.nope }}"]}},
    ]
    assert read_flow(flow_doc({"tasks": [shell("load")], "outputs": outputs})).problems == (
        "spec.outputs[1].id: 'rows' is declared twice",
        "spec.outputs[0].value: reads outputs of 'lod', but no task has that id (tasks: load)",
        "spec.outputs[1].value.nested[0]: reads input 'nope', which is not declared in spec.inputs "
        "(inputs: none are declared)",
    )
