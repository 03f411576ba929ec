"""Template tasks: the template object a task resolves to, its with: checked, its expansion.

Each template is a plain object body, as the operator's watch delivers it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from overture.api import ContainerTask, ExecutionStatus, SpecError, TemplateKind, parse_flow
from overture.api.task_template import parse_template_spec, spec_hash
from overture.template_tasks import Catalog, expand_flow, published_from
from overture.validation import read_flow, validate_flow

NS = "analytics"


def template_body(
    version: str = "1.0.0",
    name: str = "echo",
    kind: str = "TaskTemplate",
    namespace: str | None = NS,
    **spec: Any,
) -> dict[str, Any]:
    body_spec: dict[str, Any] = {
        "name": name,
        "version": version,
        "parameters": {
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "what to say"},
                "times": {"type": "integer", "default": 1, "minimum": 1, "maximum": 10},
                "loud": {"type": "boolean"},
            },
            "required": ["message"],
        },
        "outputs": [{"id": "said", "type": "string"}],
        "container": {
            "image": "busybox:1.36",
            "command": ["/bin/echo"],
            "args": ["--times={{ params.times }}", "{{ params.message }}"],
            "env": [{"name": "LOUD", "value": "{{params.loud}}"}],
            "resources": {"requests": {"cpu": "10m"}},
        },
        **spec,
    }
    meta: dict[str, Any] = {"name": f"{name}-{version.replace('.', '-')}"}
    if namespace is not None and kind == "TaskTemplate":
        meta["namespace"] = namespace
    return {"apiVersion": "overture.dev/v1alpha1", "kind": kind, "metadata": meta, "spec": body_spec}


def catalog(*bodies: dict[str, Any]) -> Catalog:
    return Catalog.from_bodies((TemplateKind(b["kind"]), b) for b in bodies)


def use(
    task_id: str, version: str = "^1", kind: str = "TaskTemplate", name: str = "echo", **fields: Any
) -> dict[str, Any]:
    return {"id": task_id, "type": "template", "template": {"name": name, "version": version, "kind": kind}, **fields}


def flow(*tasks: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "f", "namespace": NS},
        "spec": {"tasks": list(tasks), **spec},
    }


CATALOG = catalog(
    template_body("1.0.0"),
    template_body("1.2.0"),
    template_body("2.0.0"),
    template_body("1.0.0", name="report", kind="ClusterTaskTemplate"),
    template_body("1.0.0", name="other-ns", namespace="elsewhere"),
)


def problems(doc: dict[str, Any], templates: Catalog = CATALOG) -> list[str]:
    return validate_flow(parse_flow(doc), catalog=templates)


def test_a_flow_using_a_template_twice_is_valid() -> None:
    doc = flow(
        use("a") | {"with": {"message": "left", "times": 2}},
        use("b", dependsOn=["a"]) | {"with": {"message": "{{ outputs.a.said }}", "loud": True}},
    )
    assert problems(doc) == []


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (
            use("t") | {"with": {}},
            "spec.tasks[0].with.message: missing; TaskTemplate echo 1.2.0 requires it (string: what to say)",
        ),
        (
            use("t") | {"with": {"message": "hi", "times": "ten"}},
            'spec.tasks[0].with.times: "ten" is not an integer (TaskTemplate echo 1.2.0: times is integer)',
        ),
        (
            use("t") | {"with": {"message": "hi", "times": 11}},
            "spec.tasks[0].with.times: 11 is more than the maximum 10 (TaskTemplate echo 1.2.0: times is integer)",
        ),
        (
            use("t") | {"with": {"message": 3}},
            "spec.tasks[0].with.message: the number 3 is not a string (TaskTemplate echo 1.2.0: message is string)",
        ),
        (
            use("t") | {"with": {"message": "hi", "colour": "red"}},
            "spec.tasks[0].with.colour: TaskTemplate echo 1.2.0 has no parameter 'colour'"
            " (parameters: message, times, loud)",
        ),
        (
            use("t", version="^3") | {"with": {"message": "hi"}},
            "spec.tasks[0].template.version: TaskTemplate 'echo' has no version matching '^3'"
            " (published: 1.0.0, 1.2.0, 2.0.0)",
        ),
        (
            use("t", name="nope") | {"with": {"message": "hi"}},
            "spec.tasks[0].template.name: no TaskTemplate 'nope' in namespace 'analytics' (TaskTemplates there:"
            " echo); apply it, or set kind: ClusterTaskTemplate if it is a ClusterTaskTemplate",
        ),
        (
            use("t", name="other-ns") | {"with": {"message": "hi"}},  # another namespace's template is not seen
            "spec.tasks[0].template.name: no TaskTemplate 'other-ns' in namespace 'analytics' (TaskTemplates there:"
            " echo); apply it, or set kind: ClusterTaskTemplate if it is a ClusterTaskTemplate",
        ),
        (
            use("t", name="report") | {"with": {"message": "hi"}},
            "spec.tasks[0].template.name: no TaskTemplate 'report' in namespace 'analytics' (TaskTemplates there:"
            " echo); apply it, or set kind: ClusterTaskTemplate if it is a ClusterTaskTemplate",
        ),
    ],
)
def test_a_template_task_that_does_not_fit_names_the_field(task: dict[str, Any], expected: str) -> None:
    assert problems(flow(task)) == [expected]


def test_a_nested_template_task_is_checked_too() -> None:
    doc = flow({"id": "p", "type": "parallel", "tasks": [use("t") | {"with": {"message": True}}]})
    assert problems(doc) == [
        "spec.tasks[0].tasks[0].with.message: the boolean true is not a string; quote it if you meant the text "
        "(TaskTemplate echo 1.2.0: message is string)"
    ]


def test_a_cluster_template_is_found_from_any_namespace() -> None:
    doc = flow(use("t", name="report", kind="ClusterTaskTemplate") | {"with": {"message": "hi"}})
    assert problems(doc) == []


def test_without_templates_at_hand_template_tasks_are_not_checked() -> None:
    doc = flow(use("t", name="nope"))
    assert read_flow(doc).problems == ()
    assert read_flow(doc, catalog=Catalog()).problems != ()


def test_a_template_task_with_a_bad_range_is_refused_by_the_model() -> None:
    reading = read_flow(flow(use("t", version="latest")))
    assert reading.problems[0].startswith("spec.tasks[0].template.version: ")
    assert "is not a version" in reading.problems[0]


def test_an_invalid_template_object_is_named_when_picked() -> None:
    broken = template_body("1.3.0", container={"image": "x", "command": ["echo", "{{ params.message }}"]})
    doc = flow(use("t") | {"with": {"message": "hi"}})
    [problem] = problems(doc, catalog(template_body("1.2.0"), broken))
    assert problem.startswith("spec.tasks[0].template: TaskTemplate echo 1.3.0 (object echo-1-3-0) is invalid: ")
    assert "never in the command" in problem


def test_one_version_published_twice_is_ambiguous() -> None:
    twin = template_body("1.2.0")
    twin["metadata"]["name"] = "echo-again"
    doc = flow(use("t") | {"with": {"message": "hi"}})
    assert problems(doc, catalog(template_body("1.2.0"), twin)) == [
        "spec.tasks[0].template.version: TaskTemplate 'echo' 1.2.0 is published twice (objects echo-1-2-0,"
        " echo-again); delete one"
    ]


# --- expansion -------------------------------------------------------------------------------


def test_expansion_places_parameters_in_args_and_env_only() -> None:
    doc = flow(
        use("a", retry={"maxAttempts": 2}, timeout="1m") | {"with": {"message": "it's $(HOME) `x`; rm -rf /"}},
        use("b", dependsOn=["a"]) | {"with": {"message": "{{ outputs.a.said }}", "times": 3, "loud": False}},
    )
    spec, resolved = expand_flow(parse_flow(doc).spec, NS, CATALOG)
    a, b = spec.tasks
    assert isinstance(a, ContainerTask)
    assert isinstance(b, ContainerTask)
    assert a.image == "busybox:1.36"
    assert a.command == ("/bin/echo",)
    assert a.args == ("--times=1", "it's $(HOME) `x`; rm -rf /")  # the default, and the value as one argument
    assert [(v.name, v.value) for v in a.env] == [("LOUD", "")]  # optional, no default: empty
    assert a.retry is not None
    assert a.retry.max_attempts == 2
    assert a.timeout == "1m"
    assert b.args == ("--times=3", "{{ outputs.a.said }}")
    assert b.depends_on == ("a",)
    assert [(v.name, v.value) for v in b.env] == [("LOUD", "false")]
    assert a.resources is not None
    assert a.resources.requests == {"cpu": "10m"}
    assert [(r.task_id, r.kind, r.name, r.version, r.object_name) for r in resolved] == [
        ("a", TemplateKind.TASK_TEMPLATE, "echo", "1.2.0", "echo-1-2-0"),
        ("b", TemplateKind.TASK_TEMPLATE, "echo", "1.2.0", "echo-1-2-0"),
    ]
    assert resolved[0].spec_hash == spec_hash(template_body("1.2.0")["spec"])
    # the snapshot round-trips as an Execution's status
    status = ExecutionStatus(flow_spec=spec, templates=resolved)
    assert ExecutionStatus.model_validate(status.to_wire()) == status


def test_expansion_reaches_nested_lists_and_keeps_everything_else() -> None:
    doc = flow(
        {"id": "s", "type": "shell", "commands": ["true"]},
        {"id": "i", "type": "if", "condition": "yes", "then": [use("t") | {"with": {"message": "x"}}]},
        errors=[use("e", name="report", kind="ClusterTaskTemplate") | {"with": {"message": "failed"}}],
        taskDefaults=[{"values": {"image": "alpine:3"}}],
    )
    spec, resolved = expand_flow(parse_flow(doc).spec, NS, CATALOG)
    then = spec.tasks[1].groups()[0].tasks[0]
    assert isinstance(then, ContainerTask)
    assert then.image == "busybox:1.36"
    assert isinstance(spec.errors[0], ContainerTask)
    assert spec.tasks[0].image == "alpine:3"  # type: ignore[union-attr]
    assert spec.task_defaults == ()  # merged already: not merged again into the template's tasks
    assert [r.task_id for r in resolved] == ["t", "e"]


def test_a_flow_without_template_tasks_is_not_rewritten() -> None:
    spec = parse_flow(flow({"id": "s", "type": "shell", "commands": ["true"]})).spec
    assert expand_flow(spec, NS, Catalog()) == (spec, ())


def test_expansion_fails_with_every_problem_when_the_templates_changed() -> None:
    doc = flow(use("a") | {"with": {"message": "hi"}}, use("b", version="^9") | {"with": {"message": "hi"}})
    with pytest.raises(SpecError) as caught:
        expand_flow(parse_flow(doc).spec, NS, CATALOG)
    assert caught.value.problems == [
        "spec.tasks[1].template.version: TaskTemplate 'echo' has no version matching '^9'"
        " (published: 1.0.0, 1.2.0, 2.0.0)"
    ]


# --- the template object itself --------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        (
            {"image": "x", "command": ["sh", "-c"], "args": ["echo {{ params.message }}"]},
            "a shell reads these args, so a parameter here would become code",
        ),
        ({"image": "x", "args": ["{{ params.nope }}"]}, "reads params.nope, not a parameter"),
        ({"image": "x", "args": ["{{ execution.id }}"]}, "only {{ params.<name> }} is replaced"),
        ({"image": "x", "args": ["{{ params.message | upper }}"]}, "only {{ params.<name> }} is replaced"),
        ({"image": "x", "command": ["run-{{ params.message }}"]}, "never in the command"),
    ],
)
def test_a_template_places_parameters_only_where_they_stay_values(container: dict[str, Any], expected: str) -> None:
    spec = template_body()["spec"] | {"container": container}
    with pytest.raises(SpecError) as caught:
        parse_template_spec(spec)
    assert expected in caught.value.problems[0]


def test_a_shell_template_reads_parameters_from_env() -> None:
    container = {
        "image": "busybox:1.36",
        "command": ["sh", "-c", 'echo "$MESSAGE"'],
        "env": [{"name": "MESSAGE", "value": "{{ params.message }}"}],
    }
    parse_template_spec(template_body()["spec"] | {"container": container})


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"properties": {"n": {"type": "integer", "default": "x"}}}, 'default: "x" is not an integer'),
        ({"properties": {"n": {"type": "string"}}, "required": ["m"]}, "required: 'm' is not in properties"),
        ({"properties": {"bad-name": {"type": "string"}}}, "properties.bad-name: use letters, digits and '_'"),
        ({"properties": {"n": {"type": "string", "pattern": "(a)\\1"}}}, "RE2 syntax"),
        ({"properties": {"n": {"type": "date"}}}, "spec.parameters.properties.n.type"),
    ],
)
def test_a_bad_parameter_schema_names_the_field(parameters: dict[str, Any], expected: str) -> None:
    spec = template_body()["spec"] | {"parameters": parameters, "container": {"image": "x"}}
    with pytest.raises(SpecError) as caught:
        parse_template_spec(spec)
    assert expected in "; ".join(caught.value.problems)


def test_the_spec_hash_ignores_key_order_and_sees_every_change() -> None:
    spec = template_body()["spec"]
    reordered = dict(reversed(list(spec.items())))
    assert spec_hash(spec) == spec_hash(reordered)
    assert spec_hash(spec) != spec_hash(spec | {"description": "changed"})
    assert spec_hash(spec).startswith("sha256:")
    assert len(spec_hash(spec)) == 71


def test_an_object_is_read_even_when_invalid() -> None:
    body = template_body("not-a-version")
    item = published_from(TemplateKind.TASK_TEMPLATE, body)
    assert item.version is None
    assert item.spec is None
    assert item.problems


def test_the_example_template_and_flow_fit_together() -> None:
    root = Path(__file__).resolve().parents[3] / "examples"
    template = yaml.safe_load((root / "templates" / "echo.yaml").read_text())
    template["metadata"]["namespace"] = NS
    doc = yaml.safe_load((root / "19-task-templates.yaml").read_text())
    doc["metadata"]["namespace"] = NS
    templates = catalog(template)
    assert problems(doc, templates) == []
    spec, resolved = expand_flow(parse_flow(doc).spec, NS, templates)
    assert [t.args for t in spec.tasks] == [  # type: ignore[union-attr]
        ("A", "1"),
        ("B", "2"),
        ("C after {{ outputs.a.said }}", "1"),
        ("{{ outputs.b.said }} and {{ outputs.c.said }}", "1"),
    ]
    assert {r.version for r in resolved} == {"1.0.0"}


def test_reading_an_output_the_template_does_not_declare_names_it() -> None:
    doc = flow(
        use("a") | {"with": {"message": "x"}},
        {"id": "b", "type": "shell", "commands": ["echo {{ outputs.a.sayd }} {{ outputs['a']['said'] }}"]},
        {"id": "e", "type": "each", "items": ["x"], "tasks": [use("in-each") | {"with": {"message": "x"}}]},
        {"id": "c", "type": "shell", "commands": ["echo {{ outputs['in-each']['x'] }} {{ outputs.a.get('z') }}"]},
        outputs=[{"id": "n", "value": "{{ outputs.a.letters }}"}],
    )
    assert problems(doc) == [
        "spec.tasks[1].commands[0]: reads outputs.a.sayd, which TaskTemplate echo 1.2.0 does not declare"
        " (outputs: said)",
        "spec.outputs[0].value: reads outputs.a.letters, which TaskTemplate echo 1.2.0 does not declare"
        " (outputs: said)",
    ]
