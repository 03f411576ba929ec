"""Sandboxed Jinja2 templates: rendering, errors, the sandbox, secrets, references, filters."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from overture.api.common import ENV_NAME_PATTERN
from overture.templating import (
    KNOWN_NAMES,
    SecretRefs,
    TemplateError,
    is_template,
    is_truthy,
    references,
    render,
    render_value,
    secret_env_name,
    syntax_problem,
)
from overture.templating.references import JINJA_GLOBALS
from overture.templating.sandbox import ENV

CONTEXT: dict[str, Any] = {
    "inputs": {"name": "world", "n": 3, "files": ["a.csv", "b.csv"], "flag": False},
    "outputs": {"extract": {"rows": 42}, "list-files": {"files": ["x", "y"]}, "empty": {}},
    "vars": {"bucket": "raw", "nested": {"k": "v"}},
    "trigger": {"date": "2026-01-31T02:00:00+01:00", "data": {"b": 2, "a": 1}},
    "execution": {"id": "etl-x7k2"},
    "taskrun": {"value": "a.csv", "iteration": 0, "attempt": 1},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain text, {not a template}", "plain text, {not a template}"),
        ("Hello, {{ inputs.name }}!", "Hello, world!"),
        ("{{ outputs.extract.rows * 2 }}", "84"),
        ("{{ outputs['list-files'].files | join(',') }}", "x,y"),
        ("{{ vars.bucket }}/{{ vars.nested.k }}", "raw/v"),
        ("{{ execution.id }}-{{ taskrun.iteration }}", "etl-x7k2-0"),
        ("{% for f in inputs.files %}{{ loop.index }}={{ f }} {% endfor %}", "1=a.csv 2=b.csv "),
        ("{% if inputs.n > 2 %}many{% else %}few{% endif %}", "many"),
        ("{% set total = inputs.n + 1 %}{{ total }}", "4"),
        ("{{ inputs.get('missing', 'default') }}", "default"),
        ("line one\n{{ inputs.name }}\n", "line one\nworld\n"),  # trailing newline kept: scripts end with one
        ("{{ inputs.flag }}", "False"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ nope }}", "undefined variable 'nope' in '{{ nope }}'"),
        ("{{ inputs.nmae }}", "undefined key 'nmae'"),
        ("{{ outputs.load.rows }}", "undefined key 'load'"),
        ("{{ outputs.empty.rows }}", "undefined key 'rows'"),
        ("{% if missing %}x{% endif %}", "undefined variable 'missing'"),
        ("{{ inputs.name ", "syntax error at line 1"),
        ("a\n{% for x in y %}", "syntax error at line 2"),
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
        ("{{ inputs.name | fromjson }}", "JSONDecodeError"),
        ("{{ 'x' | date }}", "ValueError: Invalid isoformat string"),
        ("{% if inputs.n is nottest %}{% endif %}", "No test named 'nottest' found."),  # Jinja checks it late
    ],
)
def test_render_errors_are_template_errors_naming_the_cause(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, CONTEXT)

    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ '{0.__class__}'.format(1) }}",
        "{{ range(10 ** 9) | list }}",
        "{{ inputs.files.append.__self__ }}",
    ],
)
def test_sandbox_blocks_python_internals(template: str) -> None:
    with pytest.raises(TemplateError, match=r"not allowed in a template|unsafe|Range too big"):
        render(template, CONTEXT)


@pytest.mark.parametrize(
    "template",
    ["{{ inputs.files.append('z') }}", "{{ outputs.extract.update({'rows': 0}) }}", "{{ vars.nested.pop('k') }}"],
)
def test_sandbox_blocks_changing_the_values_it_renders(template: str) -> None:
    # The context holds the execution's outputs: a template must not be able to edit them.
    context = {"inputs": {"files": ["a"]}, "outputs": {"extract": {"rows": 42}}, "vars": {"nested": {"k": "v"}}}

    with pytest.raises(TemplateError, match="not allowed in a template"):
        render(template, context)

    assert context == {"inputs": {"files": ["a"]}, "outputs": {"extract": {"rows": 42}}, "vars": {"nested": {"k": "v"}}}


def test_secret_renders_a_reference_and_records_it_without_the_value() -> None:
    refs = SecretRefs()

    rendered = render("psql -p {{ secret('db', 'password') }} -u {{ secret('db', 'user') }}", CONTEXT, refs)

    password, user = secret_env_name("db", "password"), secret_env_name("db", "user")
    assert rendered == f"psql -p $({password}) -u $({user})"
    assert refs.refs == {password: ("db", "password"), user: ("db", "user")}


def test_secret_refs_accumulate_across_renders_and_values() -> None:
    refs = SecretRefs()

    rendered = render_value({"a": ["{{ secret('s', 'k') }}", 1], "b": "{{ secret('t', 'k') }}"}, CONTEXT, refs)

    assert rendered == {"a": [f"$({secret_env_name('s', 'k')})", 1], "b": f"$({secret_env_name('t', 'k')})"}
    assert sorted(refs.refs.values()) == [("s", "k"), ("t", "k")]


@pytest.mark.parametrize(
    ("name", "key"),
    [("db", "password"), ("a-b", "c"), ("a", "b-c"), ("x" * 200, "k.with.dots"), ("ünï", "çødé")],
)
def test_secret_env_name_is_a_stable_valid_env_name(name: str, key: str) -> None:
    var = secret_env_name(name, key)

    assert re.fullmatch(ENV_NAME_PATTERN, var)
    assert var == secret_env_name(name, key)
    assert len(var) <= 64


def test_secret_env_names_differ_when_their_slugs_collide() -> None:
    assert secret_env_name("a-b", "c") != secret_env_name("a", "b-c")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("no template", set()),
        ("{{ outputs.extract.rows }}", {("outputs", "extract")}),
        ("{{ outputs['list-files'].files }}", {("outputs", "list-files")}),
        ('{{ outputs["a-b"]["c"] }}', {("outputs", "a-b")}),
        ("{{ inputs.day }} {{ vars.bucket }}", {("inputs", "day"), ("vars", "bucket")}),
        ("{{ inputs }}", {("inputs", None)}),
        ("{{ outputs[name] }}", {("outputs", None), ("name", None)}),
        ("{{ inputs.get('x') }}", {("inputs", None)}),
        (
            "{% for f in inputs.files %}{{ f.name }}{{ loop.index }}{% endfor %}",
            {("inputs", "files"), ("loop", "index")},
        ),
        ("{% set n = outputs.a.count %}{{ n.real }}", {("outputs", "a")}),
        ("{% macro m(x) %}{{ x.y }}{% endmacro %}{{ m(vars.v) }}", {("vars", "v")}),
        ("{{ outputs.load-data.rows }}", {("outputs", "load"), ("data", "rows")}),
        ("{{ secret('a', 'b') }}", {("secret", None)}),
        ("{% if trigger.date %}{{ trigger.date | date('%Y') }}{% endif %}", {("trigger", "date")}),
        ("{{ broken", set()),
    ],
)
def test_references(template: str, expected: set[tuple[str, str | None]]) -> None:
    assert references(template) == expected


def test_every_context_root_and_secret_are_known_names() -> None:
    for name in ("inputs", "outputs", "vars", "trigger", "execution", "taskrun", "secret", "loop", "range"):
        assert name in KNOWN_NAMES
    assert "input" not in KNOWN_NAMES


def test_the_globals_known_without_loading_jinja_are_the_sandbox_globals() -> None:
    assert frozenset(ENV.globals) == JINJA_GLOBALS


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("plain {text}", None),
        ("{{ inputs.x }}", None),
        ("{% raw %}{{ not parsed }}{% endraw %}", None),
        ("{{ inputs.x", "template syntax error at line 1: unexpected end of template"),
        ("{% if x %}", "template syntax error at line 1: Unexpected end of template"),
        ("ok\nok\n{{ a b }}", "template syntax error at line 3"),
        ("{{ x | nofilter }}", "template syntax error at line 1: No filter named 'nofilter'."),
        ("{{ x is nottest }}", "template syntax error at line 1: No test named 'nottest'."),
    ],
)
def test_syntax_problem(template: str, problem: str | None) -> None:
    found = syntax_problem(template)

    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("{{ v | json }}", {"v": {"b": [1, "x"], "a": None}}, '{"a": null, "b": [1, "x"]}'),
        ("{{ v | json }}", {"v": "text"}, '"text"'),
        ("{{ (v | fromjson).a[1] }}", {"v": '{"a": [1, 2]}'}, "2"),
        ("{{ (v | json | fromjson) == v }}", {"v": {"k": [1]}}, "True"),
        ("{{ v | date }}", {"v": "2026-01-31T02:00:00Z"}, "2026-01-31"),
        ("{{ v | date('%d/%m %H:%M') }}", {"v": "2026-01-31T02:05:00+01:00"}, "31/01 02:05"),
        ("{{ v | date('%Y') }}", {"v": date(2026, 1, 31)}, "2026"),
        ("{{ v | dateAdd(1) }}", {"v": "2026-01-31"}, "2026-02-01"),
        ("{{ v | dateAdd(-1) }}", {"v": date(2026, 3, 1)}, "2026-02-28"),
        ("{{ v | dateAdd(2, 'weeks') }}", {"v": "2026-01-31"}, "2026-02-14"),
        ("{{ v | dateAdd(-1) }}", {"v": "2026-01-31T02:00:00Z"}, "2026-01-30T02:00:00+00:00"),
        ("{{ v | dateAdd(90, 'minutes') }}", {"v": "2026-01-31T23:00:00+01:00"}, "2026-02-01T00:30:00+01:00"),
        ("{{ v | dateAdd(6, 'hours') }}", {"v": "2026-01-31"}, "2026-01-31T06:00:00"),
        ("{{ v | dateAdd(-1) | date('%Y%m%d') }}", {"v": "2026-03-01"}, "20260228"),
    ],
)
def test_filters(template: str, context: dict[str, Any], expected: str) -> None:
    assert render(template, context) == expected


def test_date_add_names_the_units_it_knows() -> None:
    with pytest.raises(TemplateError, match="dateAdd unit 'fortnights' is not one of weeks, days, hours"):
        render("{{ v | dateAdd(1, 'fortnights') }}", {"v": "2026-01-31"})


@pytest.mark.parametrize(
    ("rendered", "truthy"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("anything", True),
        ("[]", True),
        ("", False),
        ("   ", False),
        ("false", False),
        ("False", False),
        (" FALSE\n", False),
        ("0", False),
        ("no", False),
        ("off", False),
        ("None", False),
        ("null", False),
    ],
)
def test_is_truthy(rendered: str, truthy: bool) -> None:
    assert is_truthy(rendered) is truthy


@pytest.mark.parametrize(
    ("text", "expected"), [("a {{ b }}", True), ("{% if %}", True), ("a { b }", False), ("", False)]
)
def test_is_template(text: str, expected: bool) -> None:
    assert is_template(text) is expected


def test_render_value_renders_nested_strings_only() -> None:
    value = {"a": "{{ inputs.n }}", "b": [1, True, None, "{{ vars.bucket }}"], "c": ("{{ inputs.name }}",)}

    assert render_value(value, CONTEXT) == {"a": "3", "b": [1, True, None, "raw"], "c": ["world"]}
