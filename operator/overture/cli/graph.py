"""``overture graph``: a flow's tasks as a graph (``overture.topology``), printed as text, Mermaid
or Graphviz DOT. The renderers are pure functions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from overture.cli.client import add_target_options, connect_from
from overture.cli.common import CliError, flow_from_file, parse_flow_document
from overture.cli.tables import table
from overture.documents import YamlDocument
from overture.topology import Graph, Node, build_graph, describe, task_groups

FORMATS = ("text", "mermaid", "dot")
SECTIONS = {"tasks": "", "errors": "on failure", "finally": "always"}


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
        headers: dict[int, int] = {-1: 0}  # group headers above the last node at each depth, its own included
        for node in nodes:
            above = headers[node.depth - 1]
            if node.group is not None and group_of.get(node.depth) != node.group:
                rows.append(["  " * (node.depth + 1 + above) + f"{node.group}:", "", ""])
            group_of[node.depth] = node.group
            headers[node.depth] = above + (node.group is not None)
            for deeper in [d for d in group_of if d > node.depth]:
                del group_of[deeper]
            after = f"after {', '.join(node.after)}" if node.after else ""
            rows.append(["  " * (node.depth + 1 + headers[node.depth]) + node.task.id, describe(node.task), after])
        lines.append(table(rows))
    return "\n".join(lines)


def _quote(text: str) -> str:
    return json.dumps(text)


def render_mermaid(graph: Graph) -> str:
    def label(node: Node) -> str:
        text = f"{node.task.id}<br/>{describe(node.task)}".replace('"', "#quot;")
        return f'{node.key}["{text}"]' if not task_groups(node.task) else f'{node.key}{{{{"{text}"}}}}'

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
        shape = ', shape="hexagon"' if task_groups(node.task) else ""
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
        doc = YamlDocument(cluster.get("flows", args.flow))
        where = f"flow {args.flow!r} in namespace {cluster.namespace!r}"
    else:
        raise CliError("name a flow (overture graph FLOW) or a file (overture graph -f flow.yaml)", 2)
    name = str((doc.value.get("metadata") or {}).get("name") or args.flow or "flow")
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
