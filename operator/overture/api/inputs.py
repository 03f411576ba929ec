"""Typed flow inputs and the coercion of given values against them.

``coerce_inputs`` is the one place where an Execution's inputs (strings from a CLI, JSON from a
webhook, YAML from kubectl) become typed values. It returns every problem at once, each naming
the input by path, so a person fixes a run in one go.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, JsonValue, model_validator

from overture.api.common import INPUT_ID_PATTERN, Model, to_timedelta
from overture.api.patterns import PatternError, compile_pattern, full_match


class InputType(StrEnum):
    STRING = "STRING"
    INT = "INT"
    FLOAT = "FLOAT"
    BOOLEAN = "BOOLEAN"
    SELECT = "SELECT"
    DATE = "DATE"
    DATETIME = "DATETIME"
    DURATION = "DURATION"
    JSON = "JSON"
    ARRAY = "ARRAY"
    FILE = "FILE"  # a reference: s3://<bucket>/<key> in the artifact store, or an http(s) URL


class Input(Model):
    """One declared input of a flow."""

    id: str = Field(pattern=INPUT_ID_PATTERN, max_length=63)
    type: InputType = InputType.STRING
    description: str | None = None
    required: bool = True
    default: JsonValue = Field(default=None, description="Used when no value is given; any JSON value")
    values: tuple[str, ...] | None = Field(default=None, description="Allowed values of a SELECT input")
    item_type: InputType | None = Field(default=None, description="Type of the items of an ARRAY input")
    pattern: str | None = Field(default=None, description="Regular expression a STRING must match whole")
    min: float | None = Field(default=None, description="Minimum of an INT or FLOAT, or length of a STRING")
    max: float | None = Field(default=None, description="Maximum of an INT or FLOAT, or length of a STRING")

    @model_validator(mode="after")
    def _check_shape(self) -> Input:
        if self.type == InputType.SELECT and not self.values:
            raise ValueError("a SELECT input needs 'values', the list of allowed choices")
        if self.type == InputType.ARRAY and self.item_type is None:
            raise ValueError("an ARRAY input needs 'itemType', e.g. itemType: STRING")
        if self.item_type in (InputType.ARRAY, InputType.SELECT):
            raise ValueError("itemType cannot be ARRAY or SELECT; use JSON for nested values")
        if self.pattern is not None:
            try:
                compile_pattern(self.pattern)
            except PatternError as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a regular expression: {exc}") from None
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.default is not None:
            _, problem = coerce_value(self, self.default)
            if problem:
                raise ValueError(f"default: {problem}")
        return self


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


FILE_SCHEMES = ("s3://", "http://", "https://")


def _coerce_scalar(kind: InputType, value: Any) -> Any:
    """Convert one value to ``kind``, raising ValueError with a short reason."""
    if kind == InputType.FILE:
        if not isinstance(value, str) or not value.startswith(FILE_SCHEMES):
            raise ValueError("expected a file: s3://<bucket>/<key> or an http(s) URL (`overture run -i NAME=@path`)")
        return value
    if kind == InputType.STRING:
        if isinstance(value, (dict, list)):
            raise ValueError("expected a string")
        return str(value)
    if kind == InputType.INT:
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[-+]?\d+", value.strip()):
            return int(value)
        raise ValueError("expected an integer, e.g. 42")
    if kind == InputType.FLOAT:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number, e.g. 0.5") from None
    if kind == InputType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("expected true or false")
    if kind == InputType.DATE:
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError("expected a date as YYYY-MM-DD") from None
    if kind == InputType.DATETIME:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("expected a date-time as RFC 3339, e.g. 2026-01-31T02:00:00Z") from None
        if parsed.tzinfo is None:
            raise ValueError("expected a date-time with a time zone, e.g. 2026-01-31T02:00:00Z")
        return parsed.isoformat()
    if kind == InputType.DURATION:
        to_timedelta(str(value))
        return str(value)
    if kind == InputType.JSON:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"expected JSON: {exc.msg} at position {exc.pos}") from None
        return value
    raise ValueError(f"unsupported type {kind}")


def _check_bounds(spec: Input, value: Any) -> None:
    measured: float | None = None
    what = "value"
    if spec.type in (InputType.INT, InputType.FLOAT):
        measured = float(value)
    elif spec.type == InputType.STRING:
        measured, what = float(len(value)), "length"
    if measured is None:
        return
    if spec.min is not None and measured < spec.min:
        raise ValueError(f"{what} {measured:g} is below the minimum {spec.min:g}")
    if spec.max is not None and measured > spec.max:
        raise ValueError(f"{what} {measured:g} is above the maximum {spec.max:g}")


def coerce_value(spec: Input, value: Any) -> tuple[Any, str | None]:
    """Return ``(typed value, None)`` or ``(None, reason)``."""
    try:
        if spec.type == InputType.SELECT:
            text = str(value)
            if spec.values is not None and text not in spec.values:
                return None, f"{text!r} is not one of {', '.join(spec.values)}"
            return text, None
        if spec.type == InputType.ARRAY:
            try:
                items = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                items = None
            if not isinstance(items, list):
                return None, "expected a list, e.g. [1, 2] or a JSON array"
            assert spec.item_type is not None
            typed_items = []
            for index, item in enumerate(items):
                try:
                    typed_items.append(_coerce_scalar(spec.item_type, item))
                except ValueError as exc:
                    return None, f"item [{index}]: {exc}"
            return typed_items, None
        typed = _coerce_scalar(spec.type, value)
        if spec.type == InputType.STRING and spec.pattern and not full_match(spec.pattern, typed):
            return None, f"{typed!r} does not match the pattern {spec.pattern!r}"
        _check_bounds(spec, typed)
        return typed, None
    except (ValueError, json.JSONDecodeError) as exc:
        return None, str(exc)
    except OverflowError:  # an integer too large to compare with min/max as a float
        return None, "the number is too large"


def coerce_inputs(
    declared: tuple[Input, ...], given: dict[str, Any], path: str = "spec.inputs"
) -> tuple[dict[str, Any], list[str]]:
    """Validate ``given`` against ``declared``: typed values and a list of problems (empty if fine)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    known = {i.id for i in declared}
    for name in sorted(set(given) - known):
        choices = ", ".join(sorted(known)) or "none are declared"
        problems.append(f"{path}.{name}: the flow declares no such input (inputs: {choices})")
    for spec in declared:
        if spec.id in given and given[spec.id] is not None:
            typed, problem = coerce_value(spec, given[spec.id])
            if problem:
                problems.append(f"{path}.{spec.id}: {problem} ({spec.type.value} input)")
            else:
                values[spec.id] = typed
        elif spec.default is not None:
            values[spec.id] = coerce_value(spec, spec.default)[0]
        elif spec.required:
            problems.append(f"{path}.{spec.id}: required {spec.type.value} input is missing; give a value")
        else:
            values[spec.id] = None
    return values, problems
