"""Sandboxed Jinja2 templates: ``{{ inputs.x }}``, ``{{ outputs.task.key }}``, ``{{ vars.x }}``.

Invariants:
- Rendering runs in ``jinja2.sandbox.ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a
  template cannot reach Python internals nor change the values it is given (``outputs.a.update()``
  would otherwise edit the status it was rendered from), and an undefined name is an error,
  never an empty string.
- ``{{ secret('name', 'key') }}`` never sees the secret's value. It renders ``$(VAR)``, a
  reference Kubernetes expands in a container's command and args, and records ``VAR`` with a
  ``secretKeyRef``; the Job gets the env var. The value never enters a spec, a status or a log.
- ``references`` reads a template without rendering it, so a Flow can be checked for names of
  tasks and inputs that do not exist before anything runs.
- A template cannot build a value of more than ``MAX_SIZE`` characters, digits or items: the
  operations that grow a value (``*``, ``**``, ``+``, ``%``, ``~``, padding and format methods,
  filters with a width or a count, block and macro output, the output itself) are checked before
  they allocate. Templates run in the operator, so one tenant's Flow could otherwise ask it for
  gigabytes (``{{ 'x' * 10**10 }}``). What is not bounded is time: loops that build nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.sandbox import ImmutableSandboxedEnvironment

CONTEXT_ROOTS = frozenset(
    {"inputs", "outputs", "vars", "trigger", "execution", "taskrun", "labels", "error", "flow", "parents"}
)
FALSY = frozenset({"", "false", "0", "no", "off", "none", "null"})
# Names Jinja itself binds: loop state inside {% for %}, and the arguments of a macro.
_JINJA_LOCALS = frozenset({"loop", "caller", "varargs", "kwargs"})


class TemplateError(ValueError):
    """A template that cannot be rendered; the message names what is wrong."""


@dataclass
class SecretRefs:
    """Secrets referenced while rendering: env var name -> (secret name, key)."""

    refs: dict[str, tuple[str, str]] = field(default_factory=dict)

    def reference(self, name: str, key: str) -> str:
        var = secret_env_name(name, key)
        self.refs[var] = (name, key)
        return f"$({var})"


def secret_env_name(name: str, key: str) -> str:
    slug = re.sub(r"[^A-Z0-9]+", "_", f"{name}_{key}".upper()).strip("_")[:40]
    digest = hashlib.sha256(f"{name}/{key}".encode()).hexdigest()[:6].upper()
    return f"OVERTURE_SECRET_{slug}_{digest}"


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _date_filter(value: Any, fmt: str = "%Y-%m-%d") -> str:
    return _to_datetime(value).strftime(fmt)


DATE_ADD_UNITS = ("weeks", "days", "hours", "minutes", "seconds")


def _date_add(value: Any, amount: int, unit: str = "days") -> str:
    """``{{ inputs.day | dateAdd(-1) }}``: a date stays a date (``2026-01-30``), a date-time stays one."""
    if unit not in DATE_ADD_UNITS:
        raise ValueError(f"dateAdd unit {unit!r} is not one of {', '.join(DATE_ADD_UNITS)}")
    moved = _to_datetime(value) + timedelta(**{unit: amount})
    is_date = isinstance(value, date) and not isinstance(value, datetime)
    if (is_date or _DATE_ONLY.fullmatch(str(value))) and unit in ("weeks", "days"):
        return moved.date().isoformat()
    return moved.isoformat()


MAX_SIZE = 1_000_000
"""The most characters, digits or items (counted through nested lists and dicts) a template may build.

Kubernetes stores no object over ~1.5 MB, so no rendered field can usefully be larger."""


def _size(value: Any) -> int:
    """Characters of a string, digits of an int, items of a list or dict and what they hold; the count
    stops soon after ``MAX_SIZE``, so sizing a structure of shared references costs little."""
    total, pending = 0, [value]
    while pending and total <= MAX_SIZE:
        item = pending.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 1
        elif isinstance(item, dict):
            total += len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            pending.extend(item)
        else:
            total += 1
    return total


def _bounded(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise SecurityError(f"{what} would build {size:,} characters or items; a template may build {MAX_SIZE:,}")


def _formatted_size(template: str, specs: Iterable[str], values: Iterable[Any]) -> int:
    """At most how long ``template`` formatted with ``values`` is: every field the largest value,
    padded by every width and precision; a width taken from the values (``*``, ``{}``) by any of them."""
    specs, values = list(specs), list(values)
    widths = sum(int(n) for spec in specs for n in re.findall(r"\d+", spec))
    dynamic = any("*" in spec or "{" in spec for spec in specs)
    widths += sum(abs(v) for v in values if isinstance(v, int)) if dynamic else 0
    return len(template) + widths + len(specs) * max(map(_size, values), default=0)


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?")


def _printf_filter_size(value: Any, *args: Any, **kwargs: Any) -> int:
    return _printf_size(str(value), kwargs or args)


def _printf_size(template: str, args: Any) -> int:
    values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else (args,)
    return _formatted_size(template, _PRINTF_SPEC.findall(template), values)


def _format_size(template: str, *args: Any, **kwargs: Any) -> int:
    specs = [spec or "" for _, name, spec, _ in string.Formatter().parse(template) if name is not None]
    return _formatted_size(template, specs, (*args, *kwargs.values()))


def _format_map_size(template: str, mapping: Mapping[str, Any]) -> int:
    return _format_size(template, **mapping)


def _padded_size(value: Any, width: Any = 80, fillchar: Any = " ") -> int:
    return max(_size(value), width if isinstance(width, int) else 0)


def _expandtabs_size(value: str, tabsize: int = 8) -> int:
    return len(value) + value.count("\t") * tabsize


def _replaced_size(value: Any, old: Any, new: Any, count: Any = None) -> int:
    text = str(value)
    found = text.count(str(old)) if old else len(text) + 1
    found = min(found, count) if isinstance(count, int) and count >= 0 else found
    return len(text) + found * len(str(new))


def _joined_size(separator: Any, items: list[Any]) -> int:
    return _size(items) + len(str(separator)) * len(items)


def _join_filter_size(value: Any, d: Any = "", attribute: Any = None) -> int:
    return _joined_size(d, list(value))


def _translated_size(value: str, table: Any) -> int:
    longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1) if isinstance(table, dict) else 1
    return len(value) * max(longest, 1)


def _indented_size(s: Any, width: Any = 4, first: Any = False, blank: Any = False) -> int:
    text = str(s)
    return len(text) + (text.count("\n") + 1) * (width if isinstance(width, int) else len(str(width)))


def _wrapped_size(
    s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, break_on_hyphens: Any = True
) -> int:
    text = str(s)
    lines = text.count("\n") + 1 + (len(text) // width if isinstance(width, int) and width > 0 else len(text))
    return len(text) + lines * len(str(wrapstring or "\n"))


def _json_size(value: Any, indent: Any = None) -> int:
    if not isinstance(indent, int):
        return 2 * _size(value)
    depth, level = 0, [value]  # every item on its own line, indented by its depth
    while level and depth * indent <= MAX_SIZE:
        level = [
            c for v in level if isinstance(v, dict | list | tuple) for c in (v.values() if isinstance(v, dict) else v)
        ]
        depth += 1
    return _size(value) * (2 + depth * indent)


def _batched_size(value: Any, linecount: Any, fill_with: Any = None) -> int:
    return _size(value) + (linecount if isinstance(linecount, int) else 0)


def _sliced_size(value: Any, slices: Any, fill_with: Any = None) -> int:
    return _size(value) + (slices if isinstance(slices, int) else 0)


def _summed_size(iterable: Any, attribute: Any = None, start: Any = 0) -> int:
    return _size(iterable) + _size(start)


def _lipsum_size(n: Any = 5, *args: Any, **kwargs: Any) -> int:
    most = kwargs.get("max", args[2] if len(args) > 2 else 100)  # lipsum(n, html, min, max) words a paragraph
    return (n if isinstance(n, int) else 1) * (most if isinstance(most, int) else 100) * 16


_STR_METHOD_SIZES: dict[str, Callable[..., int]] = {
    "center": _padded_size,
    "ljust": _padded_size,
    "rjust": _padded_size,
    "zfill": _padded_size,
    "expandtabs": _expandtabs_size,
    "replace": _replaced_size,
    "join": _joined_size,
    "translate": _translated_size,
    "format": _format_size,
    "format_map": _format_map_size,
}
"""How large the result of a ``str`` method that grows its string may be, from its arguments."""

_CALLABLE_SIZES: dict[str, Callable[..., int]] = {
    "center": _padded_size,
    "indent": _indented_size,
    "format": _printf_filter_size,
    "join": _join_filter_size,
    "replace": _replaced_size,
    "wordwrap": _wrapped_size,
    "tojson": _json_size,
    "batch": _batched_size,
    "slice": _sliced_size,
    "sum": _summed_size,
    "lipsum": _lipsum_size,
}
"""The same for the filters and globals that grow a value by an argument (a width, a count); each
takes the arguments by jinja's names, as a template may pass them by keyword."""


def _materialized(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Iterators as lists: they are sized before the call, and sizing one would use it up."""
    return tuple(list(a) if isinstance(a, Iterator) else a for a in args)


def _bounded_call(
    what: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    estimate: Callable[[], int] | None,
    call: Callable[[], Any],
) -> Any:
    """``call()`` once its arguments and its estimated result are within ``MAX_SIZE``; then its result."""
    _bounded(sum(map(_size, (*args, *kwargs.values()))), f"the arguments of {what}")
    if estimate is not None:
        _bounded(estimate(), what)
    result = call()
    _bounded(_size(result), what)
    return result


def _checked(kind: str, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a filter or a global) refusing to build a value over ``MAX_SIZE``."""
    what = f"the {kind} {name}"
    sizer = _CALLABLE_SIZES.get(name)
    passed = 1 if hasattr(function, "jinja_pass_arg") else 0  # the context or environment jinja passes first

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        head, args = args[:passed], _materialized(args[passed:])
        estimate = functools.partial(sizer, *args, **kwargs) if sizer is not None else None
        return _bounded_call(what, args, kwargs, estimate, functools.partial(function, *head, *args, **kwargs))

    return checked


class _Buffer(list[str]):
    """The output of a block, a macro or a call block as it is written, refusing to pass ``MAX_SIZE``."""

    size = 0

    def append(self, part: str) -> None:
        self.size += len(part)
        _bounded(self.size, "the output")
        super().append(part)

    def extend(self, parts: Iterable[str]) -> None:
        for part in parts:
            self.append(part)


class _Generator(CodeGenerator):
    """Compiles output buffers to ``_Buffer`` and ``a ~ b`` to the environment's ``concat``, both of
    which check the size (jinja's own are a plain list and a plain join)."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 (jinja's name)
        self.write("concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, refusing to build a value over ``MAX_SIZE`` (see the module's invariants)."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        what = f"the operator {operator}"
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            _bounded(left.bit_length() * right * 3 // 10, what)
        elif operator == "*" and isinstance(left, int) and isinstance(right, int):
            _bounded(_size(left) + _size(right), what)
        elif operator == "*" and isinstance(right, int):
            _bounded(_size(left) * right, what)
        elif operator == "*" and isinstance(left, int):
            _bounded(_size(right) * left, what)
        elif operator == "%" and isinstance(left, str):
            _bounded(_printf_size(left, right), what)
        elif operator == "+":
            _bounded(_size(left) + _size(right), what)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format at access
        owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
        args = _materialized(args)
        what = f"str.{name}()" if isinstance(owner, str) else f"{name or 'a function'}()"
        sizer = _STR_METHOD_SIZES.get(name) if isinstance(owner, str) else None
        estimate = functools.partial(sizer, owner, *args, **kwargs) if sizer is not None else None
        call = functools.partial(super().call, __context, __obj, *args, **kwargs)
        return _bounded_call(what, args, kwargs, estimate, call)

    @staticmethod
    def buffer() -> _Buffer:
        return _Buffer()

    def concat(self, values: Iterable[Any]) -> str:
        """The output of a template, a block or a macro, and ``a ~ b``, joined once its size is known."""
        parts: list[str] = []
        total = 0
        for value in values:
            if not isinstance(value, str):
                _bounded(_size(value), "a value turned into text")
            parts.append(value if isinstance(value, str) else str(value))
            total += len(parts[-1])
            _bounded(total, "joining text")
        return "".join(parts)


def _printable(value: Any) -> Any:
    """Every ``{{ value }}`` before it is turned into text (a list of shared lists may print as gigabytes)."""
    _bounded(_size(value), "a value turned into text")
    return value


def _make_env() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_printable)
    env.filters["json"] = lambda v: json.dumps(v, sort_keys=True)
    env.filters["fromjson"] = json.loads
    env.filters["date"] = _date_filter
    env.filters["dateAdd"] = _date_add
    env.filters = {name: _checked("filter", name, f) for name, f in env.filters.items()}
    lipsum = env.globals["lipsum"]
    assert callable(lipsum)
    env.globals["lipsum"] = _checked("function", "lipsum", lipsum)
    return env


_ENV = _make_env()

KNOWN_NAMES = CONTEXT_ROOTS | {"secret"} | frozenset(_ENV.globals) | _JINJA_LOCALS
"""Every name a template may read without binding it first."""


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render(template: str, context: Mapping[str, Any], secrets: SecretRefs | None = None) -> str:
    """Render ``template``; raises TemplateError naming the undefined variable or the syntax error."""
    if not is_template(template):
        return template
    refs = secrets if secrets is not None else SecretRefs()
    try:
        try:
            compiled = _ENV.from_string(template)
        except RecursionError:
            raise TemplateError(TOO_DEEP) from None
        return compiled.render({**context, "secret": refs.reference})
    except UndefinedError as exc:
        raise TemplateError(f"{_undefined_message(exc)} in {template.strip()[:120]!r}") from None
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error at line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateError(f"not allowed in a template: {exc}") from None
    except TemplateRuntimeError as exc:  # e.g. an unknown test inside {% if %}, found only when run
        raise TemplateError(f"{exc} in {template.strip()[:120]!r}") from None
    except (TypeError, ValueError, LookupError, AttributeError, ArithmeticError, RecursionError) as exc:
        # ArithmeticError: {{ 1/0 }}, a sandboxed range() too big; RecursionError: a macro calling itself.
        raise TemplateError(f"{type(exc).__name__}: {exc} in {template.strip()[:120]!r}") from None


def _undefined_message(exc: UndefinedError) -> str:
    text = str(exc.message or exc)
    match = re.search(r"'([^']+)' is undefined", text)
    if match:
        return f"undefined variable {match.group(1)!r}"
    match = re.search(r"has no attribute '([^']+)'", text)
    if match:
        return f"undefined key {match.group(1)!r} ({text})"
    return text


def render_value(value: Any, context: Mapping[str, Any], secrets: SecretRefs | None = None) -> Any:
    """Render every string inside a JSON-like value."""
    if isinstance(value, str):
        return render(value, context, secrets)
    if isinstance(value, list | tuple):
        return [render_value(v, context, secrets) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, context, secrets) for k, v in value.items()}
    return value


def is_truthy(rendered: str) -> bool:
    return rendered.strip().lower() not in FALSY


TOO_DEEP = "template nested too deeply to read (brackets or blocks inside each other); flatten it"


def syntax_problem(template: str) -> str | None:
    if not is_template(template):
        return None
    try:
        _ENV.compile(template)  # compiling, not only parsing, also finds unknown filters and tests
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
    if not is_template(template):
        return set()
    try:
        tree = _ENV.parse(template)
    except (TemplateSyntaxError, RecursionError):
        return set()  # reported by syntax_problem
    try:
        return _references(tree)
    except RecursionError:
        return set()


def _references(tree: nodes.Template) -> set[tuple[str, str | None]]:
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
