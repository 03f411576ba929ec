"""Templates are rendered inside the operator (task commands, env values, runIf, each items...),
so a Flow author controls code that runs in it. The sandbox stops reaching Python internals and
huge ranges, but not a template that builds a huge value: ``{{ 'x' * 10**10 }}`` asks the
operator for 10 GB, ``{{ 'x'.ljust(10**9) }}`` for 1 GB, and nested loops can spin for hours in
the event loop. One tenant's Flow can so stall or OOM-kill the operator for every tenant.

Reported (templating.py: bound what a render may allocate and how long it may run, e.g. intercept
``*``/``**`` and padding widths, cap the output, or render in a worker process with limits).
Pinned here with a modest 10 MB so the test itself stays cheap. The e2e fuzz does not send these.
"""

from __future__ import annotations

import pytest

from overture.templating import TemplateError, render


@pytest.mark.xfail(strict=True, reason="templates may build values of any size (reported)")
@pytest.mark.parametrize(
    "template",
    ["{{ 'x' * 10485760 }}", "{{ 'x'.ljust(10485760) }}", "{{ 'x' | center(10485760) }}"],
    ids=["repeat", "ljust", "center"],
)
def test_a_template_cannot_build_a_huge_value(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, {})


def test_the_sandbox_already_stops_huge_ranges() -> None:
    with pytest.raises(TemplateError, match="Range too big"):
        render("{{ range(10**9) | list | length }}", {})
