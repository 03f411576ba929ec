"""Reading a template without rendering it: the names it reads, and whether it compiles.

``validation`` checks a Flow with these before anything runs: a template that reads a task, an
input or a variable that does not exist, or a name no template is given, is a problem of the
Flow, named by its path.

Jinja loads when a template is first read, as in ``rendering`` (its module doc says why).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overture.templating.rendering import TOO_DEEP, is_template

if TYPE_CHECKING:
    from jinja2 import nodes

CONTEXT_ROOTS = frozenset(
    {"inputs", "outputs", "vars", "trigger", "execution", "taskrun", "labels", "error", "flow", "parents"}
)
# The keys of the roots whose shape is fixed (the engine's template context; a unit test holds
# the two together), and what a habit from elsewhere (Kestra's flow.id) means here.
CONTEXT_KEYS: dict[str, frozenset[str]] = {
    "execution": frozenset(
        {"id", "name", "namespace", "flow", "startDate", "originalId", "logicalDate", "state", "failures", "duration"}
    ),
    "flow": frozenset({"name", "namespace"}),
    "taskrun": frozenset({"id", "attempt", "value", "iteration", "startDate"}),
}
KEY_HINTS = {("flow", "id"): "flow.name"}
# Names Jinja itself binds: loop state inside {% for %}, and the arguments of a macro.
_JINJA_LOCALS = frozenset({"loop", "caller", "varargs", "kwargs"})
# The sandbox's globals (``sandbox.ENV.globals``, Jinja's default ones; a unit test holds the two
# together), written out so that reading this constant does not load Jinja.
JINJA_GLOBALS = frozenset({"cycler", "dict", "joiner", "lipsum", "namespace", "range"})

KNOWN_NAMES = CONTEXT_ROOTS | {"secret"} | JINJA_GLOBALS | _JINJA_LOCALS
"""Every name a template may read without binding it first."""


def syntax_problem(template: str) -> str | None:
    if not is_template(template):
        return None
    from jinja2 import TemplateSyntaxError

    from overture.templating.sandbox import ENV

    try:
        ENV.compile(template)  # compiling, not only parsing, also finds unknown filters and tests
    except TemplateSyntaxError as exc:
        return f"template syntax error at line {exc.lineno}: {exc.message}"
    except RecursionError:  # jinja's parser recurses once per bracket: "{" * 20000 (found by tests/e2e/test_fuzz.py)
        return TOO_DEEP
    return None


def references(template: str) -> set[tuple[str, str | None]]:
    """``(root, first key)`` pairs the template reads, e.g. ``("outputs", "extract")``.

    The key is None when it is computed (``outputs[name]``) or absent (``{{ inputs }}``).
    Names bound inside the template (``{% for x in ... %}``) are not reported.
    """
    tree = _parsed(template)
    if tree is None:
        return set()
    try:
        return _references(tree)
    except RecursionError:
        return set()


def _parsed(template: str) -> nodes.Template | None:
    """The template's tree; None if it is no template or does not parse (``syntax_problem`` says why)."""
    if not is_template(template):
        return None
    from jinja2 import TemplateSyntaxError

    from overture.templating.sandbox import ENV

    try:
        return ENV.parse(template)
    except (TemplateSyntaxError, RecursionError):
        return None


def _references(tree: nodes.Template) -> set[tuple[str, str | None]]:
    from jinja2 import nodes

    found: set[tuple[str, str | None]] = set()
    keyed: set[int] = set()
    called = {id(call.node) for call in tree.find_all(nodes.Call)}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        key: str | None = None
        if isinstance(node, nodes.Getattr):
            # inputs.get('x') calls a method of the mapping: the key read is computed, not 'get'.
            target, key = node.node, (None if id(node) in called else node.attr)
        elif isinstance(node, nodes.Getitem):
            target = node.node
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                key = node.arg.value
        else:
            continue
        if isinstance(target, nodes.Name) and target.ctx == "load":
            keyed.add(id(target))
            found.add((target.name, key))
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    stored |= {macro.name for macro in tree.find_all(nodes.Macro)}
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx == "load" and id(name_node) not in keyed:
            found.add((name_node.name, None))
    return {(root, key) for root, key in found if root not in stored}


def output_keys(template: str) -> set[tuple[str, str]]:
    """``(task, key)`` pairs of outputs the template names literally: ``outputs.load.rows``,
    ``outputs['load-data']['rows']``. Computed keys are not reported."""
    tree = _parsed(template)
    if tree is None:
        return set()
    from jinja2 import nodes

    found: set[tuple[str, str]] = set()
    try:
        called = {id(call.node) for call in tree.find_all(nodes.Call)}  # outputs.t.get('k'): a method
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            key = None if id(node) in called else _literal_key(node)
            inner = node.node if isinstance(node, nodes.Getattr | nodes.Getitem) else None
            if key is None or not isinstance(inner, nodes.Getattr | nodes.Getitem):
                continue
            task, root = _literal_key(inner), inner.node
            if task is not None and isinstance(root, nodes.Name) and root.name == "outputs" and root.ctx == "load":
                found.add((task, key))
    except RecursionError:
        return set()
    return found


def _literal_key(node: nodes.Node) -> str | None:
    from jinja2 import nodes

    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None
