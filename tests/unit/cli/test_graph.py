"""``overture graph``: the DAG of a flow as text, Mermaid and DOT, from the engine's ordering rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from overture.api import FlowSpec
from overture.cli import main
from overture.cli.graph import build_graph, render_dot, render_mermaid, render_text

ROOT = Path(__file__).resolve().parents[3]

NESTED = FlowSpec.model_validate(
    {
        "tasks": [
            {"id": "list", "type": "python", "script": "print(1)", "retry": {"maxAttempts": 3}},
            {
                "id": "fan",
                "type": "parallel",
                "tasks": [
                    {"id": "left", "type": "shell", "commands": ["echo"]},
                    {"id": "right", "type": "shell", "commands": ["echo"], "allowFailure": True},
                ],
            },
            {
                "id": "check",
                "type": "if",
                "condition": "{{ outputs.list.ok }}",
                "then": [{"id": "yes", "type": "shell", "commands": ["echo"]}],
                "else": [{"id": "no", "type": "fail"}],
            },
        ],
        "finally": [{"id": "cleanup", "type": "shell", "commands": ["echo"]}],
    }
)


def test_text_shows_the_dag_of_example_03() -> None:
    assert main(["graph", "-f", str(ROOT / "examples" / "03-dag.yaml")]) == 0


def test_dag_text(capsys: pytest.CaptureFixture[str]) -> None:
    main(["graph", "-f", str(ROOT / "examples" / "03-dag.yaml")])
    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == "flow dag"
    assert lines[1] == "tasks:"
    assert lines[2].split() == ["start", "shell"]
    assert lines[3].split() == ["orders", "shell", "after", "start"]
    assert lines[5].split() == ["report", "shell", "after", "orders,", "customers"]


def test_sequential_list_errors_and_finally_text() -> None:
    from overture.cli.common import flow_from_file, parse_flow_document

    doc = flow_from_file(ROOT / "examples" / "07-errors-finally-retries.yaml")
    text = render_text(build_graph("errors-finally-retries", parse_flow_document(doc, "07")))
    assert [line.split() for line in text.splitlines()] == [
        ["flow", "errors-finally-retries"],
        ["tasks:"],
        ["flaky", "shell", "[retry", "x3]"],
        ["always-fails", "shell", "[timeout", "1m]", "after", "flaky"],
        ["errors", "(on", "failure):"],
        ["alert", "shell"],
        ["finally", "(always):"],
        ["cleanup", "shell"],
    ]


def test_nested_text_indents_children_and_names_branches() -> None:
    text = render_text(build_graph("nested", NESTED))
    lines = text.splitlines()
    assert lines[2].split() == ["list", "python", "[retry", "x3]"]
    assert lines[3].split() == ["fan", "parallel", "(all", "at", "once)", "after", "list"]
    assert lines[4].startswith("    left")
    assert "after" not in lines[4]
    assert "allowFailure" in lines[5]
    assert lines[6].split()[:2] == ["check", "if"]
    assert [line.split() for line in lines[7:11]] == [["then:"], ["yes", "shell"], ["else:"], ["no", "fail"]]
    assert lines[8].startswith("      yes")  # under its branch


def test_children_of_a_flowable_inside_a_case_sit_under_it() -> None:
    spec = FlowSpec.model_validate(
        {
            "tasks": [
                {
                    "id": "pick",
                    "type": "switch",
                    "value": "x",
                    "cases": [
                        {
                            "value": "b",
                            "tasks": [
                                {"id": "inner", "type": "sequential", "tasks": [shell_task("b1"), shell_task("b2")]}
                            ],
                        }
                    ],
                    "defaults": [shell_task("d1")],
                },
                shell_task("after"),
            ]
        }
    )
    lines = [line.rstrip() for line in render_text(build_graph("sw", spec)).splitlines()[2:]]
    indents = [(len(line) - len(line.lstrip()), line.split()[0]) for line in lines]
    assert indents == [
        (2, "pick"),
        (4, "case"),
        (6, "inner"),
        (8, "b1"),
        (8, "b2"),
        (4, "default:"),
        (6, "d1"),
        (2, "after"),
    ]


def shell_task(task_id: str) -> dict[str, object]:
    return {"id": task_id, "type": "shell", "commands": ["echo"]}


def test_mermaid_edges() -> None:
    text = render_mermaid(build_graph("nested", NESTED))
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '  n1["list<br/>python [retry x3]"]' in lines
    assert '  n2{{"fan<br/>parallel (all at once)"}}' in lines  # flowable tasks are hexagons
    assert "  n1 --> n2" in lines
    assert "  n2 --> n3" in lines
    assert "  n2 --> n4" in lines
    assert "  n3 --> n4" not in lines
    assert "  n5 -->|then| n6" in lines
    assert "  n5 -->|else| n7" in lines
    assert '  subgraph finally["finally (always)"]' in lines
    assert "  n5 -. always .-> n8" in lines


def test_dot_is_a_digraph_with_clusters() -> None:
    text = render_dot(build_graph("nested", NESTED))
    assert text.startswith('digraph "nested" {')
    assert text.endswith("}")
    assert '  n1 [label="list\\npython [retry x3]"];' in text
    assert "  subgraph cluster_finally {" in text
    assert '  n5 -> n6 [label="then"];' in text
    assert '  n5 -> n8 [label="always", style="dashed"];' in text


@pytest.mark.parametrize("fmt", ["text", "mermaid", "dot"])
def test_every_example_renders(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        assert main(["graph", "-f", str(path), "--format", fmt]) == 0, path
    assert capsys.readouterr().out


def test_an_invalid_flow_file_names_its_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "kind: Flow\nmetadata: {name: bad}\nspec:\n  tasks:\n"
        "    - {id: a, type: shell, commands: [x], dependsOn: [b]}\n"
    )
    assert main(["graph", "-f", str(path)]) == 1
    err = capsys.readouterr().err
    assert "is invalid" in err
    assert "spec.tasks[0].dependsOn[0]" in err


def test_graph_needs_a_flow_or_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph"]) == 2
    assert "overture graph -f" in capsys.readouterr().err
