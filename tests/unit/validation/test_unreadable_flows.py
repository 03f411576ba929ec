"""A Flow the models cannot even read (found by tests/e2e/test_fuzz.py): a nested task whose ``type``
is a list made ``taskDefaults`` merging raise TypeError instead of a SpecError (the type was looked
up in a set); now it is a SpecError naming ``...type`` and saying a string is wanted.

Nested task lists are not checked by the CRD schema, so any user can store such a Flow. The
operator must then mark that Flow, not fail: before, its handler raised (no status, ever), and
every schedule pass and every flow trigger of every namespace raised with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from support.triggerdocs import flow_body, store_with

from overture.api import SpecError, parse_flow
from overture.controller.flows import flow_status
from overture.kube.flow_cache import FlowCache, read_body

BROKEN_TASKS = [
    {"id": "outer", "type": "sequential", "tasks": [{"id": "inner", "type": ["shell"], "commands": ["true"]}]}
]
DEFAULTS = [{"values": {"timeout": "1m"}}]


def broken(name: str = "broken") -> dict[str, Any]:
    return flow_body(name, [], tasks=BROKEN_TASKS, taskDefaults=DEFAULTS)


def test_the_flow_is_marked_invalid() -> None:
    status, problems = flow_status(broken(), datetime(2026, 1, 1, tzinfo=UTC), read_body(broken()))
    assert problems
    assert status["conditions"][0]["status"] == "False"
    assert status["conditions"][0]["reason"] == "Invalid"


def test_triggers_skip_it_and_still_see_the_others() -> None:
    cache = FlowCache(store_with(broken(), flow_body("fine", [])))
    assert cache.get(("ns", "broken")) is None
    assert [body["metadata"]["name"] for body, _ in cache.items()] == ["fine"]


@pytest.mark.parametrize(
    ("found", "written"),
    [
        (["shell"], "the list [shell]"),
        ({"shell": True}, "the mapping {shell: true}"),
        (None, "an empty value (null)"),
        (3, "the number 3"),
    ],
)
@pytest.mark.parametrize("defaults", [DEFAULTS, [{"type": "shell", "values": {"timeout": "1m"}}], []])
def test_the_models_name_the_field(found: Any, written: str, defaults: list[dict[str, Any]]) -> None:
    tasks = [{"id": "outer", "type": "sequential", "tasks": [{"id": "inner", "type": found, "commands": ["true"]}]}]
    with pytest.raises(SpecError) as caught:
        parse_flow(flow_body("broken", [], tasks=tasks, taskDefaults=defaults))
    assert caught.value.problems == [
        f"spec.tasks[0].tasks[0].type: {written} is not a string; use one of shell, python, container, parallel, "
        "sequential, each, if, switch, pause, subflow, fail, log, return, http, sql, notify, template"
    ]
