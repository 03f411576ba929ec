"""How deep a tenant's JSON may nest: ``MAX_DEPTH`` levels, checked without recursion.

Inputs, resume inputs, trigger data, variables and outputs are any JSON a tenant writes. The
apiserver accepts up to 10,000 levels and a CRD schema cannot bound the depth of an untyped
value, so the operator checks it where it reads a Flow or an Execution: a value 1,200 levels deep
once crashed the process (every recursive walk of it, JSON decoding included, ran out of stack).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 32
"""The most levels of lists and objects inside one value (``{"a": [1]}`` is 2 levels)."""


def too_deep(value: Any, path: str, limit: int = MAX_DEPTH) -> str | None:
    """A problem naming the first place where ``value`` nests deeper than ``limit``; None if it does not."""
    pending: list[tuple[Any, str, int]] = [(value, path, 0)]
    while pending:
        item, where, depth = pending.pop()
        if isinstance(item, Mapping):
            children = [(v, f"{where}.{k}", depth + 1) for k, v in item.items()]
        elif isinstance(item, list | tuple):
            children = [(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item)]
        else:
            continue
        if depth + 1 > limit:
            return f"{path}: nested deeper than {limit} levels (found at {where[:200]}); flatten the value"
        pending.extend(children)
    return None
