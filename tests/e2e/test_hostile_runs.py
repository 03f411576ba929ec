"""Triggers cannot loop, a parent adopts no stranger's child, a pod that cannot start says why
(issue 14, parts 1, 3, 6 and 7), on the local cluster with the tenants of tenancy.py.

Probes, each with what it did before the fix:

- a Pod resource trigger firing on its own flow's task pods made 132 executions in 40 s; now a
  flow never fires on what the operator made for it;
- two flows with flow triggers on each other's end ran one after the other without end (and two
  resource triggers on each other's Executions did, at the rate cap); now each Execution carries
  its chain of triggers (``overture.dev/trigger-chain``), the second start of a flow in one chain
  is refused and a ``TriggerLoop`` Warning on the Flow names the loop; a subflow's child carries
  its parent's chain, so a trigger on the child's end cannot start the parent's flow again;
- an Execution created ahead under the name a subflow task would give its child was adopted as
  the child (the shape of Tekton's CVE-2023-37264); now the parent's task fails naming it;
- tenant A's many template bombs (more than the tenant pool's threads) queued in front of tenant
  B's reconciles, which waited for all of them; now each namespace has its own queue, served in
  turn, and B's run takes about its usual time (the delay is printed);
- a pod refused at creation (here by a ResourceQuota) left the task waiting with no reason; now
  the attempt says ``FailedCreate`` and the quota.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from faults import alive
from harness import GROUP, VERSION, OperatorProcess, poll
from kubernetes import client
from tenancy import NOOP, HealthProbe, Tenant, Tenants, flow, helm, tenants

from overture.engine import child_execution_name

pytestmark = pytest.mark.e2e

__all__ = ["helm", "tenants"]  # fixtures

CHAIN = "overture.dev/trigger-chain"
# ~25 s of CPU in jinja's loops unbounded; the templates' CPU budget stops each after 2 s
BOMB = "{% for i in range(100000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}true"
BOMBS = 6  # more than the tenant pool's 4 threads
SHELL = [{"id": "t", "type": "shell", "commands": ["true"]}]


def _start(tenant: Tenant, name: str, flow_name: str) -> None:
    """The tenant creates an Execution of ``flow_name``, labelled and stamped with its user as
    ``overture run`` does."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Execution",
        "metadata": {"name": name, "labels": {"overture.dev/flow": flow_name}},
        "spec": {"flowRef": {"name": flow_name}, "requestedBy": tenant.user},
    }
    tenant.custom.create_namespaced_custom_object(GROUP, VERSION, tenant.namespace, "executions", body)


def _executions_of(tenant: Tenant, flow_name: str) -> list[dict[str, Any]]:
    found = tenant.admin.custom.list_namespaced_custom_object(GROUP, VERSION, tenant.namespace, "executions")
    return [e for e in found["items"] if e["spec"]["flowRef"]["name"] == flow_name]


def _ended(tenant: Tenant, name: str, timeout: float = 120) -> dict[str, Any]:
    return tenant.admin.wait_state(name, {"SUCCESS", "FAILED", "KILLED", "WARNING"}, timeout=timeout)


def _warning(tenant: Tenant, flow_name: str, reason: str, timeout: float = 60) -> str:
    def posted() -> str | None:
        events = [e for e in tenant.admin.events(flow_name) if e.reason == reason]
        return events[0].message if events else None

    return str(poll(posted, timeout, f"a {reason} Event on flow {flow_name}"))


def _stays(count: Callable[[], int], seconds: float) -> int:
    """``count()`` after ``seconds`` in which it never grew past its first value (else the value it grew to)."""
    first = count()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = count()
        if now != first:
            return now
        time.sleep(1)
    return first


def _flow_seen(tenant: Tenant, name: str) -> None:
    poll(lambda: (tenant.admin.get("flows", name).get("status") or {}).get("conditions"), 30, f"flow {name} judged")


def test_a_pod_trigger_on_its_own_task_pods_does_not_loop(tenants: Tenants) -> None:
    a = tenants.a
    on_pods = {"id": "on-pod", "type": "resource", "apiVersion": "v1", "kind": "Pod", "events": ["created"]}
    a.admin.apply_flow(flow("pod-watcher", SHELL, triggers=[on_pods]))  # the admin: tenants may not watch Pods
    _flow_seen(a, "pod-watcher")
    _start(a, "pod-watcher-1", "pod-watcher")
    assert _ended(a, "pod-watcher-1")["status"]["state"] == "SUCCESS"
    runs = _stays(lambda: len(_executions_of(a, "pod-watcher")), 20)
    a.admin.custom.delete_namespaced_custom_object(GROUP, VERSION, a.namespace, "flows", "pod-watcher")
    print(f"\n[hostile] a Pod trigger on its own task pods: {runs} execution(s) in 20 s after the first ended")
    assert runs == 1, [e["metadata"]["name"] for e in _executions_of(a, "pod-watcher")]


def test_two_flows_that_trigger_each_other_run_once_each(tenants: Tenants) -> None:
    a = tenants.a
    ping_after_pong = {"id": "after-pong", "type": "flow", "flows": [{"name": "pong"}]}
    pong_after_ping = {"id": "after-ping", "type": "flow", "flows": [{"name": "ping"}]}
    a.custom.create_namespaced_custom_object(
        GROUP, VERSION, a.namespace, "flows", flow("ping", NOOP, triggers=[ping_after_pong])
    )
    a.custom.create_namespaced_custom_object(
        GROUP, VERSION, a.namespace, "flows", flow("pong", NOOP, triggers=[pong_after_ping])
    )
    for name in ("ping", "pong"):
        _flow_seen(a, name)
    _start(a, "ping-1", "ping")
    message = _warning(a, "ping", "TriggerLoop")
    pongs = poll(lambda: _executions_of(a, "pong"), 30, "pong started by ping's end")
    counts = (_stays(lambda: len(_executions_of(a, "ping")), 10), len(_executions_of(a, "pong")))
    chain = (pongs[0]["metadata"].get("annotations") or {}).get(CHAIN)
    print(f"\n[hostile] ping <-> pong: {counts[0]} ping and {counts[1]} pong run(s); pong's chain {chain!r}; {message}")
    assert counts == (1, 1)
    assert chain == f"{a.namespace}/ping"
    assert f"{a.namespace}/ping -> {a.namespace}/pong -> {a.namespace}/ping" in message, message


def test_two_resource_triggers_on_each_others_executions_run_once_each(tenants: Tenants) -> None:
    b = tenants.b

    def on_runs_of(other: str) -> dict[str, Any]:
        return {
            "id": f"on-{other}",
            "type": "resource",
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Execution",
            "matchLabels": {"overture.dev/flow": other},
            "events": ["created"],
        }

    b.admin.apply_flow(flow("tick", NOOP, triggers=[on_runs_of("tock")]))
    b.admin.apply_flow(flow("tock", NOOP, triggers=[on_runs_of("tick")]))
    for name in ("tick", "tock"):
        _flow_seen(b, name)
    time.sleep(2)  # the Execution watch is started
    _start(b, "tick-1", "tick")
    message = _warning(b, "tick", "TriggerLoop")
    counts = (_stays(lambda: len(_executions_of(b, "tick")), 10), len(_executions_of(b, "tock")))
    print(f"\n[hostile] resource triggers tick <-> tock: {counts} runs; {message}")
    assert counts == (1, 1)
    assert f"{b.namespace}/tick -> {b.namespace}/tock -> {b.namespace}/tick" in message, message


def test_a_subflows_end_does_not_start_its_parents_flow_again(tenants: Tenants) -> None:
    """The child carries its parent's chain: a flow trigger on the child's end that names the
    parent's flow would otherwise start the parent, which starts a child, without end."""
    a = tenants.a
    create = a.custom.create_namespaced_custom_object
    again = {"id": "after-leaf", "type": "flow", "flows": [{"name": "leaf"}]}
    create(GROUP, VERSION, a.namespace, "flows", flow("leaf", NOOP))
    subflow = [{"id": "sub", "type": "subflow", "flowRef": {"name": "leaf"}}]
    create(GROUP, VERSION, a.namespace, "flows", flow("trunk", subflow, triggers=[again]))
    for name in ("leaf", "trunk"):
        _flow_seen(a, name)
    _start(a, "trunk-1", "trunk")
    assert _ended(a, "trunk-1")["status"]["state"] == "SUCCESS"
    message = _warning(a, "trunk", "TriggerLoop")
    (leaf,) = _executions_of(a, "leaf")
    counts = (_stays(lambda: len(_executions_of(a, "trunk")), 10), len(_executions_of(a, "leaf")))
    chain = (leaf["metadata"].get("annotations") or {}).get(CHAIN)
    print(
        f"\n[hostile] trunk -> subflow leaf -> trigger on leaf's end: {counts} runs; leaf's chain {chain!r}; {message}"
    )
    assert counts == (1, 1)
    assert chain == f"{a.namespace}/trunk"
    assert f"{a.namespace}/trunk -> {a.namespace}/leaf -> {a.namespace}/trunk" in message, message


def test_a_child_execution_created_ahead_is_not_adopted(tenants: Tenants) -> None:
    a = tenants.a
    create = a.custom.create_namespaced_custom_object
    create(GROUP, VERSION, a.namespace, "flows", flow("child", NOOP))
    create(
        GROUP,
        VERSION,
        a.namespace,
        "flows",
        flow("parent", [{"id": "sub", "type": "subflow", "flowRef": {"name": "child"}}]),
    )
    for name in ("child", "parent"):
        _flow_seen(a, name)
    forged = child_execution_name("parent-1", "sub")
    _start(a, forged, "child")
    assert _ended(a, forged)["status"]["state"] == "SUCCESS"  # a finished "child" with the outputs it chose
    _start(a, "parent-1", "parent")
    parent = _ended(a, "parent-1")
    (run,) = parent["status"]["taskRuns"]
    print(f"\n[hostile] a child created ahead as {forged}: parent {parent['status']['state']}; {run.get('message')}")
    assert parent["status"]["state"] == "FAILED", parent["status"]
    assert f"Execution {forged} exists but was not created by execution parent-1" in run["message"], run


def test_a_pod_refused_by_a_quota_says_why_in_its_attempt(tenants: Tenants) -> None:
    b = tenants.b
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="no-pods"), spec=client.V1ResourceQuotaSpec(hard={"pods": "0"})
    )
    b.admin.core.create_namespaced_resource_quota(b.namespace, quota)
    try:
        poll(
            lambda: (b.admin.core.read_namespaced_resource_quota("no-pods", b.namespace).status.hard or {}).get("pods"),
            30,
            "the quota counted",
        )
        b.custom.create_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", flow("quota", SHELL))
        _flow_seen(b, "quota")
        started = time.monotonic()
        _start(b, "quota-1", "quota")

        def reason() -> str | None:
            runs = (b.admin.get("executions", "quota-1").get("status") or {}).get("taskRuns") or []
            attempts = runs[0].get("attempts") or [] if runs else []
            message = (attempts[-1].get("message") or "") if attempts else ""
            return message if "FailedCreate" in message else None

        message = str(poll(reason, 90, "the FailedCreate reason in the task's attempt"))
        print(
            f"\n[hostile] a pod refused by a quota: after {time.monotonic() - started:.1f}s the attempt says "
            f"{message!r}"
        )
        assert "exceeded quota" in message and "no-pods" in message, message
        assert b.admin.state("quota-1") not in {"SUCCESS", "FAILED"}  # it waits: the quota may free up
    finally:
        b.admin.patch_spec("quota-1", {"kill": True})
        b.admin.core.delete_namespaced_resource_quota("no-pods", b.namespace)


def _timed_run(tenant: Tenant, flow_name: str) -> float:
    """Seconds from creating an execution of ``flow_name`` to seeing it SUCCESS."""
    name = f"{flow_name}-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    _start(tenant, name, flow_name)
    done = _ended(tenant, name)
    assert done["status"]["state"] == "SUCCESS", done["status"]
    return time.monotonic() - started


def test_many_template_bombs_in_one_namespace_do_not_hold_another(
    tenants: Tenants, operator_process: OperatorProcess
) -> None:
    a, b = tenants.a, tenants.b
    a.custom.create_namespaced_custom_object(
        GROUP, VERSION, a.namespace, "flows", flow("bombs", [{"id": "boom", "type": "shell", "commands": [BOMB]}])
    )
    b.custom.create_namespaced_custom_object(GROUP, VERSION, b.namespace, "flows", flow("quick"))
    _flow_seen(a, "bombs")
    _flow_seen(b, "quick")
    usual = min(_timed_run(b, "quick") for _ in range(3))
    bombs = [f"bombs-{n}" for n in range(BOMBS)]
    with HealthProbe(operator_process) as health:
        for name in bombs:
            _start(a, name, "bombs")
        time.sleep(1)  # the bombs' reconciles hold the threads A may use, the rest wait in A's queue
        during = _timed_run(b, "quick")
        bombed = [_ended(a, name, timeout=300) for name in bombs]
    messages = [run.get("message") or "" for done in bombed for run in done["status"]["taskRuns"]]
    print(
        f"\n[hostile] {BOMBS} template bombs in {a.namespace}: {b.namespace}'s run took {during:.2f}s during them "
        f"(usually {usual:.2f}s, delay {during - usual:+.2f}s); slowest /healthz {health.slowest * 1000:.0f} ms; "
        f"a bomb's task: {messages[0][:100]!r}"
    )
    assert alive(operator_process)
    assert [done["status"]["state"] for done in bombed] == ["FAILED"] * BOMBS
    assert all("CPU" in message for message in messages), messages
