"""Templates run on a CPU budget, and str.format is refused (issue 14)."""

from __future__ import annotations

import importlib.metadata
import time

import pytest

from overture.templating import TemplateError, cpu_budget, render

LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
BOMBS = {
    "nested loops": LOOPS,
    "a loop of filters": "{% for i in range(100000) %}{{ range(1000) | sum }}{% endfor %}" * 100,
    "a recursive loop": "{% for x in range(3) recursive %}{% if loop.depth < 40 %}{{ loop(range(3)) }}{% endif %}"
    "{% endfor %}",
    "a macro in a loop": "{% macro m() %}{% for i in range(100000) %}{% endfor %}{% endmacro %}"
    "{% for i in range(100000) %}{{ m() }}{% endfor %}",
}


@pytest.mark.parametrize("template", BOMBS.values(), ids=BOMBS.keys())
def test_a_template_past_its_cpu_budget_fails_naming_it(template: str) -> None:
    started = time.thread_time()
    with cpu_budget(0.2), pytest.raises(TemplateError, match=r"more than 0.2 s of CPU"):
        render(template, {})
    assert time.thread_time() - started < 2  # stopped near the budget, not after the loops


def test_a_spent_budget_fails_the_next_template_of_the_same_work_at_once() -> None:
    with cpu_budget(0.1):
        with pytest.raises(TemplateError, match="CPU"):
            render(LOOPS, {})
        with pytest.raises(TemplateError, match="CPU"):
            render("{{ 1 }}", {})
    assert render("{{ 1 }}", {}) == "1"  # a new piece of work has a new budget


def test_ordinary_templates_fit_the_default_budget() -> None:
    assert render("{% for i in range(1000) %}{{ i % 10 }}{% endfor %}", {}).startswith("0123456789")


@pytest.mark.parametrize(
    "template",
    [
        "{{ '{}-{}'.format(1, 2) }}",
        "{{ '{a}'.format_map({'a': 1}) }}",
        "{{ ('{0}' | attr('format'))(1) }}",
        "{{ '{0.__class__}'['format'](1) }}",
    ],
)
def test_str_format_is_refused(template: str) -> None:
    with pytest.raises(TemplateError, match=r"not allowed in a template: .*format"):
        render(template, {})


def test_the_printf_style_format_filter_stays() -> None:
    assert render("{{ '%s-%s' | format(1, 2) }} {{ 'a%sb' % 'x' }}", {}) == "1-2 axb"


def test_jinja2_is_at_least_the_release_that_closed_the_attr_format_escape() -> None:
    version = tuple(int(p) for p in importlib.metadata.version("jinja2").split(".")[:3])
    assert version >= (3, 1, 6)
    requirement = [r for r in importlib.metadata.requires("overture") or [] if r.lower().startswith("jinja2")]
    assert requirement == ["jinja2>=3.1.6"], requirement
