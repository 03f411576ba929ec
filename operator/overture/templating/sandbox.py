"""The Jinja environment templates render in: immutable, sandboxed, bounded in what it builds and
in the CPU it spends.

Jinja's ``ImmutableSandboxedEnvironment`` keeps templates away from Python internals and from
changing what they are given; ``_Sandbox`` adds the size bounds (``bounds``): binary operators,
calls of ``str`` methods and functions, every filter, block and macro output (``_Buffer``), ``~``
and the output itself (``concat``) are checked before they allocate. The same places, and the
first statement of every loop's body, tick the CPU budget (``budget``). ``str.format`` and
``format_map`` are refused: they read attributes by name inside the format string, the way
every known escape from jinja's sandbox went (the ``format`` filter, printf-style, stays).
Inside a container's fields, every ``{{ }}`` value is placed (``placing``): written back escaped
for the kubelet, or for a shell as an env var. ``ENV`` is the one environment.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

from overture.templating import budget
from overture.templating.bounds import (
    STR_METHOD_SIZES,
    bounded,
    bounded_call,
    checked,
    materialized,
    printf_size,
    size,
)
from overture.templating.filters import FILTERS
from overture.templating.placing import placed


class _Buffer(list[str]):
    """The output of a block, a macro or a call block as it is written, refusing to pass ``MAX_SIZE``."""

    size = 0

    def append(self, part: str) -> None:
        self.size += len(part)
        bounded(self.size, "the output")
        super().append(part)

    def extend(self, parts: Iterable[str]) -> None:
        for part in parts:
            self.append(part)


TICKING = "overture_ticking"  # the filter every loop's iterable goes through


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

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The template's tree, every loop's iterable passed through the ``TICKING`` filter (jinja
        allows no node types of its users); a recursive loop's inner levels go through loop(), a call."""
        template = super()._parse(source, name, filename)
        for loop in template.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, TICKING, [], [], None, None, lineno=loop.lineno)
        return template

    def wrap_str_format(self, value: Any) -> None:
        return None  # no sandboxed str.format either: is_safe_attribute refuses it

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in ("format", "format_map"):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget.tick()
        what = f"the operator {operator}"
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            bounded(left.bit_length() * right * 3 // 10, what)
        elif operator == "*" and isinstance(left, int) and isinstance(right, int):
            bounded(size(left) + size(right), what)
        elif operator == "*" and isinstance(right, int):
            bounded(size(left) * right, what)
        elif operator == "*" and isinstance(left, int):
            bounded(size(right) * left, what)
        elif operator == "%" and isinstance(left, str):
            bounded(printf_size(left, right), what)
        elif operator == "+":
            bounded(size(left) + size(right), what)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        args = materialized(args)
        what = f"str.{name}()" if isinstance(owner, str) else f"{name or 'a function'}()"
        sizer = STR_METHOD_SIZES.get(name) if isinstance(owner, str) else None
        estimate = functools.partial(sizer, owner, *args, **kwargs) if sizer is not None else None
        call = functools.partial(super().call, __context, __obj, *args, **kwargs)
        return bounded_call(what, args, kwargs, estimate, call)

    @staticmethod
    def buffer() -> _Buffer:
        return _Buffer()

    def concat(self, values: Iterable[Any]) -> str:
        """The output of a template, a block or a macro, and ``a ~ b``, joined once its size is known."""
        parts: list[str] = []
        total = 0
        for value in values:
            if not isinstance(value, str):
                bounded(size(value), "a value turned into text")
            parts.append(value if isinstance(value, str) else str(value))
            total += len(parts[-1])
            bounded(total, "joining text")
        return "".join(parts)


def _printable(value: Any) -> Any:
    """Every ``{{ value }}`` before it is turned into text (a list of shared lists may print as
    gigabytes), and inside a container's field, its placeholder (``placing``)."""
    bounded(size(value), "a value turned into text")
    return placed(value)


class _Undefined(StrictUndefined):
    """StrictUndefined that lets a context value say why it has no such key
    (``describe_missing(key)``), instead of Jinja naming the value's Python class."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        describe = getattr(type(self._undefined_obj), "describe_missing", None)
        if describe is not None and isinstance(self._undefined_name, str):
            return str(describe(self._undefined_obj, self._undefined_name))
        return str(StrictUndefined._undefined_message.fget(self))  # type: ignore[attr-defined]


def _make_env() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(undefined=_Undefined, autoescape=False, keep_trailing_newline=True, finalize=_printable)
    env.filters.update(FILTERS)
    env.filters = {name: checked("filter", name, f) for name, f in env.filters.items()}
    env.filters[TICKING] = budget.ticking  # not checked: it would turn the loop's iterable into a list
    lipsum = env.globals["lipsum"]
    assert callable(lipsum)
    env.globals["lipsum"] = checked("function", "lipsum", lipsum)
    return env


ENV = _make_env()
