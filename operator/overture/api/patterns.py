"""Input ``pattern`` checks on a linear-time engine (RE2), never Python's backtracking ``re``.

A pattern is written by a flow author and matched against values from anyone who may call the
flow's webhook: with ``re``, ``(a+)+$`` against 28 characters ran for seconds while holding the
GIL, and the whole operator waited. RE2 matches in time linear in the value, so no pattern and no
value can do that; in exchange it refuses backreferences and lookaround, which a pattern then
reports when the Flow is checked (RE2's syntax is Python's for everything else).

RE2 is imported when a first pattern is compiled: most flows have none, and ``overture validate``
starts faster without it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re2  # type: ignore[import-untyped]


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why."""


@lru_cache(maxsize=1)
def _options() -> re2.Options:
    import re2  # lazy: see the module docstring

    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    return options


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re2._Regexp:
    import re2

    try:
        return re2.compile(pattern, options=_options())
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(
            f"{reason} (patterns use RE2 syntax: no backreferences or lookaround, as they cannot be matched "
            "in linear time)"
        ) from None


def full_match(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern`` whole (the pattern must have compiled: see ``compile_pattern``)."""
    return compile_pattern(pattern).fullmatch(text) is not None
