"""Template tasks: resolved against the published TaskTemplates, checked, and expanded.

``Catalog`` holds the TaskTemplate and ClusterTaskTemplate objects the operator's watches
delivered (or the CLI read), each parsed once. For a ``type: template`` task:

- ``resolve`` picks the object: the task's ``kind`` (a TaskTemplate in the flow's namespace, or
  a ClusterTaskTemplate), its ``spec.name``, and the highest ``spec.version`` the task's range
  accepts. Prereleases only when named (``api.versions``).
- ``template_problems`` is what ``validation`` reports for a Flow: an unknown template, no
  matching version, an invalid template object, and every ``with:`` value that is missing, unknown
  or of the wrong type, each named by its path (``spec.tasks[1].with.rows``). A ``with:`` string
  holding a template (``{{ outputs.count.rows }}``) is rendered when the task starts, so its type is
  not known here: it is placed as text.
- ``expand_flow`` is what the operator snapshots into an Execution when it starts: every template
  task replaced by the container task it stands for (the task's own id, dependencies, retry,
  timeout... kept; image, command, args, env and resources from the template, with each
  ``{{ params.<name> }}`` replaced by the parameter's value as text: JSON for lists, mappings,
  numbers and booleans), and which object each came from (``ResolvedTemplate``: kind, name,
  version, the object and its spec's hash), recorded in ``status.templates``.

Pure: no I/O; the catalog is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from overture.api import (
    AnyTask,
    ContainerTask,
    EachTask,
    Flow,
    FlowSpec,
    ResolvedTemplate,
    SpecError,
    TemplateKind,
    TemplateTask,
)
from overture.api.task_template import PLACEHOLDER, TaskTemplateSpec, parse_template_spec, spec_hash, value_problem
from overture.api.tasks import CHILD_LIST_FIELDS
from overture.api.versions import Version, VersionError, highest_match, parse_version
from overture.templating import is_template, output_keys

# The fields of a template task that are the task's own, kept on the container task it becomes.
_OWN_FIELDS = (
    "id",
    "description",
    "dependsOn",
    "runWhen",
    "depends",
    "runIf",
    "disabled",
    "allowFailure",
    "timeout",
    "retry",
)


@dataclass(frozen=True)
class Published:
    """One template object: its identity, and its spec if it parses (else ``problems``)."""

    kind: TemplateKind
    namespace: str  # "" for a ClusterTaskTemplate
    object_name: str
    name: str
    version: Version | None
    spec: TaskTemplateSpec | None
    problems: tuple[str, ...]
    spec_hash: str

    @property
    def title(self) -> str:
        return f"{self.kind.value} {self.name} {self.version} (object {self.object_name})"


def published_from(kind: TemplateKind, body: Mapping[str, Any]) -> Published:
    """A template object as found in the API (never raises)."""
    meta = body.get("metadata") or {}
    raw = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(raw, dict)
    try:
        version: Version | None = parse_version(str(raw.get("version", "")))
    except VersionError:
        version = None
    spec: TaskTemplateSpec | None = None
    problems: tuple[str, ...] = ()
    try:
        spec = parse_template_spec(raw)
    except SpecError as exc:
        problems = tuple(exc.problems)
    namespace = "" if kind == TemplateKind.CLUSTER_TASK_TEMPLATE else str(meta.get("namespace") or "")
    return Published(
        kind,
        namespace,
        str(meta.get("name") or ""),
        str(raw.get("name") or ""),
        version,
        spec,
        problems,
        spec_hash(raw),
    )


class Catalog:
    """Published templates by (kind, namespace, spec.name); built from object bodies."""

    def __init__(self, published: Iterable[Published] = ()) -> None:
        self._by_name: dict[tuple[TemplateKind, str, str], list[Published]] = {}
        for item in published:
            self._by_name.setdefault((item.kind, item.namespace, item.name), []).append(item)

    @classmethod
    def from_bodies(cls, bodies: Iterable[tuple[TemplateKind, Mapping[str, Any]]]) -> Catalog:
        return cls(published_from(kind, body) for kind, body in bodies)

    def versions_of(self, kind: TemplateKind, namespace: str, name: str) -> list[Published]:
        return list(
            self._by_name.get((kind, "" if kind == TemplateKind.CLUSTER_TASK_TEMPLATE else namespace, name), ())
        )

    def names(self, kind: TemplateKind, namespace: str) -> list[str]:
        scope = "" if kind == TemplateKind.CLUSTER_TASK_TEMPLATE else namespace
        return sorted({n for (k, ns, n) in self._by_name if k == kind and ns == scope})

    def all(self) -> list[Published]:
        return [item for items in self._by_name.values() for item in items]


class ResolveError(ValueError):
    """Why a template task names no usable template: ``field`` is its path under the task."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def resolve(task: TemplateTask, namespace: str, catalog: Catalog) -> Published:
    """The template object ``task`` runs; raises ResolveError."""
    ref = task.template
    where = f"in namespace {namespace!r}" if ref.kind == TemplateKind.TASK_TEMPLATE else "in the cluster"
    candidates = catalog.versions_of(ref.kind, namespace, ref.name)
    if not candidates:
        known = ", ".join(catalog.names(ref.kind, namespace)) or "none"
        other = "ClusterTaskTemplate" if ref.kind == TemplateKind.TASK_TEMPLATE else "TaskTemplate (the default kind)"
        raise ResolveError(
            "template.name",
            f"no {ref.kind.value} {ref.name!r} {where} ({ref.kind.value}s there: {known}); apply it, or set"
            f" kind: {other.split()[0]} if it is a {other}",
        )
    versions = [c.version for c in candidates if c.version is not None]
    picked = highest_match(ref.version, versions)
    if picked is None:
        published = ", ".join(str(v) for v in sorted(versions)) or "none"
        raise ResolveError(
            "template.version",
            f"{ref.kind.value} {ref.name!r} has no version matching {ref.version!r} (published: {published})",
        )
    chosen = [c for c in candidates if c.version == picked]
    if len(chosen) > 1:
        objects = ", ".join(sorted(c.object_name for c in chosen))
        raise ResolveError(
            "template.version",
            f"{ref.kind.value} {ref.name!r} {picked} is published twice (objects {objects}); delete one",
        )
    item = chosen[0]
    if item.spec is None:
        raise ResolveError("template", f"{item.title} is invalid: {'; '.join(item.problems)}; publish a fixed version")
    return item


def with_problems(task: TemplateTask, template: Published) -> Iterator[tuple[str, str]]:
    """(field under the task, message) of every ``with:`` value that does not fit the template."""
    assert template.spec is not None
    schema = template.spec.parameters
    label = f"{template.kind.value} {template.name} {template.version}"
    for name, value in task.with_.items():
        parameter = schema.properties.get(name)
        if parameter is None:
            known = ", ".join(schema.properties) or "it takes none"
            yield f"with.{name}", f"{label} has no parameter {name!r} (parameters: {known})"
        elif not (isinstance(value, str) and is_template(value)):
            problem = value_problem(parameter, value)
            if problem is not None:
                yield f"with.{name}", f"{problem} ({label}: {name} is {parameter.type.value})"
    for name in schema.required:
        if name not in task.with_:
            parameter = schema.properties[name]
            about = f": {parameter.description}" if parameter.description else ""
            yield f"with.{name}", f"missing; {label} requires it ({parameter.type.value}{about})"


def template_problems(flow: Flow, catalog: Catalog) -> Iterator[str]:
    """Every problem of the flow's template tasks against ``catalog``, by path."""
    namespace = flow.metadata.namespace or ""
    for path, task in _template_tasks(flow.spec):
        try:
            template = resolve(task, namespace, catalog)
        except ResolveError as exc:
            yield f"{path}.{exc.field}: {exc}"
            continue
        for field, message in with_problems(task, template):
            yield f"{path}.{field}: {message}"


def undeclared_outputs(flow: Flow, catalog: Catalog, templates: Iterable[tuple[str, str]]) -> Iterator[str]:
    """Where a template (``(path, text)``) reads an output a template task's template does not
    declare (``outputs.a.sayd``), when that template declares its outputs. A template task inside
    an ``each`` is left alone: its outputs are read per item."""
    declared: dict[str, tuple[str, tuple[str, ...]]] = {}
    namespace = flow.metadata.namespace or ""
    for _, task, in_each in _walk(flow.spec):
        if not isinstance(task, TemplateTask) or in_each:
            continue
        try:
            template = resolve(task, namespace, catalog)
        except ResolveError:
            continue  # said by template_problems
        assert template.spec is not None
        if template.spec.outputs:
            label = f"{template.kind.value} {template.name} {template.version}"
            declared[task.id] = (label, tuple(o.id for o in template.spec.outputs))
    if not declared:
        return
    for where, text in templates:
        for task_id, key in sorted(output_keys(text)):
            if task_id in declared and key not in declared[task_id][1]:
                label, ids = declared[task_id]
                known = ", ".join(ids)
                yield f"{where}: reads outputs.{task_id}.{key}, which {label} does not declare (outputs: {known})"


def uses_templates(spec: FlowSpec) -> bool:
    return any(True for _ in _template_tasks(spec))


def _template_tasks(spec: FlowSpec) -> Iterator[tuple[str, TemplateTask]]:
    for path, task, _ in _walk(spec):
        if isinstance(task, TemplateTask):
            yield path, task


def _walk(spec: FlowSpec) -> Iterator[tuple[str, AnyTask, bool]]:
    """Every task of the flow with its path, and whether it runs inside an ``each``."""

    def walk(tasks: tuple[AnyTask, ...], path: str, in_each: bool) -> Iterator[tuple[str, AnyTask, bool]]:
        for index, task in enumerate(tasks):
            here = f"{path}[{index}]"
            yield here, task, in_each
            for group in task.groups():
                yield from walk(group.tasks, f"{here}.{group.field}", in_each or isinstance(task, EachTask))

    for root, tasks in (("spec.tasks", spec.tasks), ("spec.errors", spec.errors), ("spec.finally", spec.finally_)):
        yield from walk(tasks, root, False)


def as_text(value: Any) -> str:
    """A parameter's value where it is placed: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def expand_task(task: TemplateTask, template: Published) -> ContainerTask:
    """The container task ``task`` stands for (its ``with:`` checked by ``with_problems`` first)."""
    assert template.spec is not None
    spec = template.spec
    values: dict[str, Any] = {n: p.default for n, p in spec.parameters.properties.items() if p.default is not None}
    values.update(task.with_)

    def place(text: str) -> str:
        return PLACEHOLDER.sub(lambda m: as_text(values.get(m.group(1), "")), text)

    container = spec.container
    own = {k: v for k, v in task.to_wire().items() if k in _OWN_FIELDS}
    wire: dict[str, Any] = {
        **own,
        "type": "container",
        "image": container.image,
        "args": [place(arg) for arg in container.args],
    }
    if container.command:
        wire["command"] = list(container.command)
    if container.image_pull_policy is not None:
        wire["imagePullPolicy"] = container.image_pull_policy
    if container.env:
        wire["env"] = [
            {**var.to_wire(), "value": place(var.value)} if var.value is not None else var.to_wire()
            for var in container.env
        ]
    if container.resources is not None:
        wire["resources"] = container.resources.to_wire()
    return ContainerTask.model_validate(wire)


def expand_flow(spec: FlowSpec, namespace: str, catalog: Catalog) -> tuple[FlowSpec, tuple[ResolvedTemplate, ...]]:
    """``spec`` with every template task expanded, and what each was resolved to; raises SpecError
    with every problem (a template deleted, or a version published, since the Flow was checked)."""
    if not uses_templates(spec):
        return spec, ()
    resolved: list[ResolvedTemplate] = []
    problems: list[str] = []

    def expand_list(tasks: Any, path: str) -> Any:
        if not isinstance(tasks, list):
            return tasks
        out = []
        for index, raw in enumerate(tasks):
            here = f"{path}[{index}]"
            if isinstance(raw, dict) and raw.get("type") == "template":
                task = TemplateTask.model_validate(raw)
                try:
                    template = resolve(task, namespace, catalog)
                except ResolveError as exc:
                    problems.append(f"{here}.{exc.field}: {exc}")
                    out.append(raw)
                    continue
                wrong = [f"{here}.{field}: {message}" for field, message in with_problems(task, template)]
                if wrong:
                    problems.extend(wrong)
                    out.append(raw)
                    continue
                resolved.append(
                    ResolvedTemplate(
                        task_id=task.id,
                        kind=template.kind,
                        name=template.name,
                        version=str(template.version),
                        object_name=template.object_name,
                        spec_hash=template.spec_hash,
                    )
                )
                out.append(expand_task(task, template).to_wire())
                continue
            out.append(_expand_children(raw, here, expand_list))
        return out

    wire = spec.to_wire()
    for field in ("tasks", "errors", "finally"):
        if field in wire:
            wire[field] = expand_list(wire[field], f"spec.{field}")
    if problems:
        raise SpecError(problems)
    # taskDefaults are already merged into every task; merged again on the snapshot they would
    # reach the container tasks a template made, which the template alone describes
    wire.pop("taskDefaults", None)
    return FlowSpec.model_validate(wire), tuple(resolved)


def _expand_children(raw: Any, path: str, expand_list: Any) -> Any:
    """A flowable's raw task with its nested lists expanded."""
    if not isinstance(raw, dict):
        return raw
    task = dict(raw)
    for field in CHILD_LIST_FIELDS:
        if field in task:
            task[field] = expand_list(task[field], f"{path}.{field}")
    if isinstance(task.get("cases"), list):
        task["cases"] = [
            {**case, "tasks": expand_list(case.get("tasks"), f"{path}.cases[{i}].tasks")}
            if isinstance(case, dict)
            else case
            for i, case in enumerate(task["cases"])
        ]
    return task
