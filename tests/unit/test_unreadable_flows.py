"""A Flow the models cannot even read (found by tests/e2e/test_fuzz.py): a nested task whose ``type``
is a list makes ``taskDefaults`` merging raise TypeError instead of a SpecError.

Nested task lists are not checked by the CRD schema, so any user can store such a Flow. The
operator must then mark that Flow, not fail: before, its handler raised (no status, ever), and
every schedule pass and every flow trigger of every namespace raised with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from triggerdocs import flow_body, store_with

from overture.api import SpecError, parse_flow
from overture.reconciler import flow_status
from overture.triggers.flows import FlowCache

BROKEN_TASKS = [
    {"id": "outer", "type": "sequential", "tasks": [{"id": "inner", "type": ["shell"], "commands": ["true"]}]}
]
DEFAULTS = [{"values": {"timeout": "1m"}}]


def broken(name: str = "broken") -> dict[str, Any]:
    return flow_body(name, [], tasks=BROKEN_TASKS, taskDefaults=DEFAULTS)


def test_the_flow_is_marked_invalid() -> None:
    status, problems = flow_status(broken(), datetime(2026, 1, 1, tzinfo=UTC))
    assert problems
    assert status["conditions"][0]["status"] == "False"
    assert status["conditions"][0]["reason"] == "Invalid"


def test_triggers_skip_it_and_still_see_the_others() -> None:
    cache = FlowCache(store_with(broken(), flow_body("fine", [])))
    assert cache.get(("ns", "broken")) is None
    assert [body["metadata"]["name"] for body, _ in cache.items()] == ["fine"]


@pytest.mark.xfail(strict=True, raises=TypeError, reason="api/flow.py: task type assumed hashable (reported)")
def test_the_models_name_the_field() -> None:
    with pytest.raises(SpecError) as caught:
        parse_flow(broken())
    assert any("spec.tasks[0].tasks[0].type" in p for p in caught.value.problems)
