"""Render the CustomResourceDefinitions in crds/ from the pydantic models.

The models are the truth; the CRD YAML is an output. The apiserver wants a *structural*
OpenAPI v3 schema, which pydantic's JSON Schema is not, so this module translates:

- ``$ref`` is inlined (CRDs allow no references);
- ``anyOf [T, null]`` becomes ``T`` with ``nullable: true``;
- a tagged union (tasks, triggers) becomes one object carrying the properties of every member,
  with ``type`` as an enum: the apiserver checks the shape, the operator checks which fields go
  with which type and marks the Flow Invalid with the field's path otherwise;
- task lists nested deeper than ``MAX_TASK_DEPTH`` (the lists inside flowable tasks) are not
  checked by the apiserver (``x-kubernetes-preserve-unknown-fields``): a CRD schema cannot recurse.
  The editors' JSON schema (``flow_json_schema``) can: there every task list, at any depth, is a
  ``$ref`` to one task definition, so nested tasks complete and lint like top-level ones;
- free-form JSON (inputs, variables, outputs) preserves unknown fields;
- ``title``, ``default`` and the discriminator are dropped: the apiserver would otherwise write
  defaults into the user's spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml

from overture.api import API_GROUP, API_VERSION, Execution, Flow
from overture.api.execution import ExecutionSpec, ExecutionStatus
from overture.api.flow import FlowSpec, FlowStatus
from overture.api.task_template import ClusterTaskTemplate, TaskTemplate, TaskTemplateSpec
from overture.api.tasks import TemplateKind
from overture.template_tasks import Published

MAX_TASK_DEPTH = 1  # deeper task lists are checked by the operator; keeps the CRD under 256 KiB for kubectl apply
PRESERVE = "x-kubernetes-preserve-unknown-fields"
_KEEP_KEYS = ("description", "pattern", "minLength", "maxLength", "minItems", "maxItems", "format")


TASK_REF = "#/definitions/task"


class _Translator:
    def __init__(self, defs: dict[str, Any], task_definitions: dict[str, Any] | None = None) -> None:
        self.defs = defs
        # Set for the editors' schema: the task union is written once, here, and referred to.
        self.task_definitions = task_definitions

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self.defs[name], **extra}
        return schema

    def is_task_union(self, members: list[dict[str, Any]]) -> bool:
        resolved = [self.resolve(m) for m in members]
        return any("tasks" in m.get("properties", {}) or "script" in m.get("properties", {}) for m in resolved)

    def convert(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        description = schema.get("description")
        schema = self.resolve(schema)
        description = description or schema.get("description")
        if schema.get(PRESERVE):
            return _with_description({"type": "object", PRESERVE: True}, description)
        members = schema.get("anyOf") or schema.get("oneOf")
        if members:
            return _with_description(self.convert_union(members, depth), description)
        kind = schema.get("type")
        out: dict[str, Any] = {}
        if kind is None and "const" not in schema and "enum" not in schema:
            return _with_description({PRESERVE: True}, description)
        if "const" in schema:
            const = schema["const"]
            out = {"type": "boolean" if isinstance(const, bool) else "string", "enum": [const]}
        elif "enum" in schema:
            out = {"type": kind or "string", "enum": list(schema["enum"])}
        elif kind == "object":
            out = self.convert_object(schema, depth)
        elif kind == "array":
            out = {"type": "array", "items": self.convert(schema.get("items", {}), depth)}
        else:
            out = {"type": kind}
            if "minimum" in schema:
                out["minimum"] = schema["minimum"]
            if "maximum" in schema:
                out["maximum"] = schema["maximum"]
        for key in _KEEP_KEYS:
            if key in schema and key != "description":
                out[key] = schema[key]
        return _with_description(out, description)

    def convert_object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties")
        if props is None:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra.get("type") in ("string", "integer", "number", "boolean"):
                return {"type": "object", "additionalProperties": self.convert(extra, depth)}
            if isinstance(extra, dict) and "$ref" in extra and "properties" in self.resolve(extra):
                return {"type": "object", "additionalProperties": self.convert(extra, depth)}  # a mapping of models
            return {"type": "object", PRESERVE: True}
        out: dict[str, Any] = {
            "type": "object",
            "properties": {name: self.convert(sub, depth) for name, sub in props.items()},
        }
        if schema.get("required"):
            out["required"] = list(schema["required"])
        return out

    def convert_union(self, members: list[dict[str, Any]], depth: int) -> dict[str, Any]:
        non_null = [m for m in members if m.get("type") != "null"]
        nullable = len(non_null) < len(members)
        if len(non_null) == 1:
            out = self.convert(non_null[0], depth)
        elif self.is_task_union(non_null) and self.task_definitions is not None:
            out = self.task_reference(non_null)
        elif self.is_task_union(non_null) and depth >= MAX_TASK_DEPTH:
            out = {"type": "object", PRESERVE: True}
        else:
            resolved = [self.resolve(m) for m in non_null]
            if all(r.get("type") == "object" and "properties" in r for r in resolved):
                out = self.merge_objects(resolved, depth + 1 if self.is_task_union(non_null) else depth)
            else:
                out = {PRESERVE: True}  # e.g. a list or a template string: checked by the operator
        if nullable:
            out["nullable"] = True
        return out

    def task_reference(self, members: list[dict[str, Any]]) -> dict[str, Any]:
        """``$ref`` to the one task definition, made on first use; the task lists inside it refer to it too."""
        assert self.task_definitions is not None
        if "task" not in self.task_definitions:
            self.task_definitions["task"] = {}  # taken before it is made, so nested lists stop here
            self.task_definitions["task"] = self.merge_objects([self.resolve(m) for m in members], 0)
        return {"$ref": TASK_REF}

    def merge_objects(self, members: list[dict[str, Any]], depth: int) -> dict[str, Any]:
        props: dict[str, Any] = {}
        tags: list[str] = []
        required_everywhere = set(members[0].get("required", []))
        for member in members:
            required_everywhere &= set(member.get("required", []))
            for name, sub in member["properties"].items():
                if name == "type" and "const" in self.resolve(sub):
                    tags.append(self.resolve(sub)["const"])
                    continue
                if name not in props:
                    props[name] = self.convert(sub, depth)
                elif props[name].get("type") != self.convert(sub, depth).get("type"):
                    props[name] = {PRESERVE: True}  # same name, other shapes: the operator checks it
        props["type"] = {"type": "string", "enum": tags}
        return {
            "type": "object",
            "properties": dict(sorted(props.items())),
            "required": sorted(required_everywhere),
        }


def _with_description(schema: dict[str, Any], description: str | None) -> dict[str, Any]:
    if description:
        return {"description": " ".join(description.split()), **schema}
    return schema


def structural_schema(model: type[Any], task_definitions: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model's schema as the apiserver wants it; with ``task_definitions`` (the editors'
    schema), task lists refer to ``task_definitions["task"]`` instead of stopping at ``MAX_TASK_DEPTH``."""
    raw = model.model_json_schema(by_alias=True, mode="validation", ref_template="#/$defs/{model}")
    translator = _Translator(raw.get("$defs", {}), task_definitions)
    return translator.convert({k: v for k, v in raw.items() if k != "$defs"}, 0)


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    spec_model: type[Any],
    status_model: type[Any] | None,
    columns: list[dict[str, Any]],
    description: str,
    scope: str = "Namespaced",
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": structural_schema(spec_model),
    }
    if status_model is not None:
        properties["status"] = structural_schema(status_model)
    schema = {"type": "object", "description": description, "required": ["spec"], "properties": properties}
    version: dict[str, Any] = {"name": API_VERSION, "served": True, "storage": True}
    if status_model is not None:
        version["subresources"] = {"status": {}}
    version |= {"additionalPrinterColumns": columns, "schema": {"openAPIV3Schema": schema}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["overture"],
            },
            "versions": [version],
        },
    }


# A published template version never changes: the apiserver refuses an update of its spec
# (a CEL rule, checked on every update; a new version is a new object).
IMMUTABLE_SPEC = {
    "rule": "self == oldSelf",
    "message": "a published template version cannot change; publish a new version as a new object",
}


def _template_crd(kind: str, plural: str, short_names: list[str], description: str, scope: str) -> dict[str, Any]:
    crd = _crd(kind, plural, short_names, TaskTemplateSpec, None, TEMPLATE_COLUMNS, description, scope)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["x-kubernetes-validations"] = [IMMUTABLE_SPEC]
    return crd


def _column(name: str, path: str, type_: str = "string", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


# The columns `kubectl get` shows (and `overture get`/`list`, which read them from here).
FLOW_COLUMNS = [
    _column("Tasks", ".status.taskCount", "integer"),
    _column("Triggers", ".status.triggerSummary"),
    _column("Last Run", ".status.lastExecution.state"),
    _column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
    _column("Age", ".metadata.creationTimestamp", "date"),
    _column("Last Start", ".status.lastExecution.startDate", "date", priority=1),
    _column("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
]
EXECUTION_COLUMNS = [
    _column("Flow", ".spec.flowRef.name"),
    _column("State", ".status.state"),
    _column("Trigger", ".spec.trigger.type"),
    _column("Started", ".status.startDate", "date"),
    _column("Duration", ".status.duration"),
    _column("Age", ".metadata.creationTimestamp", "date"),
    _column("Runs", ".status.taskRunCounts", priority=1),  # task runs by state, archived ones too
    _column("Requested By", ".spec.requestedBy", priority=1),  # api/requester.py: who created it
    _column("Message", ".status.message", priority=1),
]
TEMPLATE_COLUMNS = [
    _column("Template", ".spec.name"),
    _column("Version", ".spec.version"),
    _column("Image", ".spec.container.image", priority=1),
    _column("Age", ".metadata.creationTimestamp", "date"),
]


def render_crds() -> dict[str, str]:
    """File name -> YAML text of every CRD, exactly as committed in crds/."""
    flow = _crd(
        "Flow",
        "flows",
        ["fl"],
        FlowSpec,
        FlowStatus,
        FLOW_COLUMNS,
        (Flow.__doc__ or "").strip() or "A declared pipeline of tasks, inputs and triggers.",
    )
    execution = _crd(
        "Execution",
        "executions",
        ["ex", "exec"],
        ExecutionSpec,
        ExecutionStatus,
        EXECUTION_COLUMNS,
        (Execution.__doc__ or "").strip() or "One run of a flow.",
    )
    task_template = _template_crd(
        "TaskTemplate", "tasktemplates", ["tt"], (TaskTemplate.__doc__ or "").strip(), "Namespaced"
    )
    cluster_template = _template_crd(
        "ClusterTaskTemplate", "clustertasktemplates", ["ctt"], (ClusterTaskTemplate.__doc__ or "").strip(), "Cluster"
    )
    header = "# Generated by `overture crds` from operator/overture/api. Do not edit.\n"
    return {
        f"{API_GROUP}_flows.yaml": header + yaml.safe_dump(flow, sort_keys=False, width=100),
        f"{API_GROUP}_executions.yaml": header + yaml.safe_dump(execution, sort_keys=False, width=100),
        f"{API_GROUP}_tasktemplates.yaml": header + yaml.safe_dump(task_template, sort_keys=False, width=100),
        f"{API_GROUP}_clustertasktemplates.yaml": header + yaml.safe_dump(cluster_template, sort_keys=False, width=100),
    }


def flow_json_schema(nested_tasks: bool = True) -> dict[str, Any]:
    """The Flow CRD's openAPIV3Schema, closed (``additionalProperties: false``) where it lists
    every property: the apiserver would prune an unknown key silently, the editor shows it as a typo.
    Unlike the CRD, every task list (``tasks``, ``errors``, ``finally``, a flowable's, a switch
    case's) at any depth refers to one task definition, so nested tasks are checked too.

    ``nested_tasks=False`` gives the CRD's shape instead (no ``$ref``; nested task lists free-form),
    for the UI's editor: its linter (json-schema-library 9's Draft04, in codemirror-json-schema)
    throws on any ``$ref`` in this schema (``e.id.startsWith is not a function``: it walks a
    ``properties`` map that has a field ``id`` as a schema), and the editor then never settles."""
    crd = yaml.safe_load(render_crds()[f"{API_GROUP}_flows.yaml"])
    root: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    if nested_tasks:
        definitions: dict[str, Any] = {}
        root["properties"]["spec"] = structural_schema(FlowSpec, definitions)
        root["definitions"] = definitions
    return _for_editors(root)


def template_json_schema() -> dict[str, Any]:
    """The TaskTemplate CRD's openAPIV3Schema for editors, closed as ``flow_json_schema``; the
    same document serves ClusterTaskTemplates (``kind``)."""
    crd = yaml.safe_load(render_crds()[f"{API_GROUP}_tasktemplates.yaml"])
    root: dict[str, Any] = _for_editors(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    root["properties"]["kind"] = {"type": "string", "enum": ["TaskTemplate", "ClusterTaskTemplate"]}
    return root


def _for_editors(root: dict[str, Any]) -> dict[str, Any]:
    """A CRD's schema as an editor's: closed objects, the metadata people write, no status."""

    def close(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if (
            node.get("type") == "object"
            and "properties" in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node.setdefault("additionalProperties", False)
        for value in node.values():
            if isinstance(value, dict):
                close(value)
            elif isinstance(value, list):
                for item in value:
                    close(item)

    close(root)
    root["properties"]["metadata"] = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["name"],
    }
    root["properties"].pop("status", None)
    root["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return root


def render_schema(templates: Iterable[Published] = ()) -> str:
    """``flow_json_schema`` as the text of schemas/flow.json (``overture schema``), for editors:
    yaml-language-server reads it from a modeline, ``# yaml-language-server: $schema=<path or URL>``.
    With ``templates`` (a namespace's, read by ``overture schema --namespace``), a template task's
    ``with:`` is described by the parameters of the template it names (``with_template_parameters``)."""
    schema = with_template_parameters(flow_json_schema(), templates)
    return json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", **schema}, indent=1) + "\n"


def render_template_schema() -> str:
    """``template_json_schema`` as the text of schemas/tasktemplate.json (``overture schema --templates``)."""
    schema = template_json_schema()
    return json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", **schema}, indent=1) + "\n"


def with_template_parameters(schema: dict[str, Any], templates: Iterable[Published]) -> dict[str, Any]:
    """``schema`` with, on every task object, one ``if``/``then`` per template (its highest valid
    version): a task naming it gets its parameters as the properties of ``with`` (completion, types,
    required). A string holding ``{{`` is accepted for any parameter: it is rendered at run time."""
    latest: dict[tuple[str, str], Published] = {}
    for item in templates:
        if item.spec is None or item.version is None:
            continue
        key = (item.kind.value, item.name)
        if key not in latest or (latest[key].version or item.version) < item.version:
            latest[key] = item
    if not latest:
        return schema
    rules = [_template_rule(item) for _, item in sorted(latest.items())]

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict) and "with" in props and "template" in (props.get("type") or {}).get("enum", []):
                node["allOf"] = [*node.get("allOf", []), *rules]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def _template_rule(item: Published) -> dict[str, Any]:
    assert item.spec is not None
    parameters = item.spec.parameters
    templated = {"type": "string", "pattern": "\\{\\{"}
    properties: dict[str, Any] = {}
    for name, parameter in parameters.properties.items():
        own = parameter.to_wire()
        own.pop("default", None)
        described = f"{parameter.description or name} ({parameter.type.value}"
        described += f", default {json.dumps(parameter.default)})" if parameter.default is not None else ")"
        properties[name] = {"description": described, "anyOf": [own, templated]}
    kind = {"const": item.kind.value}
    template: dict[str, Any] = {"properties": {"name": {"const": item.name}, "kind": kind}}
    if item.kind == TemplateKind.CLUSTER_TASK_TEMPLATE:
        template["required"] = ["name", "kind"]
    return {
        "if": {"properties": {"type": {"const": "template"}, "template": template}, "required": ["type", "template"]},
        "then": {
            "properties": {
                "with": {
                    "description": f"Parameters of {item.kind.value} {item.name} {item.version}",
                    "type": "object",
                    "properties": properties,
                    "required": list(parameters.required),
                    "additionalProperties": False,
                }
            }
        },
    }
