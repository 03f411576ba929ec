"""The filters Overture adds to Jinja's: ``date``, ``dateAdd``, ``json`` and ``fromjson``.

They are plain functions; ``sandbox`` bounds what they build, as it does for Jinja's own filters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

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


FILTERS: dict[str, Callable[..., Any]] = {
    "json": lambda v: json.dumps(v, sort_keys=True),
    "fromjson": json.loads,
    "date": _date_filter,
    "dateAdd": _date_add,
}
