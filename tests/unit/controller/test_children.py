"""A parent adopts only a child Execution it created (issue 14; the shape of Tekton's
CVE-2023-37264): one that someone pre-created under the child's name is a failed subflow."""

from __future__ import annotations

from typing import Any

import pytest

from overture.api import State, parse_execution
from overture.controller.executions import child_manifest
from overture.controller.observe import observe
from overture.engine import CreateExecution
from overture.kube.store import Store

PARENT = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Execution",
    "metadata": {"name": "main-1", "namespace": "ns", "uid": "p1", "resourceVersion": "1"},
    "spec": {"flowRef": {"name": "main"}},
    "status": {
        "state": "RUNNING",
        "taskRuns": [{"id": "sub", "taskId": "sub", "state": "RUNNING", "childExecution": "main-1-sub"}],
    },
}


def _child(owner_uid: str | None) -> dict[str, Any]:
    action = CreateExecution(name="main-1-sub", flow="other", inputs={}, task_run="sub")
    child = child_manifest(parse_execution(PARENT), action)
    if owner_uid is None:
        del child["metadata"]["ownerReferences"]
    else:
        child["metadata"]["ownerReferences"][0]["uid"] = owner_uid
    return {**child, "metadata": {**child["metadata"], "uid": "c1"}, "status": {"state": "SUCCESS"}}


@pytest.mark.parametrize("owner_uid", [None, "someone-else"])
def test_a_child_the_parent_did_not_create_is_a_failure_not_adopted(owner_uid: str | None) -> None:
    store = Store()
    store.put("execution", PARENT)
    store.put("execution", _child(owner_uid))
    child = observe(store, parse_execution(PARENT), {}).children["main-1-sub"]
    assert child.state == State.FAILED
    assert child.message is not None
    assert "was not created by execution main-1" in child.message


def test_the_parents_own_child_is_observed() -> None:
    store = Store()
    store.put("execution", PARENT)
    store.put("execution", _child("p1"))
    assert observe(store, parse_execution(PARENT), {}).children["main-1-sub"].state == State.SUCCESS
