"""Checks of a Flow beyond its schema, all problems at once.

``validate_flow`` answers with a list of messages, each naming the field by its path and saying
how to fix it; an empty list means the flow can run. ``read_flow`` is the one way a Flow document
is read: parsed against the models, then checked here. It serves ``overture validate`` and every
other command, the operator (the Flow's Ready condition, executions starting, triggers: through
``kube.flow_cache``), the local runner and the tests, so a flow that passes locally is accepted by
the cluster.

Rules (each documented where it is checked):
- task ids are unique in the whole flow (tasks, errors, finally, and every nested flowable),
  and stay unique once '_' becomes '-' in object names;
- ``dependsOn`` names a sibling in the same list; cycles are reported with the cycle spelled out;
- templates parse, and read only tasks, inputs and variables that exist, and only names a
  template is given (inputs, outputs, vars, trigger, ...), not a typo like ``input``;
- schedule triggers have a valid cron and IANA timezone; trigger ids are unique, also once '_'
  becomes '-'; trigger inputs are declared in spec.inputs;
- the flow's name is a DNS subdomain, and fits in 63 characters (it is a label value);
- with the published templates at hand (the operator's ``Catalog``, or the templates given to
  ``overture validate``), every ``type: template`` task names a template and version that exist,
  its ``with:`` fits the template's parameters (``template_tasks.template_problems``), and what
  reads its outputs reads only those its template declares, if it declares any
  (``template_tasks.undeclared_outputs``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from overture.api import (
    AnyTask,
    Flow,
    FlowSpec,
    ScheduleTrigger,
    SpecError,
    SubflowTask,
    child_groups,
    parse_flow,
    value_templates,
    walk_tasks,
)
from overture.api.common import is_dns_subdomain, object_name_part
from overture.documents import YamlDocument
from overture.template_tasks import Catalog, template_problems, undeclared_outputs
from overture.templating import CONTEXT_KEYS, CONTEXT_ROOTS, KEY_HINTS, KNOWN_NAMES, references, syntax_problem

CRON_ALIASES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_CRON_PROBE_START = datetime(2000, 1, 1)  # a leap year: "0 0 29 2 *" fires in it
CRON_HINT = 'use 5 fields ("0 2 * * *") or @hourly, @daily, @weekly, @monthly, @yearly'


def task_lists(spec: FlowSpec) -> list[tuple[str, tuple[AnyTask, ...]]]:
    """The three top-level task lists with their paths."""
    return [("spec.tasks", spec.tasks), ("spec.errors", spec.errors), ("spec.finally", spec.finally_)]


def all_tasks(spec: FlowSpec) -> list[tuple[str, AnyTask]]:
    found: list[tuple[str, AnyTask]] = []
    for path, tasks in task_lists(spec):
        found.extend(walk_tasks(tasks, path))
    return found


def _check_ids(tasks: list[tuple[str, AnyTask]]) -> Iterator[str]:
    first_seen: dict[str, str] = {}
    object_names: dict[str, tuple[str, str]] = {}
    for path, task in tasks:
        if task.id in first_seen:
            yield f"{path}.id: {task.id!r} is already the id of {first_seen[task.id]}; task ids must be unique"
            continue
        first_seen[task.id] = path
        name = object_name_part(task.id)
        if name in object_names:
            other_path, other_id = object_names[name]
            yield (
                f"{path}.id: {task.id!r} and {other_id!r} ({other_path}) give the same object name {name!r}; rename one"
            )
        object_names[name] = (path, task.id)


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str] | None:
    """Kahn's algorithm; if nodes remain, walk them to spell one cycle out."""
    indegree = dict.fromkeys(graph, 0)
    dependants: dict[str, list[str]] = {node: [] for node in graph}
    for node, deps in graph.items():
        for dep in deps:
            if dep in graph:
                indegree[node] += 1
                dependants[dep].append(node)
    ready = [n for n, d in indegree.items() if d == 0]
    while ready:
        node = ready.pop()
        for nxt in dependants[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    remaining = {n for n, d in indegree.items() if d > 0}
    if not remaining:
        return None
    start = min(remaining)
    path = [start]
    node = start
    while True:
        node = min(d for d in graph[node] if d in remaining)
        if node in path:
            return [*path[path.index(node) :], node]
        path.append(node)


def _check_dependencies(path: str, tasks: tuple[AnyTask, ...], every_id: set[str]) -> Iterator[str]:
    siblings = {t.id for t in tasks}
    for index, task in enumerate(tasks):
        for dep_index, dep in enumerate(task.needs):
            where = f"{path}[{index}]." + (f"dependsOn[{dep_index}]" if task.depends is None else "depends")
            if dep == task.id:
                yield f"{where}: a task cannot depend on itself"
            elif dep not in siblings:
                if dep in every_id:
                    yield f"{where}: {dep!r} is not in the same task list; dependsOn names a sibling task"
                else:
                    choices = ", ".join(sorted(siblings - {task.id})) or "none"
                    yield f"{where}: no task {dep!r} in this list (tasks here: {choices})"
        for field, group in child_groups(task):
            yield from _check_dependencies(f"{path}[{index}].{field}", group, every_id)
    graph = {t.id: t.needs for t in tasks}
    cycle = _find_cycle(graph)
    if cycle:
        yield f"{path}: dependsOn forms a cycle {' -> '.join(cycle)}; remove one of these dependencies"


# retry.when also reads the attempt that failed (engine/kinds.py: Runnable).
RETRY_ROOTS = frozenset({"attempt"})


def _check_template(
    where: str,
    template: str,
    task_ids: set[str],
    input_ids: set[str],
    var_names: set[str],
    extra: frozenset[str] = frozenset(),
) -> Iterator[str]:
    problem = syntax_problem(template)
    if problem:
        yield f"{where}: {problem}"
        return
    found = references(template)
    for root in sorted({root for root, _ in found} - KNOWN_NAMES - extra):
        # outputs.load-data.rows reads outputs.load minus data.rows: say how to write the id.
        dashed = re.search(rf"([\w-]+)-{root}\b", template)
        hint = f"; an id with '-' is read as outputs['{dashed.group(1)}-{root}']" if dashed else ""
        yield f"{where}: reads {root!r}, which is not defined (names: {', '.join(sorted(CONTEXT_ROOTS))}){hint}"
    for root, key in sorted(found, key=lambda r: (r[0], r[1] or "")):
        if key is None:
            continue
        if root == "outputs" and key not in task_ids:
            yield f"{where}: reads outputs of {key!r}, but no task has that id (tasks: {', '.join(sorted(task_ids))})"
        elif root == "inputs" and key not in input_ids:
            choices = ", ".join(sorted(input_ids)) or "none are declared"
            yield f"{where}: reads input {key!r}, which is not declared in spec.inputs (inputs: {choices})"
        elif root == "vars" and key not in var_names:
            choices = ", ".join(sorted(var_names)) or "none are declared"
            yield f"{where}: reads variable {key!r}, which is not in spec.variables (variables: {choices})"
        elif root in CONTEXT_KEYS and key not in CONTEXT_KEYS[root]:
            hint = f"; use {KEY_HINTS[root, key]}" if (root, key) in KEY_HINTS else ""
            known = ", ".join(sorted(CONTEXT_KEYS[root]))
            yield f"{where}: reads {root}.{key}, which is not defined ({root} has: {known}){hint}"


def _check_triggers(spec: FlowSpec, allow_seconds_cron: bool) -> Iterator[str]:
    seen: dict[str, str] = {}  # object name part -> trigger id
    for index, trigger in enumerate(spec.triggers):
        where = f"spec.triggers[{index}]"
        name = object_name_part(trigger.id)
        if trigger.id in seen.values():
            yield f"{where}.id: {trigger.id!r} is used by another trigger; trigger ids must be unique"
        elif name in seen:
            yield f"{where}.id: {trigger.id!r} and {seen[name]!r} give the same object name {name!r}; rename one"
        seen.setdefault(name, trigger.id)
        if isinstance(trigger, ScheduleTrigger):
            cron_problem = cron_problem_of(trigger.cron, allow_seconds_cron)
            if cron_problem:
                yield f"{where}.cron: {cron_problem}"
            if not is_timezone(trigger.timezone):
                yield f"{where}.timezone: {trigger.timezone!r} is not an IANA time zone; use e.g. UTC or Europe/Paris"


def cron_problem_of(cron: str, allow_seconds: bool = False) -> str | None:
    """Why ``cron`` cannot schedule anything; None if it can. 6-field crons with seconds first
    (``*/5 * * * * *``) exist for fast tests only: the operator accepts them with
    ``OVERTURE_ALLOW_SECONDS_CRON=true`` (``allow_seconds``)."""
    # croniter (and dateutil under it) is imported only for a flow with a schedule: it was a
    # sixth of `overture validate`'s start-up.
    from croniter import CroniterBadDateError, croniter

    text = cron.strip()
    if text.startswith("@"):
        return None if text in CRON_ALIASES else f"{cron!r} is not a known alias; {CRON_HINT}"
    fields = len(text.split())
    if fields != 5 and not (allow_seconds and fields == 6):
        return f"{cron!r} has {fields} fields, not 5; {CRON_HINT}"
    if not croniter.is_valid(text, second_at_beginning=fields == 6):
        return f"{cron!r} is not a valid cron expression; {CRON_HINT}"
    try:  # valid fields can still name no date at all, e.g. "0 0 31 2 *" (February 31st)
        croniter(text, _CRON_PROBE_START, second_at_beginning=fields == 6).get_next(datetime)
    except CroniterBadDateError:
        return f"{cron!r} never fires: no date matches it; {CRON_HINT}"
    return None


_ZONES: set[str] | None = None


def is_timezone(name: str) -> bool:
    global _ZONES
    if _ZONES is None:
        _ZONES = set(available_timezones())
    if name in _ZONES or name == "UTC":
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a directory of zones
        return False
    return True


def _check_names(flow: Flow) -> Iterator[str]:
    if not is_dns_subdomain(flow.metadata.name):
        yield (
            f"metadata.name: {flow.metadata.name!r} is not a valid object name; use lowercase letters, digits, "
            "'-' and '.', starting and ending with a letter or digit"
        )
    elif len(flow.metadata.name) > 63:
        yield (
            f"metadata.name: {flow.metadata.name!r} is {len(flow.metadata.name)} characters; a flow name is "
            "a label value on its executions and Jobs, so use at most 63"
        )
    if flow.spec.service_account_name and not is_dns_subdomain(flow.spec.service_account_name):
        yield f"spec.serviceAccountName: {flow.spec.service_account_name!r} is not a valid ServiceAccount name"
    for path, task in all_tasks(flow.spec):
        if isinstance(task, SubflowTask):
            ns = task.flow_ref.namespace
            if ns is not None and flow.metadata.namespace is not None and ns != flow.metadata.namespace:
                yield (
                    f"{path}.flowRef.namespace: a subflow must be in the flow's own namespace "
                    f"({flow.metadata.namespace!r}), not {ns!r}"
                )


def _check_inputs(spec: FlowSpec) -> Iterator[str]:
    for field, ids in (("inputs", [i.id for i in spec.inputs]), ("outputs", [o.id for o in spec.outputs])):
        for index, declared in enumerate(ids):
            if declared in ids[:index]:
                yield f"spec.{field}[{index}].id: {declared!r} is declared twice"


@dataclass(frozen=True)
class FlowReading:
    """A Flow document as read: the Flow if it parses, and every problem by its path."""

    parsed: Flow | None
    problems: tuple[str, ...] = ()

    @property
    def flow(self) -> Flow | None:
        """The Flow if it can run: it parses and has no problem."""
        return self.parsed if not self.problems else None

    def valid(self) -> Flow:
        """The Flow; raises SpecError listing every problem if it cannot run."""
        if self.parsed is None or self.problems:
            raise SpecError(list(self.problems))
        return self.parsed


def read_flow(doc: Any, allow_seconds_cron: bool = False, catalog: Catalog | None = None) -> FlowReading:
    """A decoded YAML/JSON document read as a Flow: parsed against the models, then, if it parses,
    checked (``validate_flow``)."""
    try:
        flow = parse_flow(doc)
    except SpecError as exc:
        return FlowReading(None, tuple(exc.problems))
    return FlowReading(flow, tuple(validate_flow(flow, allow_seconds_cron, catalog)))


def validate_flow(flow: Flow, allow_seconds_cron: bool = False, catalog: Catalog | None = None) -> list[str]:
    """Every problem of an already-parsed Flow, as messages naming the field; [] when valid.
    Template tasks are checked against the published templates (``catalog``) when given (None: not checked)."""
    spec = flow.spec
    tasks = all_tasks(spec)
    task_ids = {task.id for _, task in tasks}
    input_ids = {i.id for i in spec.inputs}
    var_names = set(spec.variables)
    problems: list[str] = []
    problems.extend(_check_names(flow))
    problems.extend(_check_inputs(spec))
    problems.extend(_check_ids(tasks))
    for path, group in task_lists(spec):
        problems.extend(_check_dependencies(path, group, task_ids))
    reading_outputs: list[tuple[str, str]] = []  # (path, template) of what may read task outputs
    for path, task in tasks:
        for field, template in task.templates():
            extra = RETRY_ROOTS if field == "retry.when" else frozenset()
            problems.extend(_check_template(f"{path}.{field}", template, task_ids, input_ids, var_names, extra))
            reading_outputs.append((f"{path}.{field}", template))
    for index, output in enumerate(spec.outputs):
        for field, template in value_templates("value", output.value):
            problems.extend(_check_template(f"spec.outputs[{index}].{field}", template, task_ids, input_ids, var_names))
            reading_outputs.append((f"spec.outputs[{index}].{field}", template))
    problems.extend(_check_triggers(spec, allow_seconds_cron))
    for index, trigger in enumerate(spec.triggers):
        for name in trigger.inputs:
            if name not in input_ids:
                choices = ", ".join(sorted(input_ids)) or "none are declared"
                where = f"spec.triggers[{index}].inputs.{name}"
                problems.append(f"{where}: the flow declares no such input (inputs: {choices})")
        templates = list(value_templates("inputs", trigger.inputs))
        if trigger.condition is not None:
            templates.append(("condition", trigger.condition))
        for field, template in templates:
            where = f"spec.triggers[{index}].{field}"
            problems.extend(_check_template(where, template, task_ids, input_ids, var_names))
    if catalog is not None:
        problems.extend(template_problems(flow, catalog))
        problems.extend(undeclared_outputs(flow, catalog, reading_outputs))
    return _unique(problems)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def flow_problems(document: YamlDocument, catalog: Catalog | None = None) -> list[str]:
    """Schema and semantic problems of one Flow document read from YAML, each with how YAML read
    the value it names where that may not be what was meant (``id: n`` is false: quote it); []
    if it is valid. ``overture validate`` and the web UI's validate and apply show these; template
    tasks are checked against ``catalog`` when given."""
    return document.explain(read_flow(document.value, catalog=catalog).problems)
