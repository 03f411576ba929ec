"""A flow's tasks as a graph: the order the engine runs them in. Pure (api only).

``build_graph`` reads that order: a list runs one task after the other unless a task in it has
``dependsOn`` (then it is a DAG); the children of ``parallel`` start together; a flowable task
leads to each of its nested lists (``then``, ``else``, a ``case``...); ``errors`` run when a task
failed and ``finally`` always. ``overture graph`` prints it; the UI draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from overture.api import AnyTask, FlowSpec, ParallelTask


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
    dag = any(t.needs for t in tasks)
    keys: dict[str, str] = {}
    previous: Node | None = None
    needed: set[str] = set()
    for task in tasks:
        if dag:
            after = task.needs
        elif together or previous is None:
            after = ()
        else:
            after = (previous.task.id,)
        node = graph.add(task, section, depth, group, after)
        keys[task.id] = node.key
        graph.edges.extend(Edge(keys[a], node.key) for a in after if a in keys)
        needed.update(after)
        groups = task_groups(task)
        for label, children in groups:
            entries, _ = _add_list(
                graph, children, section, depth + 1, label if len(groups) > 1 else None, isinstance(task, ParallelTask)
            )
            graph.edges.extend(Edge(node.key, entry, label) for entry in entries)
        previous = node
    ordered = [keys[t.id] for t in tasks]
    if dag:
        return [keys[t.id] for t in tasks if not t.needs], [keys[t.id] for t in tasks if t.id not in needed]
    if together:
        return ordered, ordered
    return ordered[:1], ordered[-1:]


def task_groups(task: AnyTask) -> list[tuple[str, Sequence[AnyTask]]]:
    """The nested lists a graph draws (the empty ones left out), by label."""
    return [(group.label, group.tasks) for group in task.groups() if group.tasks]


def describe(task: AnyTask) -> str:
    """``shell``, ``each (2 at a time)``, ``subflow -> load-day``, with flags: ``[retry x3, allowFailure]``."""
    text = str(task.type) + task.detail()
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
