"""TaskTemplate (namespaced) and ClusterTaskTemplate: reusable, versioned container tasks.

A platform team publishes a template; a flow uses it with a task of ``type: template`` that
names it (``template: {name, version, kind}``) and gives its parameters (``with:``). Invariants:

- One object is one published version: ``spec.name`` and ``spec.version`` (semver) identify it,
  the object's own name is free (by convention ``<name>-<major>-<minor>-<patch>``). The CRD
  refuses any change to ``spec`` once created (a CEL rule ``self == oldSelf``): a new version is
  a new object, so a flow pinned to ``1.2.0`` always runs what was reviewed as ``1.2.0``.
- ``parameters`` is a JSON schema (a subset: an object of typed properties, ``required``,
  ``default``, ``enum``, bounds, RE2 ``pattern``) that a flow's ``with:`` is checked against
  when the Flow is validated.
- Parameters render only into ``container.args`` and ``container.env`` values, as the whole of
  a ``{{ params.<name> }}`` placeholder: never into ``command``, and never into the arguments of a
  shell (``sh -c``, ``bash -c``), where a value would become code; a shell template reads them
  from its env. Nothing else in a template is a template.

How a template task becomes a container task is ``overture.template_tasks``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue, ValidationError, model_validator

from overture.api.common import INPUT_ID_PATTERN, Model
from overture.api.errors import SpecError, mismatch, problems_from, shown
from overture.api.flow import Resource
from overture.api.patterns import PatternError, compile_pattern
from overture.api.tasks import EnvVar, Resources, TemplateKind
from overture.api.versions import VERSION_PATTERN

# {{ params.name }}, the one placeholder a template's args and env may hold (spaces optional)
PLACEHOLDER = re.compile(r"\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_TEMPLATE_MARKS = ("{{", "{%", "{#")
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
TEMPLATE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class ParameterType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ARRAY = "array"
    OBJECT = "object"


class Parameter(Model):
    """One parameter: a property of the parameters' JSON schema."""

    type: ParameterType
    description: str | None = None
    default: JsonValue = Field(default=None, description="Used when with: does not give it")
    enum: tuple[JsonValue, ...] = Field(default=(), description="The only values accepted")
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    pattern: str | None = Field(default=None, description="RE2 syntax; a string must contain a match")

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        if self.pattern is not None:
            try:
                compile_pattern(self.pattern)
            except PatternError as exc:
                raise ValueError(f"pattern: {exc}") from None
        if self.default is not None and (problem := value_problem(self, self.default)) is not None:
            raise ValueError(f"default: {problem}")
        return self


class TemplateParameters(Model):
    """A JSON schema of an object: its properties are the parameters (no other key is accepted)."""

    type: Literal["object"] = "object"
    properties: dict[str, Parameter] = Field(default_factory=dict)
    required: tuple[str, ...] = ()
    additional_properties: Literal[False] = Field(default=False, description="Always false: unknown names are refused")

    @model_validator(mode="after")
    def _names(self) -> TemplateParameters:
        for name in self.properties:
            if not re.match(INPUT_ID_PATTERN, name):
                raise ValueError(f"properties.{name}: use letters, digits and '_' (read as {{{{ params.{name} }}}})")
        for name in self.required:
            if name not in self.properties:
                raise ValueError(f"required: {name!r} is not in properties")
        return self


class TemplateOutput(Model):
    """An output the container writes to /overture/outputs.json, read as {{ outputs.<task>.<id> }}."""

    id: str = Field(pattern=INPUT_ID_PATTERN, max_length=63)
    type: ParameterType | None = None
    description: str | None = None


class ContainerTemplate(Model):
    """The pod's one container; ``{{ params.<name> }}`` in ``args`` and ``env`` values only."""

    image: str = Field(min_length=1)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    command: tuple[str, ...] | None = Field(default=None, description="No parameters here")
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()
    resources: Resources | None = None

    def placed(self) -> Iterator[tuple[str, str]]:
        """(path, text) of every field a parameter may be placed in."""
        for i, arg in enumerate(self.args):
            yield f"args[{i}]", arg
        for i, var in enumerate(self.env):
            if var.value is not None:
                yield f"env[{i}].value", var.value

    @property
    def runs_a_shell(self) -> bool:
        """Whether ``args`` are read by a shell: ``command: [sh, -c]`` (or bash, ...)."""
        words = [*(self.command or ()), *self.args]
        return (
            bool(words)
            and words[0].rsplit("/", 1)[-1] in SHELLS
            and any(w.startswith("-") and "c" in w for w in words[1:3])
        )


class TaskTemplateSpec(Model):
    name: str = Field(pattern=TEMPLATE_NAME_PATTERN, max_length=63, description="What a flow names: template.name")
    version: str = Field(
        pattern=VERSION_PATTERN, max_length=64, description="Semantic version (1.2.0); a new version is a new object"
    )
    description: str | None = None
    parameters: TemplateParameters = Field(default_factory=TemplateParameters)
    outputs: tuple[TemplateOutput, ...] = Field(default=(), description="What the container writes as its outputs")
    container: ContainerTemplate

    @model_validator(mode="after")
    def _placeholders(self) -> TaskTemplateSpec:
        for i, word in enumerate(self.container.command or ()):
            if any(mark in word for mark in _TEMPLATE_MARKS):
                raise ValueError(f"container.command[{i}]: parameters go in args or env, never in the command")
        shell = self.container.runs_a_shell
        for path, text in self.container.placed():
            for name in PLACEHOLDER.findall(text):
                if name not in self.parameters.properties:
                    known = ", ".join(self.parameters.properties) or "none are declared"
                    raise ValueError(f"container.{path}: reads params.{name}, not a parameter (parameters: {known})")
                if shell and path.startswith("args"):
                    raise ValueError(
                        f"container.{path}: a shell reads these args, so a parameter here would become code;"
                        f" put it in env ({{name: {name.upper()}, value: '{{{{ params.{name} }}}}'}})"
                        f" and read ${name.upper()}"
                    )
            rest = PLACEHOLDER.sub("", text)
            if any(mark in rest for mark in _TEMPLATE_MARKS):
                raise ValueError(
                    f"container.{path}: only {{{{ params.<name> }}}} is replaced in a template; pass anything else"
                    " (execution.id, outputs) as a parameter"
                )
        return self


class TaskTemplate(Resource):
    """A reusable container task, one published version, in one namespace."""

    kind: str = TemplateKind.TASK_TEMPLATE.value
    spec: TaskTemplateSpec


class ClusterTaskTemplate(Resource):
    """A reusable container task, one published version, for every namespace."""

    kind: str = TemplateKind.CLUSTER_TASK_TEMPLATE.value
    spec: TaskTemplateSpec


_HINTS: dict[str, type[BaseModel]] = {
    "container": ContainerTemplate,
    "parameters": TemplateParameters,
    "env": EnvVar,
    "resources": Resources,
    "outputs": TemplateOutput,
}


def parse_template_spec(spec: Any, root: str = "spec") -> TaskTemplateSpec:
    """A template's spec as found in its object; raises SpecError naming every bad field."""
    try:
        return TaskTemplateSpec.model_validate(spec)
    except ValidationError as exc:
        hints: dict[str, type[BaseModel]] = {**_HINTS, "": TaskTemplateSpec, root: TaskTemplateSpec}
        raise SpecError(problems_from(exc, root, frozenset(), hints)) from None


def spec_hash(spec: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the spec as stored (keys sorted): what an Execution records it ran."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


_TYPE_WORDS = {
    ParameterType.STRING: "a string",
    ParameterType.INTEGER: "an integer",
    ParameterType.NUMBER: "a number",
    ParameterType.BOOLEAN: "true or false",
    ParameterType.ARRAY: "a list",
    ParameterType.OBJECT: "a mapping",
}


def _is_type(kind: ParameterType, value: Any) -> bool:
    if kind == ParameterType.STRING:
        return isinstance(value, str)
    if kind == ParameterType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == ParameterType.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == ParameterType.BOOLEAN:
        return isinstance(value, bool)
    if kind == ParameterType.ARRAY:
        return isinstance(value, list | tuple)
    return isinstance(value, dict)


def value_problem(parameter: Parameter, value: Any) -> str | None:
    """Why ``value`` does not fit ``parameter``; None if it does."""
    if not _is_type(parameter.type, value):
        return mismatch(value, _TYPE_WORDS[parameter.type])
    if parameter.enum and value not in parameter.enum:
        return f"{shown(value)} is not one of {', '.join(shown(v) for v in parameter.enum)}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if parameter.minimum is not None and value < parameter.minimum:
            return f"{shown(value)} is less than the minimum {parameter.minimum:g}"
        if parameter.maximum is not None and value > parameter.maximum:
            return f"{shown(value)} is more than the maximum {parameter.maximum:g}"
    if isinstance(value, str | list | tuple):
        if parameter.min_length is not None and len(value) < parameter.min_length:
            return f"{shown(value)} is shorter than {parameter.min_length}"
        if parameter.max_length is not None and len(value) > parameter.max_length:
            return f"{shown(value)} is longer than {parameter.max_length}"
    if (
        isinstance(value, str)
        and parameter.pattern is not None
        and compile_pattern(parameter.pattern).search(value) is None
    ):
        return f"{shown(value)} does not match the pattern {parameter.pattern!r}"
    return None
