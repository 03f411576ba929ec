"""Queries run by the operator (``sql`` tasks) on PostgreSQL, with asyncpg.

The query text is the flow author's, never a template: values come in as ``parameters``
($1, $2, ...), sent apart from the query, so nothing rendered from inputs or outputs can change
what the statement does. Rows become JSON values (``json_value``): numerics as numbers, times as
ISO-8601 text, json/jsonb parsed. At most ``max_rows`` rows are kept; ``truncated`` says when
there were more.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard


@dataclass(frozen=True)
class SqlRequest:
    host: str
    port: int
    database: str
    user: str
    password: str | None
    query: str
    parameters: tuple[str, ...] = ()
    max_rows: int = 100
    timeout: float = 300.0


def json_value(value: Any) -> Any:
    """A column's value as JSON: what a template can read back."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def rows_outputs(columns: list[str], rows: list[tuple[Any, ...]], max_rows: int) -> dict[str, Any]:
    kept = rows[:max_rows]
    return {
        "columns": columns,
        "rows": [{c: json_value(v) for c, v in zip(columns, row, strict=True)} for row in kept],
        "rowCount": len(kept),
        "truncated": len(rows) > max_rows,
    }


_PARSERS: dict[str, Any] = {
    "int2": int, "int4": int, "int8": int, "oid": int,
    "float4": float, "float8": float, "numeric": decimal.Decimal,
    "bool": lambda text: {"true": True, "t": True, "1": True, "yes": True, "on": True,
                          "false": False, "f": False, "0": False, "no": False, "off": False}[text.strip().lower()],
    "date": datetime.date.fromisoformat, "timestamp": datetime.datetime.fromisoformat,
    "timestamptz": datetime.datetime.fromisoformat, "uuid": uuid.UUID,
    "json": json.loads, "jsonb": json.loads,
}  # fmt: skip


def typed_parameters(texts: tuple[str, ...], types: list[str]) -> list[Any]:
    """Rendered parameters (text) as the types PostgreSQL expects for $1, $2, ...

    CallError names the one that does not fit.
    """
    if len(texts) != len(types):
        raise CallError(f"parameters: the query takes {len(types)} ($1..${len(types)}), {len(texts)} given")
    values: list[Any] = []
    for i, (text, kind) in enumerate(zip(texts, types, strict=True)):
        parse = _PARSERS.get(kind, str)
        try:
            values.append(parse(text))
        except (ValueError, KeyError, decimal.InvalidOperation):
            raise CallError(f"parameters[{i}]: {text!r} is not a valid {kind} (${i + 1})") from None
    return values


async def run_query(request: SqlRequest, guard: AddressGuard) -> dict[str, Any]:
    """Run the query; its rows as outputs. CallError names the server and PostgreSQL's message."""
    import asyncio

    where = f"PostgreSQL {request.host}:{request.port}/{request.database}"
    address = (await asyncio.to_thread(guard.resolve, request.host, request.port))[0]
    try:
        connection = await asyncpg.connect(
            host=address, port=request.port, user=request.user, password=request.password,
            database=request.database, timeout=min(request.timeout, 30), ssl="prefer",
        )  # fmt: skip
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise CallError(f"{where}: cannot connect: {_reason(exc)}") from None
    try:
        for kind in ("json", "jsonb"):
            await connection.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        async with connection.transaction():
            statement = await connection.prepare(request.query, timeout=request.timeout)
            arguments = typed_parameters(request.parameters, [t.name for t in statement.get_parameters()])
            cursor = await statement.cursor(*arguments, timeout=request.timeout)
            records = await cursor.fetch(request.max_rows + 1, timeout=request.timeout)
            attributes = statement.get_attributes()
    except TimeoutError:
        raise CallError(f"{where}: the query did not end within {request.timeout:g}s") from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise CallError(f"{where}: {_reason(exc)}") from None
    finally:
        await connection.close(timeout=5)
    columns = [attribute.name for attribute in attributes]
    return rows_outputs(columns, [tuple(record) for record in records], request.max_rows)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.PostgresError):
        return f"{exc.sqlstate}: {exc}" if getattr(exc, "sqlstate", None) else str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
