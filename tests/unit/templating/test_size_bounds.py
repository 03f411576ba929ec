"""Templates are rendered inside the operator (task commands, env values, runIf, each items...),
so a Flow author controls code that runs in it. The sandbox stops reaching Python internals and
huge ranges; it now also stops a template that builds a huge value: ``{{ 'x' * 10**10 }}`` asked
the operator for 10 GB, ``{{ 'x'.ljust(10**9) }}`` for 1 GB, so one tenant's Flow could stall or
OOM-kill the operator for every tenant. Every way of growing a value is checked against
``MAX_SIZE`` before it allocates: the bombs below ask for a terabyte, so a check that came after
the allocation would fail here with a MemoryError. Time is not bounded (loops that build nothing).
"""

from __future__ import annotations

import pytest

from overture.templating import MAX_SIZE, TemplateError, render

LIMIT = f"a template may build {MAX_SIZE:,}"
TB = 10**12
SHARED = "{% set a = ['x' * 100] * 1000 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}{% set c = [b, b, b, b, b] %}"


@pytest.mark.parametrize(
    "template",
    ["{{ 'x' * 10485760 }}", "{{ 'x'.ljust(10485760) }}", "{{ 'x' | center(10485760) }}"],
    ids=["repeat", "ljust", "center"],
)
def test_a_template_cannot_build_a_huge_value(template: str) -> None:
    with pytest.raises(TemplateError, match=LIMIT):
        render(template, {})


BOMBS = {
    "repeat a list": f"{{{{ ['x'] * {TB} }}}}",
    "repeat, the number first": f"{{{{ {TB} * 'x' }}}}",
    "power": "{{ 2 ** (10**12) }}",
    "square a number": "{% set ns = namespace(n=2) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
    "rjust": f"{{{{ 'x'.rjust({TB}) }}}}",
    "center method": f"{{{{ 'x'.center({TB}) }}}}",
    "zfill": f"{{{{ '1'.zfill({TB}) }}}}",
    "expandtabs": f"{{{{ ('\\t' * 1000).expandtabs({TB}) }}}}",
    "indent filter": f"{{{{ 'x' | indent({TB}, true) }}}}",
    "printf width": f"{{{{ '%{TB}s' % 'x' }}}}",
    "printf star width": f"{{{{ '%*s' % ({TB}, 'x') }}}}",
    "format filter": f"{{{{ '%{TB}s' | format('x') }}}}",
    "str.replace": "{{ ('x' * 1000).replace('', 'y' * 100000) }}",
    "str.join": "{{ ('y' * 300000).join(['x'] * 300000) }}",
    "str.translate": "{{ ('x' * 100000).translate({120: 'y' * 100000}) }}",
    "join filter": "{{ (['x'] * 300000) | join('y' * 300000) }}",
    "replace filter": "{{ ('x' * 1000) | replace('x', 'y' * 100000) }}",
    "wordwrap filter": "{{ ('x' * 100000) | wordwrap(1, true, 'y' * 100000) }}",
    "tojson indent": f"{{{{ [[[[1]]]] | tojson(indent={TB}) }}}}",
    "batch filter": f"{{{{ [1] | batch({TB}, 0) | list }}}}",
    "slice filter": f"{{{{ [1] | slice({TB}) | list }}}}",
    "lipsum": f"{{{{ lipsum({TB}) }}}}",
    "doubling with ~": "{% set x = 'x' %}" + "{% set x = x ~ x %}" * 40,
    "doubling with +": "{% set x = 'x' %}" + "{% set x = x + x %}" * 40,
    "doubling a namespace": "{% set ns = namespace(s='x') %}"
    "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "doubling in a macro": "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% endif %}{% endmacro %}"
    "{{ f('x', 40) }}",
    "a loop's output": "{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}",
    "a block's output": "{% set s %}{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}{% endset %}",
    "a macro's output": "{% macro m() %}{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}{% endmacro %}"
    "{{ m() }}",
    "a filter block": "{% filter upper %}{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}{% endfilter %}",
    "shared lists printed": SHARED + "{{ [c, c, c, c, c, c, c, c, c, c] }}",
    "shared lists joined": SHARED + "{{ [c, c, c, c, c, c, c, c, c, c] ~ '' }}",
    "shared lists to json": SHARED + "{{ [c, c, c, c, c, c, c, c, c, c] | json }}",
}


@pytest.mark.parametrize("template", BOMBS.values(), ids=BOMBS.keys())
def test_every_way_of_growing_a_value_is_bounded(template: str) -> None:
    with pytest.raises(TemplateError, match=LIMIT):
        render(template, {})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ ('x' * 1000) | length }}", "1000"),
        (f"{{{{ ('x' * {MAX_SIZE}) | length }}}}", str(MAX_SIZE)),
        ("{{ 2 ** 100 }}", str(2**100)),
        ("{{ 'ab'.ljust(4, '.') }}|{{ 'ab' | center(6) }}|{{ '7'.zfill(3) }}", "ab..|  ab  |007"),
        ("{{ '%5s|%-3d|%.2f' % ('x', 7, 1.5) }}", "    x|7  |1.50"),
        ("{{ 'a-b'.replace('-', '+') }} {{ ['a', 'b'] | join('/') }}", "a+b a/b"),
        ("{{ {'a': [1]} | tojson(indent=2) }}", '{\n  "a": [\n    1\n  ]\n}'),
        ("{{ 'x' ~ 1 ~ [2] }}{% for i in range(3) %}{{ i }}{% endfor %}", "x1[2]012"),
        ("{{ [[1], [2]] | sum(start=[]) }} {{ [1, 2, 3] | batch(2, 0) | list }}", "[1, 2] [[1, 2], [3, 0]]"),
        (
            "{{ 'a\nb' | indent(width=2, first=true) }}|{{ 'ab cd' | wordwrap(width=2, wrapstring='/') }}",
            "  a\n  b|ab/cd",
        ),
        (
            "{{ [1, 2, 3] | batch(linecount=2, fill_with=0) | list }}{{ [1, 2] | slice(slices=2) | list }}",
            "[[1, 2], [3, 0]][[1], [2]]",
        ),
        ("{{ [{'n': [1]}] | sum(attribute='n', start=[]) }}{{ ['a', 'b'] | join(d='-') }}", "[1]a-b"),
        ("{{ lipsum(1, html=false, min=1, max=3) | length > 0 }}{{ 'ab' | center(width=4) }}", "True ab "),
    ],
)
def test_ordinary_values_still_render(template: str, expected: str) -> None:
    assert render(template, {}) == expected


def test_the_sandbox_already_stops_huge_ranges() -> None:
    with pytest.raises(TemplateError, match="Range too big"):
        render("{{ range(10**9) | list | length }}", {})
