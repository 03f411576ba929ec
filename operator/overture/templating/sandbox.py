"""The Jinja environment templates render in: immutable, sandboxed, and bounded in what it builds.

Jinja's ``ImmutableSandboxedEnvironment`` keeps templates away from Python internals and from
changing what they are given; ``_Sandbox`` adds the size bounds (``bounds``): binary operators,
calls of ``str`` methods and functions, every filter, block and macro output (``_Buffer``), ``~``
and the output itself (``concat``) are checked before they allocate. ``ENV`` is the one environment.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

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
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format at access
        owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
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
    """Every ``{{ value }}`` before it is turned into text (a list of shared lists may print as gigabytes)."""
    bounded(size(value), "a value turned into text")
    return value


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
    lipsum = env.globals["lipsum"]
    assert callable(lipsum)
    env.globals["lipsum"] = checked("function", "lipsum", lipsum)
    return env


ENV = _make_env()
