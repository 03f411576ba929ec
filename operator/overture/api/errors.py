"""Translation of pydantic's errors into messages a person can act on.

Every message names the field by its path in the document (``spec.tasks[2].retry.interval``),
says what was found and what would be accepted. ``SpecError`` is the one exception type the
parsing functions raise; it carries all problems at once.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from overture.api.common import (
    API_VERSION_PATTERN,
    ENV_NAME_PATTERN,
    ID_HINT,
    ID_PATTERN,
    INPUT_ID_PATTERN,
    KIND_PATTERN,
)

PATTERN_HINTS = {
    ID_PATTERN: ID_HINT + " (ids become part of Job and Execution names)",
    INPUT_ID_PATTERN: "use letters, digits and '_', not starting with a digit (read as {{ inputs.id }})",
    ENV_NAME_PATTERN: "use letters, digits and '_', not starting with a digit",
    API_VERSION_PATTERN: "use a group/version as kubectl api-resources shows it, e.g. v1 or batch/v1",
    KIND_PATTERN: "use a kind as kubectl api-resources shows it, e.g. ConfigMap",
}


class SpecError(ValueError):
    """A document that does not describe a valid object; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def format_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _clean_loc(loc: tuple[str | int, ...], tags: frozenset[str]) -> list[str | int]:
    """Drop the union tags pydantic inserts after a list index (``tasks, 0, 'shell', 'id'``)."""
    cleaned: list[str | int] = []
    for i, part in enumerate(loc):
        after_index = i > 0 and isinstance(loc[i - 1], int)
        if isinstance(part, str) and after_index and (part in tags or part.startswith("function-")):
            continue
        if isinstance(part, str) and (part in _UNION_MEMBERS or part.startswith(("tuple[", "list[", "dict["))):
            continue  # a member name of a plain (untagged) union, e.g. `str | tuple[...]` or JsonValue
        cleaned.append(part)
    return cleaned


_UNION_MEMBERS = frozenset({"str", "int", "float", "bool", "list", "dict"})

# What a person would write instead, by pydantic error type (a "tuple" is a YAML list).
_EXPECTED = {
    "string_type": "a string",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _known_fields(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return sorted(f.alias or name for name, f in model.model_fields.items())


# A field written as Kestra (or Argo) writes it, by (owner, field): what to write here instead.
HABITS = {
    ("", "id"): "a Flow's id is its metadata.name",
    ("", "namespace"): "the namespace is metadata.namespace (a Kubernetes namespace)",
    ("", "tasks"): "tasks go under spec: (spec.tasks)",
    ("", "inputs"): "inputs go under spec: (spec.inputs)",
    ("", "triggers"): "triggers go under spec: (spec.triggers)",
    ("spec", "id"): "a Flow's id is its metadata.name",
    ("spec", "namespace"): "the namespace is metadata.namespace (a Kubernetes namespace)",
    ("retry", "type"): "the kind of retry is 'backoff' here: backoff: constant, exponential or random",
    ("retry", "maxAttempt"): "use maxAttempts",
    ("each", "values"): "the list to iterate is 'items' here",
    ("inputs", "defaults"): "use default",
    ("switch", "default"): "use defaults (a list of tasks)",
}


def _describe(error: ErrorDetails, field_hint: list[str], owner: str = "") -> str:
    kind = error["type"]
    found = error.get("input")
    if kind == "extra_forbidden" and (owner, str(error["loc"][-1])) in HABITS:
        return f"unknown field; {HABITS[owner, str(error['loc'][-1])]}"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][-1]), field_hint, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it"
        return f"unknown field; {hint}" + (f" (fields: {', '.join(field_hint)})" if field_hint else "")
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        tag = found_tag(found)
        what = "a known type" if isinstance(tag, str) else "a string"
        return f"{described(tag)} is not {what}; use one of {expected.replace(chr(39), '')}"
    if kind == "union_tag_not_found":
        return "'type' is missing; every task and trigger needs a type"
    if kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        hint = PATTERN_HINTS.get(pattern, f"it must match {pattern}")
        return f"{shown(found)} is not allowed here; {hint}"
    if kind in _EXPECTED:
        return mismatch(found, _EXPECTED[kind])
    if kind == "too_short":
        least = error.get("ctx", {}).get("min_length", 1)
        return f"{shown(found)} is too short; give at least {least} item{'s' if least != 1 else ''}"
    if kind == "string_too_long":
        return f"{shown(found)} is too long; at most {error['ctx']['max_length']} characters"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if found is not None and not isinstance(found, (dict, list)) and kind != "value_error":
        return f"{shown(found)}: {message[0].lower()}{message[1:]}"
    return message


def found_tag(value: Any) -> Any:
    return value.get("type") if isinstance(value, dict) else value


# A string that YAML's flow style reads back as the same string without quotes.
_PLAIN = re.compile(r"[A-Za-z_/.][\w ./-]*(?<! )")
_NOT_PLAIN_WORDS = frozenset({"y", "yes", "n", "no", "true", "false", "on", "off", "null"})
QUOTE_HINT = "; quote it if you meant the text"
COLON_HINT = "; quote it if you meant the text: an unquoted ': ' makes a mapping"


def shown(value: Any) -> str:
    """``value`` as the author would write it in YAML's flow style: ``false``, ``{echo rows: 42}``.

    Messages read by the author of a YAML file name values as written there, never as Python
    prints them (``False``, ``{'echo rows': 42}``). A string at the top is double-quoted (a JSON
    string is a YAML one), so a message shows where it starts and ends.
    """
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else _flow(value)
    if len(text) <= 80:
        return text
    return text[:77] + ('..."' if isinstance(value, str) else "...")


def _flow(value: Any) -> str:
    if isinstance(value, str):
        is_plain = _PLAIN.fullmatch(value) and value.lower() not in _NOT_PLAIN_WORDS
        return value if is_plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(str(k))}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return json.dumps(value)  # bool, None, numbers: true, null, 3, 1.5 as YAML writes them


def described(value: Any) -> str:
    """``value`` with its YAML type, where the written form alone does not say it."""
    if isinstance(value, str):
        return shown(value)
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return f"the boolean {shown(value)}"
    if isinstance(value, int | float):
        return f"the number {shown(value)}"
    return f"the {'mapping' if isinstance(value, dict) else 'list'} {shown(value)}"


def mismatch(found: Any, expected: str) -> str:
    """``found`` is not of the ``expected`` type; where text belongs, says how YAML may have made
    something else of it: ``yes``/``off`` are booleans, ``- echo a: b`` is a mapping."""
    message = f"{described(found)} is not {expected}"
    if "a string" not in expected:
        return message
    if isinstance(found, bool):
        return message + QUOTE_HINT
    if isinstance(found, dict) and len(found) == 1:
        [(key, value)] = found.items()
        if " " in str(key) and not isinstance(value, dict | list):
            return message + COLON_HINT
    return message


def problems_from(
    exc: ValidationError, root: str, tags: frozenset[str], hints: dict[str, type[BaseModel]]
) -> list[str]:
    """One message per pydantic error, prefixed with ``root`` (``spec``).

    ``hints`` maps a union tag or a field name to the model found there, so an unknown field is
    answered with the fields that model does know; the key ``""`` is the root model.
    """
    out: list[str | _TypeMismatch] = []
    mismatches: dict[str, _TypeMismatch] = {}
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    for error in errors:
        raw = tuple(error["loc"])
        if error["type"] == "too_short" and any(len(o) > len(raw) and o[: len(raw)] == raw for o in locs):
            continue  # pydantic also says a list is short when its items failed; say only why
        loc = _clean_loc(raw, tags)
        if error["type"] == "union_tag_invalid" and not isinstance(found_tag(error.get("input")), str):
            loc = [*loc, "type"]  # not even a string (a list, a mapping): name the field itself
        path = format_path([root, *loc]) if loc else root
        if error["type"] in _EXPECTED:
            # A union (``items``: a template string or a list) fails once per member: one message.
            if path not in mismatches:
                mismatches[path] = _TypeMismatch(path, error.get("input"), [])
                out.append(mismatches[path])
            mismatches[path].accepted.append(_EXPECTED[error["type"]])
            continue
        # The field (or union tag) holding the failing one; a list item is named by its list.
        owner = next((str(part) for part in reversed(raw[:-1]) if isinstance(part, str)), "")
        message = f"{path}: {_describe(error, _known_fields(hints.get(owner)), owner)}"
        if message not in out:
            out.append(message)
    return [str(entry) for entry in out]


@dataclass
class _TypeMismatch:
    path: str
    found: Any
    accepted: list[str]

    def __str__(self) -> str:
        return f"{self.path}: {mismatch(self.found, ' or '.join(dict.fromkeys(self.accepted)))}"
