"""Flow triggers (matching an ended upstream execution) and resource triggers (matching objects)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from support.triggerdocs import flow_body

from overture.api import Flow, ResourceEvent, parse_flow
from overture.triggers.resource import (
    WatchKey,
    build_resource_execution,
    is_new_enough,
    object_data,
    watch_keys,
)
from overture.triggers.resource import (
    matching_triggers as resource_matches,
)
from overture.triggers.upstream import all_ended, build_downstream, matching_triggers, upstream_outputs


def flow(name: str, triggers: list[dict[str, Any]], namespace: str = "ns", **spec: Any) -> Flow:
    return parse_flow(flow_body(name, triggers, namespace=namespace, **spec))


def ended(flow_name: str = "raw", state: str = "SUCCESS", namespace: str = "ns", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{flow_name}-1", "namespace": namespace, "uid": "u1", "labels": extra.pop("labels", {})},
        "spec": {"flowRef": {"name": flow_name}, **extra},
        "status": {
            "state": state,
            "endDate": "2026-01-01T12:00:00Z",
            "taskRuns": [
                {"id": "extract", "taskId": "extract", "state": "SUCCESS", "outputs": {"rows": 42}},
                {"id": "each[0]", "taskId": "each", "state": "SUCCESS", "outputs": {"x": 1}},
                {"id": "load", "taskId": "load", "state": "SUCCESS"},
            ],
        },
    }


def after(upstream: str = "raw", **fields: Any) -> dict[str, Any]:
    return {"id": "after", "type": "flow", "flows": [{"name": upstream}], **fields}


# --- flow triggers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "upstream", "fires"),
    [
        (after(), ended(), True),
        (after(), ended(state="FAILED"), False),
        (after(states=["FAILED", "KILLED"]), ended(state="FAILED"), True),
        (after(), ended(state="RUNNING"), False),
        (after("other"), ended(), False),
        (after(labels={"team": "a"}), ended(labels={"team": "a", "x": "y"}), True),
        (after(labels={"team": "a"}), ended(labels={"team": "b"}), False),
        (after(labels={"team": "a"}), ended(labels={"team": "a"}), True),
        (after(labels={"env": "prod"}), ended(labels={"env": "dev"}), False),
        (after(disabled=True), ended(), False),
    ],
)
def test_flow_trigger_matching(trigger: dict[str, Any], upstream: dict[str, Any], fires: bool) -> None:
    found = matching_triggers([flow("report", [trigger])], upstream)
    assert bool(found) is fires


def test_spec_labels_of_the_upstream_count_too() -> None:
    upstream = ended()
    upstream["spec"]["labels"] = {"env": "prod"}
    assert matching_triggers([flow("report", [after(labels={"env": "prod"})])], upstream)


def test_a_suspended_flow_is_not_started() -> None:
    assert matching_triggers([flow("report", [after()], suspend=True)], ended()) == []


def test_other_namespaces_only_when_the_operator_allows_it() -> None:
    listener = flow("report", [{"id": "after", "type": "flow", "flows": [{"name": "raw", "namespace": "team-b"}]}])
    upstream = ended(namespace="team-b")
    assert matching_triggers([listener], upstream) == []
    assert len(matching_triggers([listener], upstream, allow_cross_namespace=True)) == 1
    # a flow of the same name in another namespace is not "raw" of this one
    assert matching_triggers([flow("report", [after()])], upstream, allow_cross_namespace=True) == []


def test_downstream_gets_outputs_by_task_id_and_a_name_that_fires_once() -> None:
    listener = flow(
        "report", [after(inputs={"rows": "{{ trigger.outputs.extract.rows }}"})], inputs=[{"id": "rows", "type": "INT"}]
    )
    trigger = listener.spec.triggers[0]
    manifest = build_downstream(listener, trigger, ended())
    assert manifest["spec"]["inputs"] == {"rows": "42"}
    data = manifest["spec"]["trigger"]["data"]
    assert data["outputs"] == {"extract": {"rows": 42}}
    assert (data["execution"], data["flow"], data["state"]) == ("raw-1", "raw", "SUCCESS")
    again = build_downstream(listener, trigger, ended())
    assert again["metadata"]["name"] == manifest["metadata"]["name"]
    restarted = build_downstream(listener, trigger, ended(restarts=1))
    assert restarted["metadata"]["name"] != manifest["metadata"]["name"]
    assert upstream_outputs(ended()) == {"extract": {"rows": 42}}


# --- resource triggers -----------------------------------------------------------------------

CONFIGMAP = {
    "id": "landed",
    "type": "resource",
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "matchLabels": {"landed": "true"},
}


def configmap(labels: dict[str, str], version: str = "10", created: str = "2026-01-01T11:59:00Z") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "games",
            "namespace": "ns",
            "uid": "cm-1",
            "resourceVersion": version,
            "labels": labels,
            "creationTimestamp": created,
            "managedFields": [{"manager": "kubectl"}],
        },
        "data": {"file": "games.csv"},
    }


KEY = WatchKey("v1", "ConfigMap", "ns")


def test_watch_keys_come_from_running_flows_only() -> None:
    flows = [
        flow("a", [CONFIGMAP]),
        flow("b", [{**CONFIGMAP, "id": "x", "kind": "Secret"}], namespace="other"),
        flow("c", [CONFIGMAP], suspend=True),
        flow("d", [{**CONFIGMAP, "disabled": True}], namespace="third"),
    ]
    assert watch_keys(flows) == {KEY, WatchKey("v1", "Secret", "other")}
    assert WatchKey("v1", "Secret", "other").metadata_only


@pytest.mark.parametrize(
    ("labels", "event", "events", "fires"),
    [
        ({"landed": "true"}, ResourceEvent.CREATED, None, True),
        ({"landed": "false"}, ResourceEvent.CREATED, None, False),
        ({}, ResourceEvent.CREATED, None, False),
        ({"landed": "true"}, ResourceEvent.UPDATED, None, False),
        ({"landed": "true"}, ResourceEvent.UPDATED, ["created", "updated"], True),
        ({"landed": "true"}, ResourceEvent.DELETED, ["deleted"], True),
    ],
)
def test_resource_trigger_matching(
    labels: dict[str, str], event: ResourceEvent, events: list[str] | None, fires: bool
) -> None:
    trigger = {**CONFIGMAP, **({"events": events} if events else {})}
    assert bool(resource_matches([flow("f", [trigger])], KEY, event, configmap(labels))) is fires


def test_a_flow_never_fires_on_the_objects_made_for_it() -> None:
    """A Pod trigger firing on its own task pods made 132 executions in 40 s (issue 14)."""
    own = configmap({"landed": "true", "overture.dev/flow": "f"})
    other = configmap({"landed": "true", "overture.dev/flow": "g"})
    flows = [flow("f", [CONFIGMAP]), flow("g", [CONFIGMAP])]
    assert [f.metadata.name for f, _ in resource_matches(flows, KEY, ResourceEvent.CREATED, own)] == ["g"]
    assert [f.metadata.name for f, _ in resource_matches(flows, KEY, ResourceEvent.CREATED, other)] == ["f"]


def test_only_the_flows_namespace_is_watched_for_it() -> None:
    assert (
        resource_matches(
            [flow("f", [CONFIGMAP])],
            WatchKey("v1", "ConfigMap", "other"),
            ResourceEvent.CREATED,
            configmap({"landed": "true"}),
        )
        == []
    )


def test_secret_data_never_reaches_trigger_data_and_managed_fields_are_dropped() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "managedFields": []},
        "data": {"pw": "aHVudGVyMg=="},
    }
    assert object_data(secret, metadata_only=True) == {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    shown = object_data(configmap({}), metadata_only=False)
    assert "managedFields" not in shown["metadata"]
    assert shown["data"] == {"file": "games.csv"}


def test_resource_execution_names_once_per_creation_and_per_update() -> None:
    listener = flow("f", [{**CONFIGMAP, "events": ["created", "updated"], "inputs": {}}])
    trigger = listener.spec.triggers[0]

    def name(event: ResourceEvent, version: str) -> str:
        manifest = build_resource_execution(
            listener, trigger, KEY, event, configmap({}, version), "2026-01-01T12:00:00Z"
        )
        return str(manifest["metadata"]["name"])

    assert name(ResourceEvent.CREATED, "10") == name(ResourceEvent.CREATED, "11")  # a creation fires once
    assert name(ResourceEvent.UPDATED, "11") != name(ResourceEvent.UPDATED, "12")
    assert name(ResourceEvent.UPDATED, "11") == name(ResourceEvent.UPDATED, "11")
    assert len(name(ResourceEvent.CREATED, "1")) <= 63


def test_a_listed_object_fires_only_if_created_after_the_flow_and_recently() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    listener = flow("f", [CONFIGMAP])  # created 2026-01-01T00:00:00Z
    assert is_new_enough(listener, configmap({}, created="2026-01-01T11:55:00Z"), now)
    assert not is_new_enough(listener, configmap({}, created="2026-01-01T11:00:00Z"), now)  # past the lookback
    assert not is_new_enough(
        listener, configmap({}, created="2025-12-31T23:59:00Z"), datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    )


# --- require: all (issue 17) -------------------------------------------------------------------


def ending(flow_name: str, run: str, end: str, state: str = "SUCCESS") -> dict[str, Any]:
    body = ended(flow_name, state)
    body["metadata"].update(name=f"{flow_name}-{run}", uid=f"uid-{flow_name}-{run}")
    body["status"]["endDate"] = end
    return body


def fired(at: str) -> dict[str, Any]:
    labels = {"overture.dev/flow": "report", "overture.dev/trigger": "both"}
    return {
        "metadata": {"name": "report-x", "namespace": "ns", "labels": labels, "creationTimestamp": at},
        "spec": {"flowRef": {"name": "report"}},
    }


BOTH = {"id": "both", "type": "flow", "flows": [{"name": "raw"}, {"name": "ref"}], "require": "all", "within": "6h"}
NOW = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("executions", "chosen"),
    [
        ([ending("raw", "1", "2026-01-01T12:00:00Z")], None),  # ref has not ended
        ([ending("raw", "1", "2026-01-01T12:00:00Z"), ending("ref", "1", "2026-01-01T07:00:00Z")], None),  # too old
        (
            [ending("raw", "1", "2026-01-01T12:00:00Z"), ending("ref", "1", "2026-01-01T13:00:00Z", "FAILED")],
            None,
        ),
        (
            [
                ending("raw", "1", "2026-01-01T12:00:00Z"),
                ending("raw", "2", "2026-01-01T13:00:00Z"),
                ending("ref", "1", "2026-01-01T13:30:00Z"),
            ],
            ["raw-2", "ref-1"],  # the newest of each
        ),
        (
            [
                ending("raw", "1", "2026-01-01T12:00:00Z"),
                ending("ref", "1", "2026-01-01T13:30:00Z"),
                fired("2026-01-01T12:30:00Z"),
            ],
            None,  # raw-1 ended before the trigger last fired: wait for raw to end again
        ),
    ],
)
def test_require_all_waits_for_every_listed_flow(executions: list[dict[str, Any]], chosen: list[str] | None) -> None:
    listener = flow("report", [BOTH])
    group = all_ended(listener, listener.spec.triggers[0], executions, NOW)
    assert (None if group is None else [b["metadata"]["name"] for b in group]) == chosen


def test_require_all_names_the_run_after_the_whole_group() -> None:
    listener = flow("report", [BOTH])
    trigger = listener.spec.triggers[0]
    raw, ref = ending("raw", "1", "2026-01-01T12:00:00Z"), ending("ref", "1", "2026-01-01T13:00:00Z")
    first = build_downstream(listener, trigger, ref, [raw, ref])
    again = build_downstream(listener, trigger, raw, [raw, ref])
    assert first["metadata"]["name"] == again["metadata"]["name"]
    flows = first["spec"]["trigger"]["data"]["flows"]
    assert flows["raw"] == {"execution": "raw-1", "state": "SUCCESS", "outputs": {"extract": {"rows": 42}}}
    assert set(flows) == {"raw", "ref"}


def test_require_all_inputs_read_every_flow() -> None:
    trigger = {**BOTH, "inputs": {"runs": "{{ trigger.flows.raw.execution }} {{ trigger.flows['ref'].state }}"}}
    listener = flow("report", [trigger], inputs=[{"id": "runs", "type": "STRING"}])
    raw, ref = ending("raw", "1", "2026-01-01T12:00:00Z"), ending("ref", "1", "2026-01-01T13:00:00Z")
    manifest = build_downstream(listener, listener.spec.triggers[0], ref, [raw, ref])
    assert manifest["spec"]["inputs"] == {"runs": "raw-1 SUCCESS"}
