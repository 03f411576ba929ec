"""How large a template's values may grow: ``MAX_SIZE``, and the size each growing operation would build.

Every operation that grows a value is checked before it allocates (``bounded_call``): its
arguments, then an estimate of its result made from them (the ``*_size`` functions below, one per
``str`` method, filter or global that takes a width or a count), then the result itself. The
estimates are upper bounds: a refused template could have fit, never the other way round.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from overture.templating import budget

MAX_SIZE = 1_000_000
"""The most characters, digits or items (counted through nested lists and dicts) a template may build.

Kubernetes stores no object over ~1.5 MB, so no rendered field can usefully be larger."""


def size(value: Any) -> int:
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


def bounded(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise budget.RefusedError(f"{what} would build {size:,} characters or items; a template may build {MAX_SIZE:,}")


def _formatted_size(template: str, specs: Iterable[str], values: Iterable[Any]) -> int:
    """At most how long ``template`` formatted with ``values`` is: every field the largest value,
    padded by every width and precision; a width taken from the values (``*``, ``{}``) by any of them."""
    specs, values = list(specs), list(values)
    widths = sum(int(n) for spec in specs for n in re.findall(r"\d+", spec))
    dynamic = any("*" in spec or "{" in spec for spec in specs)
    widths += sum(abs(v) for v in values if isinstance(v, int)) if dynamic else 0
    return len(template) + widths + len(specs) * max(map(size, values), default=0)


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?")


def _printf_filter_size(value: Any, *args: Any, **kwargs: Any) -> int:
    return printf_size(str(value), kwargs or args)


def printf_size(template: str, args: Any) -> int:
    values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else (args,)
    return _formatted_size(template, _PRINTF_SPEC.findall(template), values)


def _padded_size(value: Any, width: Any = 80, fillchar: Any = " ") -> int:
    return max(size(value), width if isinstance(width, int) else 0)


def _expandtabs_size(value: str, tabsize: int = 8) -> int:
    return len(value) + value.count("\t") * tabsize


def _replaced_size(value: Any, old: Any, new: Any, count: Any = None) -> int:
    text = str(value)
    found = text.count(str(old)) if old else len(text) + 1
    found = min(found, count) if isinstance(count, int) and count >= 0 else found
    return len(text) + found * len(str(new))


def _joined_size(separator: Any, items: list[Any]) -> int:
    return size(items) + len(str(separator)) * len(items)


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
        return 2 * size(value)
    depth, level = 0, [value]  # every item on its own line, indented by its depth
    while level and depth * indent <= MAX_SIZE:
        level = [
            c for v in level if isinstance(v, dict | list | tuple) for c in (v.values() if isinstance(v, dict) else v)
        ]
        depth += 1
    return size(value) * (2 + depth * indent)


def _batched_size(value: Any, linecount: Any, fill_with: Any = None) -> int:
    return size(value) + (linecount if isinstance(linecount, int) else 0)


def _sliced_size(value: Any, slices: Any, fill_with: Any = None) -> int:
    return size(value) + (slices if isinstance(slices, int) else 0)


def _summed_size(iterable: Any, attribute: Any = None, start: Any = 0) -> int:
    return size(iterable) + size(start)


def _lipsum_size(n: Any = 5, *args: Any, **kwargs: Any) -> int:
    most = kwargs.get("max", args[2] if len(args) > 2 else 100)  # lipsum(n, html, min, max) words a paragraph
    return (n if isinstance(n, int) else 1) * (most if isinstance(most, int) else 100) * 16


STR_METHOD_SIZES: dict[str, Callable[..., int]] = {
    "center": _padded_size,
    "ljust": _padded_size,
    "rjust": _padded_size,
    "zfill": _padded_size,
    "expandtabs": _expandtabs_size,
    "replace": _replaced_size,
    "join": _joined_size,
    "translate": _translated_size,
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


def materialized(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Iterators as lists: they are sized before the call, and sizing one would use it up."""
    return tuple(list(a) if isinstance(a, Iterator) else a for a in args)


def bounded_call(
    what: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    estimate: Callable[[], int] | None,
    call: Callable[[], Any],
) -> Any:
    """``call()`` once its arguments and its estimated result are within ``MAX_SIZE``; then its result.

    Every call ticks the CPU budget first (``budget``): a filter in a loop is where time goes."""
    budget.tick()
    bounded(sum(map(size, (*args, *kwargs.values()))), f"the arguments of {what}")
    if estimate is not None:
        bounded(estimate(), what)
    result = call()
    bounded(size(result), what)
    return result


def checked(kind: str, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a filter or a global) refusing to build a value over ``MAX_SIZE``."""
    what = f"the {kind} {name}"
    sizer = _CALLABLE_SIZES.get(name)
    passed = 1 if hasattr(function, "jinja_pass_arg") else 0  # the context or environment jinja passes first

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        head, args = args[:passed], materialized(args[passed:])
        estimate = functools.partial(sizer, *args, **kwargs) if sizer is not None else None
        return bounded_call(what, args, kwargs, estimate, functools.partial(function, *head, *args, **kwargs))

    return checked
