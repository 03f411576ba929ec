"""Queries run by the operator (``sql`` tasks) on PostgreSQL, with asyncpg.

The query text is the flow author's, never a template: values come in as ``parameters``
($1, $2, ...), sent apart from the query, so nothing rendered from inputs or outputs can change
what the statement does. Rows become JSON values (``json_value``): numerics as numbers, times as
ISO-8601 text, json/jsonb parsed. At most ``max_rows`` rows are kept; ``truncated`` says when
there were more.

``export_csv`` sends every row to a file instead (``rowsTo: CsvFile``): PostgreSQL writes the CSV
itself (``COPY (query) TO STDOUT WITH CSV HEADER``: its quoting, NULL as an empty field, an empty
string as ``""``), streamed to the caller's ``StoreFile`` through a small queue, so the operator
holds a few chunks of it at a time, never the whole result.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import decimal
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard

if TYPE_CHECKING:
    import asyncpg


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


# Stores one file of the attempt (its name, its bytes as they come); the file's s3:// reference.
StoreFile = Callable[[str, AsyncIterator[bytes]], Awaitable[str]]
CSV_FILE = "rows.csv"
_QUEUED_CHUNKS = 16  # asyncpg hands COPY's data over in chunks of up to ~64 KiB


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


@asynccontextmanager
async def _transaction(request: SqlRequest, guard: AddressGuard) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the guarded address, in a transaction; PostgreSQL's errors as CallError
    naming the server."""
    import asyncpg  # here, not at the top: ~3 MiB of the operator's memory, for sql tasks only

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
            yield connection
    except TimeoutError:
        raise CallError(f"{where}: the query did not end within {request.timeout:g}s") from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise CallError(f"{where}: {_reason(exc)}") from None
    finally:
        await connection.close(timeout=5)


async def run_query(request: SqlRequest, guard: AddressGuard) -> dict[str, Any]:
    """Run the query; its rows as outputs. CallError names the server and PostgreSQL's message."""
    async with _transaction(request, guard) as connection:
        statement = await connection.prepare(request.query, timeout=request.timeout)
        arguments = typed_parameters(request.parameters, [t.name for t in statement.get_parameters()])
        cursor = await statement.cursor(*arguments, timeout=request.timeout)
        records = await cursor.fetch(request.max_rows + 1, timeout=request.timeout)
        attributes = statement.get_attributes()
    columns = [attribute.name for attribute in attributes]
    return rows_outputs(columns, [tuple(record) for record in records], request.max_rows)


async def export_csv(request: SqlRequest, guard: AddressGuard, store_file: StoreFile) -> dict[str, Any]:
    """Run the query with every row to ``rows.csv`` (header first) through ``store_file``; the
    outputs are the file's reference, ``columns`` and ``rowCount``. Nothing is kept from a query
    that fails: ``store_file`` sees its chunks end in an error, not an end."""
    async with _transaction(request, guard) as connection:
        statement = await connection.prepare(request.query, timeout=request.timeout)
        arguments = typed_parameters(request.parameters, [t.name for t in statement.get_parameters()])
        columns = [attribute.name for attribute in statement.get_attributes()]
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(_QUEUED_CHUNKS)

        async def copy() -> str:
            try:
                status = await connection.copy_from_query(
                    request.query, *arguments, output=queue.put, format="csv", header=True, timeout=request.timeout
                )
            except Exception as exc:
                await queue.put(exc)  # the upload ends in an error, not with a cut file
                raise
            await queue.put(None)
            return str(status)

        copying = asyncio.create_task(copy(), name="sql copy")
        try:
            uri = await store_file(CSV_FILE, _drained(queue))
        except BaseException:
            copying.cancel()  # blocked on a full queue if the upload failed first
            with suppress(asyncio.CancelledError):
                await copying  # the query's own error, if it failed, says more than the upload's
            raise
        status = await copying
    return {"files": {CSV_FILE: uri}, "columns": columns, "rowCount": int(status.rsplit(" ", 1)[-1])}


async def _drained(queue: asyncio.Queue[bytes | BaseException | None]) -> AsyncIterator[bytes]:
    """The chunks put in ``queue`` until None; the producer's error, raised, if it failed."""
    while True:
        item = await queue.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise CallError("the query failed while its rows were being stored; nothing was kept")
        yield item


def _reason(exc: BaseException) -> str:
    import asyncpg

    if isinstance(exc, asyncpg.PostgresError):
        return f"{exc.sqlstate}: {exc}" if getattr(exc, "sqlstate", None) else str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
