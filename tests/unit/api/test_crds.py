"""The generated CRDs: committed files are current, schemas are structural, and they fit the documents.

The apiserver rejects a CRD whose schema is not structural, and silently prunes fields a schema
does not declare, so both are checked here without a cluster.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.flowdocs import complex_doc

from overture.api import TaskType, TriggerType, parse_flow
from overture.crd import render_crds

ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = ROOT / "crds"
RENDERED = render_crds()
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: these files are large
PRESERVE = "x-kubernetes-preserve-unknown-fields"
# Every key a JSONSchemaProps node may carry that the translator has a use for; anything else
# (title, $defs, const, discriminator, x-overture-*) is a leak from pydantic's JSON Schema.
ALLOWED_KEYS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "enum",
    "nullable",
    "x-kubernetes-validations",  # CEL rules (a template's spec is immutable)
    "pattern",
    "format",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    PRESERVE,
}
JUNCTORS = ("anyOf", "oneOf", "allOf", "not")
JSON_TYPES = {"string", "integer", "number", "boolean", "object", "array"}


@functools.cache
def crd(kind: str) -> dict[str, Any]:
    """The rendered CRD of ``kind`` (flows, executions), decoded once: tests only read it."""
    loaded: dict[str, Any] = yaml.load(RENDERED[f"overture.dev_{kind}.yaml"], Loader=SafeLoader)
    return loaded


def schema_of(kind: str) -> dict[str, Any]:
    version = crd(kind)["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path: properties, items and additionalProperties, recursively."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}.*")


def structural_problems(schema: dict[str, Any]) -> list[str]:
    """What the apiserver would object to in a CRD schema (the rules of a structural schema)."""
    problems = []
    for path, node in nodes(schema):
        where = path or "<root>"
        if not node.get("type") and node.get(PRESERVE) is not True:
            problems.append(f"{where}: no type and no {PRESERVE}")
        if node.get("type") and node["type"] not in JSON_TYPES:
            problems.append(f"{where}: type {node['type']!r}")
        if "$ref" in node:
            problems.append(f"{where}: $ref")
        if "default" in node:
            problems.append(f"{where}: default (the apiserver would write it into specs)")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: both properties and additionalProperties")
        for junctor in JUNCTORS:
            for member in node.get(junctor, []) if junctor != "not" else [node.get("not", {})]:
                for field in member.get("properties", {}):
                    if field not in node.get("properties", {}):
                        problems.append(f"{where}: {junctor} names {field!r}, which is not also declared outside")
                for banned in ("type", "description", "default", "additionalProperties", "nullable"):
                    if banned in member:
                        problems.append(f"{where}: {banned} inside {junctor}")
        for key in set(node) - ALLOWED_KEYS - set(JUNCTORS):
            problems.append(f"{where}: unexpected key {key!r}")
        for name in node.get("required", []):
            if name not in node.get("properties", {}):
                problems.append(f"{where}: required {name!r} is not a property")
        if "enum" in node and node.get("type") == "string" and not all(isinstance(v, str) for v in node["enum"]):
            problems.append(f"{where}: enum values are not all strings")
    return problems


def schema_mismatches(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Where the apiserver would reject ``value`` or prune part of it: a small structural validator."""
    if (schema.get(PRESERVE) and "properties" not in schema) or path == ".metadata":
        return []  # metadata is the apiserver's, checked by its own rules
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null"]
    kind = schema.get("type")
    checks = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
    }
    if kind and not checks.get(kind, False):
        return [f"{path}: {value!r} is not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not in enum"]
    found: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties")
        found += [f"{path}.{name}: required" for name in schema.get("required", []) if name not in value]
        for key, sub in value.items():
            if props is not None and key in props:
                found += schema_mismatches(sub, props[key], f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                found += schema_mismatches(sub, schema["additionalProperties"], f"{path}.{key}")
            elif not schema.get(PRESERVE):
                found.append(f"{path}.{key}: pruned (not in the schema)")
    if isinstance(value, list):
        for index, item in enumerate(value):
            found += schema_mismatches(item, schema.get("items", {}), f"{path}[{index}]")
    return found


# --- the committed files --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_committed_crd_is_current(name: str) -> None:
    committed = CRD_DIR / name

    assert committed.exists(), f"crds/{name} is missing; run `make crds`"
    assert committed.read_bytes() == RENDERED[name].encode(), f"crds/{name} is stale; run `make crds` and commit it"


def test_no_stray_files_in_crds() -> None:
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == sorted(RENDERED)


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_crd_fits_in_the_last_applied_annotation(name: str) -> None:
    # Client-side `kubectl apply` stores the object as JSON in an annotation of at most 256 KiB.
    as_json = json.dumps(yaml.load(RENDERED[name], Loader=SafeLoader), separators=(",", ":"))

    assert len(as_json.encode()) < 256 * 1024
    assert len(RENDERED[name].encode()) < 256 * 1024


# --- structural schemas ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flows", "executions"])
def test_schema_is_structural(kind: str) -> None:
    assert structural_problems(schema_of(kind)) == []


def test_structural_check_catches_what_the_apiserver_rejects() -> None:
    bad = {
        "type": "object",
        "properties": {
            "a": {"description": "no type"},
            "b": {"$ref": "#/defs/B", "type": "object"},
            "c": {"type": "string", "default": "x"},
            "d": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
            "e": {"type": "object", "anyOf": [{"properties": {"x": {"type": "string"}}}]},
            "f": {"type": "string", "title": "F"},
            "g": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["z"],
    }

    problems = structural_problems(bad)

    for expected in [
        ".a: no type",
        ".b: $ref",
        ".c: default",
        ".d: both properties and additionalProperties",
        ".e: anyOf names 'x'",
        ".f: unexpected key 'title'",
        ".g: no type",
        ".g: type inside anyOf",
        "<root>: required 'z'",
    ]:
        assert any(p.startswith(expected) for p in problems), expected


def test_top_level_tasks_are_typed_and_nested_ones_left_to_the_operator() -> None:
    spec = schema_of("flows")["properties"]["spec"]
    task = spec["properties"]["tasks"]["items"]

    assert task["properties"]["type"]["enum"] == [t.value for t in TaskType]
    assert task["required"] == ["id", "type"]
    assert task["properties"]["id"]["maxLength"] == 63
    for nested in ("tasks", "then", "else", "defaults"):
        assert task["properties"][nested]["items"] == {"type": "object", PRESERVE: True}
    for section in ("errors", "finally"):
        assert spec["properties"][section]["items"]["properties"]["type"]["enum"] == [t.value for t in TaskType]
    trigger = spec["properties"]["triggers"]["items"]
    assert trigger["properties"]["type"]["enum"] == [t.value for t in TriggerType]


def test_execution_keeps_the_flow_snapshot_unpruned() -> None:
    status = schema_of("executions")["properties"]["status"]

    assert status["properties"]["flowSpec"][PRESERVE] is True
    assert "status" not in schema_of("executions")["required"]


def test_optional_fields_are_nullable_not_any_of() -> None:
    flows = schema_of("flows")
    text = json.dumps(flows)

    assert "anyOf" not in text
    assert flows["properties"]["spec"]["properties"]["timeout"] == {
        "description": "Whole execution; running tasks are killed",
        "type": "string",
        "nullable": True,
    }


# --- documents against the schemas ----------------------------------------------------------


def example_docs() -> list[Any]:
    return [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))]


@pytest.mark.parametrize("doc", [*example_docs(), complex_doc()], ids=lambda d: d["metadata"]["name"])
def test_flows_pass_the_schema_without_pruning(doc: dict[str, Any]) -> None:
    # What the operator reads back is what the user wrote: the models' wire form must fit too.
    wire = parse_flow(doc).to_wire()

    assert schema_mismatches(doc, schema_of("flows")) == []
    assert schema_mismatches(wire, schema_of("flows")) == []


def test_flow_status_and_execution_status_are_declared() -> None:
    # v1 CRDs prune status fields that are not declared: every field the operator writes must be.
    flow_status = {
        "observedGeneration": 2,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Valid",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 2,
            }
        ],
        "taskCount": 3,
        "triggerSummary": "schedule,webhook",
        "triggers": [{"id": "nightly", "type": "schedule", "lastTick": "t", "nextTick": "t2", "timezone": "UTC"}],
        "lastExecution": {"name": "x-1", "state": "SUCCESS", "startDate": "t"},
    }
    execution = {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": "x-1"},
        "spec": {"flowRef": {"name": "x"}, "trigger": {"type": "webhook", "data": {"any": ["thing"]}}},
        "status": {
            "observedGeneration": 1,
            "state": "FAILED",
            "flowSpec": complex_doc()["spec"],
            "flowGeneration": 2,
            "inputs": {"day": "2026-01-01"},
            "startDate": "t",
            "endDate": "t",
            "duration": "1m",
            "restarts": 0,
            "message": "boom",
            "taskRuns": [
                {
                    "id": "a",
                    "taskId": "a",
                    "state": "FAILED",
                    "parent": "p",
                    "iteration": 0,
                    "value": {"k": 1},
                    "outputs": {"rows": 1},
                    "attempts": [{"attempt": 1, "job": "j", "state": "FAILED", "exitCode": 1, "pod": "p"}],
                    "nextAttemptAt": "t",
                    "childExecution": "c",
                    "resumedAt": 1,
                    "message": "m",
                }
            ],
        },
    }

    flow = complex_doc() | {"status": flow_status}
    assert schema_mismatches(flow, schema_of("flows")) == []
    assert schema_mismatches(execution, schema_of("executions")) == []


def test_schema_check_sees_pruned_and_mistyped_fields() -> None:
    doc = complex_doc()
    doc["spec"]["tasks"][0]["surprise"] = 1
    doc["spec"]["tasks"][0]["timeout"] = 10

    assert sorted(schema_mismatches(doc, schema_of("flows"))) == [
        ".spec.tasks[0].surprise: pruned (not in the schema)",
        ".spec.tasks[0].timeout: 10 is not string",
    ]


# --- names and printer columns ---------------------------------------------------------------


def columns(kind: str, priority: int = 0) -> list[dict[str, Any]]:
    version = crd(kind)["spec"]["versions"][0]
    return [c for c in version["additionalPrinterColumns"] if c.get("priority", 0) == priority]


def resolves(schema: dict[str, Any], json_path: str) -> bool:
    """Whether a printer column's jsonPath names a declared field (metadata is the apiserver's)."""
    node = schema
    for part in json_path.lstrip(".").split("."):
        if part == "creationTimestamp" and node is schema["properties"]["metadata"]:
            return True
        name = part.split("[", 1)[0]
        if name not in node.get("properties", {}):
            return False
        node = node["properties"][name]
        if "[" in part:
            node = node["items"]
        if part.startswith("conditions["):
            return "status" in node["properties"] or "reason" in node["properties"]
    return True


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("executions", ["Flow", "State", "Trigger", "Started", "Duration", "Age"]),
        ("flows", ["Tasks", "Triggers", "Last Run", "Ready"]),
    ],
)
def test_printer_columns(kind: str, expected: list[str]) -> None:
    shown = columns(kind)

    assert [c["name"] for c in shown][: len(expected)] == expected
    for column in shown + columns(kind, priority=1):
        assert resolves(schema_of(kind), column["jsonPath"]), column
        assert column["type"] in {"string", "integer", "number", "boolean", "date"}


@pytest.mark.parametrize(
    ("kind", "singular", "short_names"),
    [("flows", "flow", ["fl"]), ("executions", "execution", ["ex", "exec"])],
)
def test_names_scope_and_status_subresource(kind: str, singular: str, short_names: list[str]) -> None:
    spec = crd(kind)["spec"]
    version = spec["versions"][0]

    assert crd(kind)["metadata"]["name"] == f"{kind}.overture.dev"
    assert spec["group"] == "overture.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["plural"] == kind
    assert spec["names"]["singular"] == singular
    assert spec["names"]["shortNames"] == short_names
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    ("kind", "scope", "short_names"),
    [("tasktemplates", "Namespaced", ["tt"]), ("clustertasktemplates", "Cluster", ["ctt"])],
)
def test_template_crds_refuse_any_change_to_a_published_spec(kind: str, scope: str, short_names: list[str]) -> None:
    spec = crd(kind)["spec"]
    version = spec["versions"][0]
    assert (spec["scope"], spec["names"]["shortNames"]) == (scope, short_names)
    assert "subresources" not in version  # no status: a template is all spec
    assert structural_problems(schema_of(kind)) == []
    assert schema_of(kind)["properties"]["spec"]["x-kubernetes-validations"] == [
        {
            "rule": "self == oldSelf",
            "message": "a published template version cannot change; publish a new version as a new object",
        }
    ]
    assert [c["name"] for c in columns(kind)] == ["Template", "Version", "Age"]
    parameter = schema_of(kind)["properties"]["spec"]["properties"]["parameters"]["properties"]["properties"]
    assert parameter["additionalProperties"]["properties"]["type"]["enum"][:2] == ["string", "integer"]
