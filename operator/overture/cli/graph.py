"""``overture graph``: a flow's tasks as a graph, printed as text, Mermaid or Graphviz DOT.

``build_graph`` reads the order the engine runs tasks in: a list runs one task after the other
unless a task in it has ``dependsOn`` (then it is a DAG); the children of ``parallel`` start
together; a flowable task leads to each of its nested lists (``then``, ``else``, a ``case``...);
``errors`` run when a task failed and ``finally`` always. The renderers are pure functions.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from overture.api import AnyTask, EachTask, FlowSpec, IfTask, ParallelTask, PauseTask, SubflowTask, SwitchTask
from overture.cli.client import add_target_options, connect_from
from overture.cli.common import CliError, flow_from_file, parse_flow_document
from overture.cli.tables import table

FORMATS = ("text", "mermaid", "dot")
SECTIONS = {"tasks": "", "errors": "on failure", "finally": "always"}


@dataclass(frozen=True)
class Node:
    key: str  # n1, n2, ... in declaration order
    task: AnyTask
    section: str
    depth: int
    group: str | None = None  # the nested list it sits in, when its parent has several ("then", "else")
    after: tuple[str, ...] = ()  # task ids it waits for, as the text shows them


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False


@dataclass
class Graph:
    name: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def add(self, task: AnyTask, section: str, depth: int, group: str | None, after: tuple[str, ...]) -> Node:
        node = Node(f"n{len(self.nodes) + 1}", task, section, depth, group, after)
        self.nodes.append(node)
        return node


def build_graph(name: str, flow: FlowSpec) -> Graph:
    graph = Graph(name)
    _, main_exits = _add_list(graph, flow.tasks, "tasks", 0, None)
    exits = main_exits
    if flow.errors:
        entries, error_exits = _add_list(graph, flow.errors, "errors", 0, None)
        graph.edges.extend(Edge(e, n, "on failure", dashed=True) for e in main_exits for n in entries)
        exits = [*main_exits, *error_exits]
    if flow.finally_:
        entries, _ = _add_list(graph, flow.finally_, "finally", 0, None)
        graph.edges.extend(Edge(e, n, "always", dashed=True) for e in exits for n in entries)
    return graph


def _add_list(
    graph: Graph, tasks: Sequence[AnyTask], section: str, depth: int, group: str | None, together: bool = False
) -> tuple[list[str], list[str]]:
    """Add ``tasks`` and their children; return the keys of the list's entry and exit nodes."""
    dag = any(t.depends_on for t in tasks)
    keys: dict[str, str] = {}
    previous: Node | None = None
    needed: set[str] = set()
    for task in tasks:
        if dag:
            after = task.depends_on
        elif together or previous is None:
            after = ()
        else:
            after = (previous.task.id,)
        node = graph.add(task, section, depth, group, after)
        keys[task.id] = node.key
        graph.edges.extend(Edge(keys[a], node.key) for a in after if a in keys)
        needed.update(after)
        groups = _groups(task)
        for label, children in groups:
            entries, _ = _add_list(
                graph, children, section, depth + 1, label if len(groups) > 1 else None, isinstance(task, ParallelTask)
            )
            graph.edges.extend(Edge(node.key, entry, label) for entry in entries)
        previous = node
    ordered = [keys[t.id] for t in tasks]
    if dag:
        return [keys[t.id] for t in tasks if not t.depends_on], [keys[t.id] for t in tasks if t.id not in needed]
    if together:
        return ordered, ordered
    return ordered[:1], ordered[-1:]


def _groups(task: AnyTask) -> list[tuple[str, Sequence[AnyTask]]]:
    if isinstance(task, IfTask):
        return [(label, group) for label, group in (("then", task.then), ("else", task.else_)) if group]
    if isinstance(task, SwitchTask):
        cases: list[tuple[str, Sequence[AnyTask]]] = [(f"case {c.value}", c.tasks) for c in task.cases]
        return cases + ([("default", task.defaults)] if task.defaults else [])
    children = getattr(task, "tasks", None)
    return [("each item" if isinstance(task, EachTask) else "", children)] if children else []


def describe(task: AnyTask) -> str:
    """``shell``, ``each (2 at a time)``, ``subflow -> load-day``, with flags: ``[retry x3, allowFailure]``."""
    text = str(task.type)
    if isinstance(task, EachTask):
        text += f" ({task.concurrency_limit} at a time)" if task.concurrency_limit else " (all at once)"
    elif isinstance(task, ParallelTask):
        text += f" ({task.concurrency} at a time)" if task.concurrency else " (all at once)"
    elif isinstance(task, SubflowTask):
        text += f" -> {task.flow_ref.name}"
    elif isinstance(task, PauseTask):
        text += f" ({task.delay})" if task.delay else " (until resumed)"
    flags = []
    if task.retry is not None:
        flags.append(f"retry x{task.retry.max_attempts}")
    if task.timeout:
        flags.append(f"timeout {task.timeout}")
    if task.run_if:
        flags.append("runIf")
    if task.allow_failure:
        flags.append("allowFailure")
    if task.disabled:
        flags.append("disabled")
    return text + (f" [{', '.join(flags)}]" if flags else "")


# --- renderers ------------------------------------------------------------------------------


def render_text(graph: Graph) -> str:
    lines = [f"flow {graph.name}"]
    for section, label in SECTIONS.items():
        nodes = [n for n in graph.nodes if n.section == section]
        if not nodes:
            continue
        lines.append(f"{section}" + (f" ({label})" if label else "") + ":")
        rows: list[list[str]] = []
        group_of: dict[int, str | None] = {}
        for node in nodes:
            if node.group is not None and group_of.get(node.depth) != node.group:
                rows.append(["  " * (node.depth + 1) + f"{node.group}:", "", ""])
            group_of[node.depth] = node.group
            for deeper in [d for d in group_of if d > node.depth]:
                del group_of[deeper]
            after = f"after {', '.join(node.after)}" if node.after else ""
            rows.append(["  " * (node.depth + 1 + (node.group is not None)) + node.task.id, describe(node.task), after])
        lines.append(table(rows))
    return "\n".join(lines)


def _quote(text: str) -> str:
    return json.dumps(text)


def render_mermaid(graph: Graph) -> str:
    def label(node: Node) -> str:
        text = f"{node.task.id}<br/>{describe(node.task)}".replace('"', "#quot;")
        return f'{node.key}["{text}"]' if not _groups(node.task) else f'{node.key}{{{{"{text}"}}}}'

    lines = ["flowchart TD"]
    for section, title in SECTIONS.items():
        nodes = [n for n in graph.nodes if n.section == section]
        if not nodes:
            continue
        indent = "  "
        if title:
            lines.append(f'  subgraph {section}["{section} ({title})"]')
            indent = "    "
        lines.extend(indent + label(n) for n in nodes)
        if title:
            lines.append("  end")
    for edge in graph.edges:
        if edge.dashed:
            arrow = f"-. {edge.label} .->" if edge.label else "-.->"
        else:
            arrow = f"-->|{edge.label}|" if edge.label else "-->"
        lines.append(f"  {edge.source} {arrow} {edge.target}")
    return "\n".join(lines)


def render_dot(graph: Graph) -> str:
    def node_line(node: Node) -> str:
        shape = ', shape="hexagon"' if _groups(node.task) else ""
        return f"{node.key} [label={_quote(node.task.id + chr(10) + describe(node.task))}{shape}];"

    lines = [f"digraph {_quote(graph.name)} {{", "  rankdir=TB;", '  node [shape="box", style="rounded"];']
    for section, title in SECTIONS.items():
        nodes = [n for n in graph.nodes if n.section == section]
        if not nodes:
            continue
        if title:
            lines.append(f"  subgraph cluster_{section} {{")
            lines.append(f"    label={_quote(f'{section} ({title})')};")
            lines.extend(f"    {node_line(n)}" for n in nodes)
            lines.append("  }")
        else:
            lines.extend(f"  {node_line(n)}" for n in nodes)
    for edge in graph.edges:
        attrs = []
        if edge.label:
            attrs.append(f"label={_quote(edge.label)}")
        if edge.dashed:
            attrs.append('style="dashed"')
        lines.append(f"  {edge.source} -> {edge.target}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines)


RENDERERS = {"text": render_text, "mermaid": render_mermaid, "dot": render_dot}


# --- command ------------------------------------------------------------------------------


def cmd_graph(args: argparse.Namespace) -> int:
    if args.file:
        path = Path(args.file)
        doc = flow_from_file(path, args.flow)
        where = f"{path}"
    elif args.flow:
        cluster = connect_from(args)
        doc = cluster.get("flows", args.flow)
        where = f"flow {args.flow!r} in namespace {cluster.namespace!r}"
    else:
        raise CliError("name a flow (overture graph FLOW) or a file (overture graph -f flow.yaml)", 2)
    name = str((doc.get("metadata") or {}).get("name") or args.flow or "flow")
    spec = parse_flow_document(doc, where)
    print(RENDERERS[args.format](build_graph(name, spec)))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    graph = sub.add_parser("graph", help="print a flow's tasks as a graph (text, Mermaid or DOT)")
    graph.add_argument("flow", nargs="?", metavar="FLOW", help="a Flow in the cluster (or in --file)")
    graph.add_argument("-f", "--file", help="read the flow from this YAML file instead of the cluster")
    graph.add_argument("--format", choices=FORMATS, default="text")
    add_target_options(graph)
    graph.set_defaults(func=cmd_graph)
