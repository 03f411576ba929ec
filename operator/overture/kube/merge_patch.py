"""JSON merge patches (RFC 7386) between two versions of an object: only what changed goes on the wire.

An Execution's status carries the flow's snapshot (``flowSpec``: ~250 KiB of task definitions
for a 10,000-task flow) and every task run; a reconcile changes a few of them. ``diff`` gives
the merge patch that turns ``old`` into ``new``: changed and new keys with their new value,
removed keys as null, objects compared key by key, arrays whole (a merge patch can only
replace an array). ``apply`` is RFC 7386's MergePatch, for the one thing a merge patch cannot
say: a null *value* in ``new`` (null means "remove"). ``diff`` answers None when its patch
would carry such a null (inside an object; an array goes whole, nulls and all), which is the
one way its patch fails to give ``new`` back; the caller then writes the whole object. It sees
that while diffing, so a write does not pay for applying and comparing the whole status again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that turns ``old`` into ``new`` ({} when equal); None if no merge patch can."""
    try:
        return _diff(old, new)
    except _NullValueError:
        return None


class _NullValueError(Exception):
    """``new`` sets a null value that a merge patch would read as "remove this key"."""


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if before == value:
            continue
        if isinstance(before, Mapping) and isinstance(value, Mapping):
            patch[key] = _diff(before, value)
        else:
            _refuse_nulls(value)
            patch[key] = value
    return patch


def _refuse_nulls(value: Any) -> None:
    """Raise _NullValueError for a null that ``apply`` would take for a removal: the value itself, or
    one inside its objects (not inside an array: ``apply`` puts arrays in whole)."""
    if value is None:
        raise _NullValueError
    if isinstance(value, Mapping):
        for item in value.values():
            _refuse_nulls(item)


def apply(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(target, patch): a new value; ``target`` is not modified."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply(result.get(key), value)
    return result


_MISSING = object()
