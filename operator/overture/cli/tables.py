"""Tables of flows and executions with kubectl's columns, and the task runs of one execution.

The columns are the CRDs' ``additionalPrinterColumns`` (``overture.crd``), evaluated here on the
objects the same way kubectl does: the simple JSONPaths they use, ``<none>`` for a missing
value, dates shown as ages (``5m``, ``3h12m``, ``4d``). Pure: objects and the time in, text out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from overture.api import task_run_counts
from overture.api.times import parse_time
from overture.crd import EXECUTION_COLUMNS, FLOW_COLUMNS

COLUMNS = {"flows": FLOW_COLUMNS, "executions": EXECUTION_COLUMNS}
NONE = "<none>"
_FILTER = re.compile(r'\[\?\(@\.(\w+)=="([^"]*)"\)\]')


def jsonpath(obj: Any, path: str) -> Any:
    """The value at a printer-column path: ``.a.b`` and ``.a[?(@.type=="Ready")].b``; None if absent."""
    value = obj
    for part in re.findall(r'\.\w+|\[\?\(@\.\w+=="[^"]*"\)\]', path):
        if part.startswith("."):
            value = value.get(part[1:]) if isinstance(value, Mapping) else None
        else:
            match = _FILTER.fullmatch(part)
            assert match is not None
            key, wanted = match.groups()
            items = value if isinstance(value, list) else []
            value = next((i for i in items if isinstance(i, Mapping) and str(i.get(key)) == wanted), None)
        if value is None:
            return None
    return value


def human_age(seconds: float) -> str:
    """kubectl's ``HumanDuration``: 45s, 3m20s, 42m, 5h10m, 30h, 3d4h, 120d, 3y."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def cell(value: Any, type_: str, now: datetime) -> str:
    if value is None or value == "":
        return NONE
    if type_ == "date":
        moment = parse_time(str(value))
        return human_age((now - moment).total_seconds()) if moment else str(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Columns left-aligned and three spaces apart, as kubectl prints them."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def object_table(
    plural: str, objects: Sequence[Mapping[str, Any]], now: datetime, wide: bool = False, namespaces: bool = False
) -> str:
    """The table ``kubectl get <plural>`` prints for ``objects`` (``-o wide``: ``wide``; ``-A``: ``namespaces``)."""
    columns = [c for c in COLUMNS[plural] if wide or not c.get("priority")]
    header = (["NAMESPACE"] if namespaces else []) + ["NAME"] + [c["name"].upper() for c in columns]
    rows = [header]
    for obj in objects:
        meta = obj.get("metadata") or {}
        row = [str(meta.get("namespace") or "")] if namespaces else []
        row.append(str(meta.get("name")))
        row.extend(cell(jsonpath(obj, c["jsonPath"]), c["type"], now) for c in columns)
        rows.append(row)
    return table(rows)


def task_run_table(status: Mapping[str, Any], now: datetime) -> str:
    """One line per task run: its state, attempts, duration, and outputs or message."""
    rows = [["TASK RUN", "STATE", "ATTEMPTS", "DURATION", "OUTPUTS / MESSAGE"]]
    for run in status.get("taskRuns") or []:  # past 200 runs, the unfinished ones and the first failures
        start, end = parse_time(run.get("startDate")), parse_time(run.get("endDate"))
        duration = human_age(((end or now) - start).total_seconds()) if start else NONE
        detail = json.dumps(run["outputs"]) if run.get("outputs") else (run.get("message") or "")
        detail = " ".join(detail.split())
        rows.append(
            [
                str(run["id"]),
                str(run.get("state")),
                str(len(run.get("attempts") or [])),
                duration,
                detail[:120] + ("..." if len(detail) > 120 else ""),
            ]
        )
    text = table(rows)
    archive = status.get("archivedRuns")
    if isinstance(archive, dict):  # past 200 runs, the unfinished ones and the first failures are listed
        counts = ", ".join(f"{state} {count:,}" for state, count in task_run_counts(status).items())
        text += (
            f"\n... and {archive.get('runs', 0):,} finished task runs more, archived in the status; by state: {counts}"
        )
    return text
