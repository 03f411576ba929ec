"""schemas/flow.json, the JSON schema editors read (``overture schema``): current, and it fits the examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from overture.crd import render_schema
from overture.validation import read_flow

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_FILE = ROOT / "schemas" / "flow.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
MODELINE = "# yaml-language-server: $schema=../schemas/flow.json"


def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text()))


def test_the_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == render_schema(), "schemas/flow.json is stale: run `make crds`"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_names_the_schema_and_fits_it(path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == MODELINE, f"{path.name}: the first line should be the modeline {MODELINE!r}"
    flows = [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict) and doc.get("kind") == "Flow"]
    assert flows
    for flow in flows:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(flow)]
        assert errors == []


def test_a_typo_in_a_task_is_an_error_an_editor_shows() -> None:
    flow: dict[str, Any] = {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "x"},
        "spec": {"tasks": [{"id": "a", "type": "shell", "comands": ["true"]}]},
    }
    messages = [e.message for e in validator().iter_errors(flow)]
    assert any("'comands' was unexpected" in m for m in messages), messages


NESTED = """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: nested}
spec:
  tasks:
    - id: fan
      type: each
      items: ["a", "b"]
      tasks:
        - id: both
          type: parallel
          tasks:
            - {id: one, type: shell, commands: ["echo {{ taskrun.value }}"]}
            - id: pick
              type: switch
              value: "{{ taskrun.value }}"
              cases:
                - value: a
                  tasks:
                    - id: steps
                      type: sequential
                      tasks: [{id: deep, type: python, script: "print(1)"}]
              defaults: [{id: other, type: log, message: "other"}]
              errors: [{id: alert, type: log, message: "failed"}]
  finally:
    - id: check
      type: if
      condition: "{{ true }}"
      then: [{id: done, type: log, message: "done"}]
"""


def _errors(flow: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(flow)]


def test_tasks_nested_in_flowables_fit_the_schema() -> None:
    flow = yaml.safe_load(NESTED)
    assert read_flow(flow).problems == ()  # the operator accepts it, so the editor must too
    assert _errors(flow) == []


@pytest.mark.parametrize(
    ("path", "typo"),
    [
        (["spec", "tasks", 0, "tasks", 0, "tasks", 0], {"comands": ["true"]}),
        (["spec", "tasks", 0, "tasks", 0, "tasks", 1, "cases", 0, "tasks", 0, "tasks", 0], {"scrpit": "x"}),
        (["spec", "tasks", 0, "tasks", 0, "tasks", 1, "errors", 0], {"mesage": "x"}),
        (["spec", "finally", 0, "then", 0], {"levle": "INFO"}),
    ],
)
def test_a_typo_in_a_nested_task_is_an_error_an_editor_shows(path: list[Any], typo: dict[str, Any]) -> None:
    flow = yaml.safe_load(NESTED)
    task = flow
    for step in path:
        task = task[step]
    task.update(typo)
    (key,) = typo
    assert any(f"'{key}' was unexpected" in m and m.startswith("/".join(map(str, path))) for m in _errors(flow)), (
        _errors(flow)
    )


def test_a_nested_task_of_an_unknown_type_is_an_error() -> None:
    flow = yaml.safe_load(NESTED)
    flow["spec"]["tasks"][0]["tasks"][0]["tasks"][0]["type"] = "shel"
    assert any(m.startswith("spec/tasks/0/tasks/0/tasks/0/type:") for m in _errors(flow)), _errors(flow)


def test_with_a_namespaces_templates_the_schema_describes_with() -> None:
    from overture.api import TemplateKind
    from overture.template_tasks import published_from

    template = yaml.safe_load((ROOT / "examples" / "templates" / "echo.yaml").read_text())
    cluster = {**template, "kind": "ClusterTaskTemplate", "spec": {**template["spec"], "name": "report"}}
    published = [
        published_from(TemplateKind.TASK_TEMPLATE, template),
        published_from(TemplateKind.CLUSTER_TASK_TEMPLATE, cluster),
    ]
    check = jsonschema.Draft7Validator(json.loads(render_schema(published)))
    flow = yaml.safe_load((ROOT / "examples" / "19-task-templates.yaml").read_text())
    assert list(check.iter_errors(flow)) == []

    def errors(task: dict[str, Any]) -> list[str]:
        doc = {**flow, "spec": {"tasks": [task]}}
        return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in check.iter_errors(doc))

    echo = {"id": "t", "type": "template", "template": {"name": "echo", "version": "^1"}}
    assert errors({**echo, "with": {"message": "hi", "repeat": "{{ outputs.a.letters }}"}}) == []
    assert errors({**echo, "with": {"mesage": "hi"}}) == [
        "spec/tasks/0/with: 'message' is a required property",
        "spec/tasks/0/with: Additional properties are not allowed ('mesage' was unexpected)",
    ]
    assert errors({**echo, "with": {"message": "hi", "repeat": "two"}})[0].startswith("spec/tasks/0/with/repeat: ")
    report = {"id": "r", "type": "template", "template": {"name": "report", "version": "1.0.0"}}
    assert errors({**report, "with": {}}) == []  # a TaskTemplate's rule does not apply: report is cluster-wide
    assert errors({**report, "template": {**report["template"], "kind": "ClusterTaskTemplate"}, "with": {}}) == [
        "spec/tasks/0/with: 'message' is a required property"
    ]


TEMPLATE_SCHEMA_FILE = ROOT / "schemas" / "tasktemplate.json"


def test_the_committed_template_schema_is_current_and_fits_the_example() -> None:
    from overture.crd import render_template_schema

    assert TEMPLATE_SCHEMA_FILE.read_text() == render_template_schema(), "schemas/tasktemplate.json: run `make crds`"
    text = (ROOT / "examples" / "templates" / "echo.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../../schemas/tasktemplate.json"
    check = jsonschema.Draft7Validator(json.loads(TEMPLATE_SCHEMA_FILE.read_text()))
    template = yaml.safe_load(text)
    assert list(check.iter_errors(template)) == []
    assert list(check.iter_errors({**template, "kind": "ClusterTaskTemplate"})) == []
    template["spec"]["container"]["imag"] = "x"
    template["spec"]["parameters"]["properties"]["message"]["type"] = "text"
    assert sorted(e.message for e in check.iter_errors(template)) == [
        "'text' is not one of ['string', 'integer', 'number', 'boolean', 'array', 'object']",
        "Additional properties are not allowed ('imag' was unexpected)",
    ]
