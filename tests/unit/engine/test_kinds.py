"""Each kind of task is said once: every task model has one engine kind, and the nested lists the
models declare (``groups()``) are the ones a raw document is read with (``CHILD_LIST_FIELDS``)."""

from __future__ import annotations

import re
from typing import get_args

from overture.api import TASK_MODELS, RunnableAnyTask, parse_flow
from overture.api.tasks import CHILD_LIST_FIELDS
from overture.engine.kinds import Runnable
from overture.engine.scope import KINDS, kind_of

FLOWABLES = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Flow",
    "metadata": {"name": "kinds"},
    "spec": {
        "tasks": [
            {
                "id": "p",
                "type": "parallel",
                "tasks": [{"id": "p1", "type": "shell", "commands": ["true"]}],
                "errors": [{"id": "p2", "type": "log", "message": "failed"}],
            },
            {"id": "s", "type": "sequential", "tasks": [{"id": "s1", "type": "python", "script": "pass"}]},
            {"id": "e", "type": "each", "items": [1], "tasks": [{"id": "e1", "type": "fail"}]},
            {"id": "i", "type": "if", "condition": "x", "then": [{"id": "i1", "type": "pause"}], "else": []},
            {
                "id": "w",
                "type": "switch",
                "value": "a",
                "cases": [{"value": "a", "tasks": [{"id": "w1", "type": "subflow", "flowRef": {"name": "f"}}]}],
                "defaults": [{"id": "w2", "type": "container", "image": "busybox"}],
            },
        ]
    },
}


def test_every_task_model_has_one_engine_kind() -> None:
    assert set(KINDS) == set(TASK_MODELS)
    assert {model for model, kind in KINDS.items() if isinstance(kind, Runnable)} == set(get_args(RunnableAnyTask))
    assert len({type(kind_of(task)) for task in parse_flow(FLOWABLES).spec.tasks}) == 5  # one kind each


def test_the_nested_lists_of_the_models_are_the_ones_documents_are_read_with() -> None:
    fields = set()
    for task in parse_flow(FLOWABLES).spec.tasks:
        for group in task.groups():
            fields.add(re.sub(r"^cases\[\d+\]\.", "", group.field))
    assert fields == set(CHILD_LIST_FIELDS)
