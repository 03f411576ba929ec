"""Trigger chains (issue 14): every Execution a trigger or a subflow starts carries the flows that
led to it, and a trigger whose flow is already in the chain, or whose chain is too long, does
not fire."""

from __future__ import annotations

from typing import Any

import pytest
from support.triggerdocs import execution_body

from overture.api import parse_execution
from overture.controller.executions import child_manifest
from overture.engine import CreateExecution
from overture.triggers.chain import (
    ANNOTATION,
    behind_object,
    chain_of,
    extended,
    followed_by,
    loop_problem,
    with_chain,
)


def run(flow: str, chain: str | None = None) -> dict[str, Any]:
    """An Execution of ``flow`` (as the cache holds it) with ``chain`` in its annotation."""
    return execution_body(f"{flow}-1", flow, chain)


def test_a_run_without_the_annotation_starts_a_chain() -> None:
    assert chain_of(run("a")) == ()
    assert extended([run("a")]) == ("ns/a",)


def test_the_chain_grows_by_the_upstream_flow_each_once() -> None:
    assert extended([run("b", "ns/a")]) == ("ns/a", "ns/b")
    assert extended([run("b", " ns/a , ,ns/x")]) == ("ns/a", "ns/x", "ns/b")  # blanks and spaces ignored
    assert extended([run("a", "ns/a")]) == ("ns/a",)
    # require: all -- every upstream's chain, then each upstream flow
    assert extended([run("b", "ns/a"), run("c", "ns/z")]) == ("ns/a", "ns/z", "ns/b", "ns/c")


@pytest.mark.parametrize(
    ("flow", "chain", "loops"),
    [
        ("b", ("ns/a",), None),  # a -> b: fine
        ("a", ("ns/a",), "ns/a -> ns/a"),  # a flow triggered by its own end
        ("a", ("ns/a", "ns/b"), "ns/a -> ns/b -> ns/a"),  # two flows that trigger each other
        ("b", ("ns/a", "ns/b", "ns/c"), "ns/b -> ns/c -> ns/b"),  # the loop is named from its start
        ("a", ("other/a",), None),  # another namespace's flow of the same name
    ],
)
def test_a_flow_already_in_the_chain_is_refused(flow: str, chain: tuple[str, ...], loops: str | None) -> None:
    problem = loop_problem("ns", flow, chain, limit=10)
    if loops is None:
        assert problem is None
    else:
        assert problem is not None
        assert f"the triggers loop ({loops})" in problem


def test_a_chain_longer_than_the_limit_is_refused() -> None:
    chain = tuple(f"ns/f{i}" for i in range(10))
    assert loop_problem("ns", "next", chain, limit=10) is None
    problem = loop_problem("ns", "next", (*chain, "ns/f10"), limit=10)
    assert problem is not None
    assert "11 flows triggered one another" in problem
    assert "OVERTURE_TRIGGER_CHAIN_LIMIT=10" in problem


def test_the_chain_is_written_as_an_annotation_and_read_back() -> None:
    manifest = with_chain({"metadata": {"name": "x", "annotations": {"keep": "me"}}}, ("ns/a", "ns/b"))
    assert manifest["metadata"]["annotations"] == {"keep": "me", ANNOTATION: "ns/a,ns/b"}
    assert chain_of(manifest) == ("ns/a", "ns/b")
    assert "annotations" not in with_chain({"metadata": {"name": "x"}}, ())["metadata"]


def test_objects_an_execution_made_lead_back_to_its_chain() -> None:
    executions = {("ns", "b-1"): run("b", "ns/a")}

    def find(namespace: str, name: str) -> dict[str, Any] | None:
        return executions.get((namespace, name))

    pod = {
        "kind": "Pod",
        "metadata": {"namespace": "ns", "labels": {"overture.dev/flow": "b", "overture.dev/execution": "b-1"}},
    }
    assert behind_object(pod, find) == ("ns/a", "ns/b")
    # an execution the cache does not hold (its label cut to 63 characters): its flow still counts
    gone = {
        "kind": "Job",
        "metadata": {"namespace": "ns", "labels": {"overture.dev/flow": "b", "overture.dev/execution": "b-x"}},
    }
    assert behind_object(gone, find) == ("ns/b",)
    assert behind_object(run("b", "ns/a"), find) == ("ns/a", "ns/b")  # an Execution itself
    assert behind_object({"kind": "ConfigMap", "metadata": {"namespace": "ns", "labels": {}}}, find) == ()


def test_a_subflow_child_carries_its_parents_chain() -> None:
    parent = {**run("main", "ns/up"), "status": {"state": "RUNNING"}}
    action = CreateExecution(name="main-1-sub", flow="child", inputs={}, task_run="sub")
    child = child_manifest(parse_execution(parent), action)
    assert chain_of(child) == ("ns/up", "ns/main")
    assert followed_by(("ns/up",), "ns", "up") == ("ns/up",)
