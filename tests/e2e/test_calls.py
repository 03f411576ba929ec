"""The operator's own calls against real servers: PostgreSQL 15, an SMTP server, an HTTP server.

``overture.calls.perform`` is what the operator runs for an ``http``, ``sql`` or ``notify`` task
attempt; here it is called directly, with the request the engine renders, so every failure a flow
can meet (wrong password, refused connection, a bad status, a guarded address) is seen with its
message. tests/e2e/test_integrations.py runs the same tasks through flows on the cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from integrations import HttpServer, PostgresServer, SmtpServer, free_port

from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard, parse_networks
from overture.calls.perform import OUTPUTS_LIMIT, perform, reveal

pytestmark = pytest.mark.e2e
LOCAL = AddressGuard(parse_networks("127.0.0.1/32"))


def call(
    kind: str, request: dict[str, Any], guard: AddressGuard = LOCAL, timeout: float = 20, store_file: Any = None
) -> dict[str, Any]:
    return asyncio.run(perform(kind, request, guard, timeout, store_file))


class KeptFiles:
    """A ``store_file`` that keeps each file's bytes, as they came in chunks (the operator's sends
    them to the artifact store: tests/e2e/test_integrations.py)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.chunks = 0

    async def __call__(self, name: str, chunks: AsyncIterator[bytes]) -> str:
        data = bytearray()
        async for chunk in chunks:
            data += chunk
            self.chunks += 1
        self.files[name] = bytes(data)
        return f"s3://kept/{name}"


def connection(pg: PostgresServer, **override: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": pg.port,
        "database": pg.database,
        "user": pg.user,
        "password": pg.password,
    } | override


def test_sql_rows_become_outputs_and_parameters_stay_data(postgres: PostgresServer) -> None:
    postgres.psql(
        "DROP TABLE IF EXISTS games CASCADE; CREATE TABLE games (id int, player text, played date, score numeric)"
    )
    postgres.psql(
        "INSERT INTO games VALUES (1, 'ann', '2026-01-30', 12.5), (2, 'bob', '2026-01-31', 7),"
        " (3, 'cy', '2026-01-31', 9)"
    )
    outputs = call(
        "sql",
        {
            "connection": connection(postgres),
            "query": "SELECT id, player, score FROM games WHERE played = $1 ORDER BY id",
            "parameters": ["2026-01-31"],
        },
    )
    assert outputs == {
        "columns": ["id", "player", "score"],
        "rows": [{"id": 2, "player": "bob", "score": 7}, {"id": 3, "player": "cy", "score": 9}],
        "rowCount": 2,
        "truncated": False,
    }
    hostile = "x'); DROP TABLE games; --"
    outputs = call(
        "sql",
        {
            "connection": connection(postgres),
            "query": "SELECT count(*) AS n FROM games WHERE player = $1",
            "parameters": [hostile],
        },
    )
    assert outputs["rows"] == [{"n": 0}]
    assert postgres.psql("SELECT count(*) FROM games") == "3"


def test_sql_writes_and_row_limit(postgres: PostgresServer) -> None:
    postgres.psql("DROP TABLE IF EXISTS counts; CREATE TABLE counts (day date, n int)")
    outputs = call(
        "sql",
        {
            "connection": connection(postgres),
            "query": "INSERT INTO counts VALUES ($1, $2) RETURNING n",
            "parameters": ["2026-01-31", "42"],
        },
    )
    assert outputs["rows"] == [{"n": 42}]
    assert postgres.psql("SELECT n FROM counts") == "42"
    outputs = call(
        "sql", {"connection": connection(postgres), "query": "SELECT g FROM generate_series(1, 10) g", "maxRows": 3}
    )
    assert (outputs["rowCount"], outputs["truncated"]) == (3, True)


@pytest.mark.parametrize(
    ("override", "query", "message"),
    [
        (
            {"password": "wrong"},
            "SELECT 1",
            r"cannot connect: 28P01: password authentication failed for user \"overture\"",
        ),
        ({"database": "nope"}, "SELECT 1", r"cannot connect: 3D000: database \"nope\" does not exist"),
        ({}, "SELECT missing FROM nowhere", r"42P01: relation \"nowhere\" does not exist"),
        ({}, "SELECT pg_sleep(5)", r"no answer within 1s|did not end within 1s"),
    ],
)
def test_sql_failures_say_what_postgres_said(
    postgres: PostgresServer, override: dict[str, Any], query: str, message: str
) -> None:
    with pytest.raises(CallError, match=message):
        call(
            "sql",
            {"connection": connection(postgres, **override), "query": query},
            timeout=1 if "sleep" in query else 20,
        )


def test_sql_rows_to_a_csv_file_as_postgresql_writes_it(postgres: PostgresServer) -> None:
    postgres.psql("DROP TABLE IF EXISTS notes; CREATE TABLE notes (id int, player text, note text, score numeric)")
    postgres.psql(
        "INSERT INTO notes VALUES (1, 'ann', 'old', 1), (2, 'bob', 'a, \"quoted\" note', 7.5),"
        " (3, 'cy', NULL, 9), (4, 'dee', '', 0)"
    )
    kept = KeptFiles()
    request = {
        "connection": connection(postgres),
        "query": "SELECT id, player, note, score FROM notes WHERE id >= $1 ORDER BY id",
        "parameters": ["2"],
        "maxRows": 1,  # bounds the outputs' rows only: the file has them all
        "rowsTo": "CsvFile",
    }
    outputs = call("sql", request, store_file=kept)
    assert outputs == {"files": {"rows.csv": "s3://kept/rows.csv"}, "columns": ["id", "player", "note", "score"],
                       "rowCount": 3}  # fmt: skip
    # PostgreSQL's CSV: a header, quotes doubled, NULL an empty field, an empty string "".
    assert kept.files["rows.csv"] == b'id,player,note,score\n2,bob,"a, ""quoted"" note",7.5\n3,cy,,9\n4,dee,"",0\n'

    big = KeptFiles()
    request = {"connection": connection(postgres), "query": "SELECT g, md5(g::text) FROM generate_series(1, 200000) g",
               "rowsTo": "CsvFile"}  # fmt: skip
    assert call("sql", request, store_file=big)["rowCount"] == 200_000
    assert big.files["rows.csv"].count(b"\n") == 200_001 and big.chunks > 1  # streamed, not one piece


def test_sql_rows_to_a_file_keep_nothing_of_a_query_that_fails_midway(postgres: PostgresServer) -> None:
    kept = KeptFiles()
    request = {
        "connection": connection(postgres),
        "query": "SELECT g, 1 / (g - 150000) FROM generate_series(1, 200000) g",  # fails after 149,999 rows
        "rowsTo": "CsvFile",
    }
    with pytest.raises(CallError, match=r"22012: division by zero"):
        call("sql", request, store_file=kept)
    assert kept.files == {}
    with pytest.raises(CallError, match=r"rowsTo: CsvFile needs an artifact store"):
        call("sql", {**request, "query": "SELECT 1"})


def test_sql_to_an_unreachable_server_names_it() -> None:
    port = free_port()
    with pytest.raises(CallError, match=rf"PostgreSQL 127.0.0.1:{port}/db: cannot connect"):
        call(
            "sql",
            {"connection": {"host": "127.0.0.1", "port": port, "database": "db", "user": "u"}, "query": "SELECT 1"},
        )


def test_http_answers_become_outputs(http_server: HttpServer) -> None:
    http_server.answer("/api/runs", 201, {"id": "r-1", "queued": True})
    outputs = call(
        "http",
        {
            "method": "POST",
            "url": http_server.url("/api/runs?token=abc"),
            "headers": [{"name": "Authorization", "value": "Bearer $(OVERTURE_SECRET_API_TOKEN_ABC123)"}],
            "json": {"day": "2026-01-31"},
        }
        | {
            "headers": reveal(
                [{"name": "Authorization", "value": "Bearer $(OVERTURE_SECRET_API_TOKEN_ABC123)"}],
                {"OVERTURE_SECRET_API_TOKEN_ABC123": "t0ken"},
            )
        },
    )
    assert outputs == {"status": 201, "json": {"id": "r-1", "queued": True}}
    seen = http_server.requests[-1]
    assert (seen.method, seen.path, seen.json()) == ("POST", "/api/runs?token=abc", {"day": "2026-01-31"})
    assert seen.headers["Authorization"] == "Bearer t0ken"
    assert seen.headers["Content-Type"] == "application/json"


def test_http_unexpected_status_and_unreachable(http_server: HttpServer) -> None:
    http_server.answer("/broken", 503, {"error": "maintenance"})
    with pytest.raises(CallError, match=r"GET http://127.0.0.1:\d+/broken answered 503, expected 2xx: .*maintenance"):
        call("http", {"url": http_server.url("/broken?key=secret")})
    assert call("http", {"url": http_server.url("/broken"), "expectedStatus": [503]})["status"] == 503
    with pytest.raises(CallError, match=r"cannot connect"):
        call("http", {"url": f"http://127.0.0.1:{free_port()}/x"})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/ok",
        "http://localhost:{port}/ok",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/ok",
    ],
)
def test_http_to_internal_addresses_is_refused_without_the_setting(http_server: HttpServer, url: str) -> None:
    http_server.answer("/ok", 200, {})
    before = len(http_server.requests)
    with pytest.raises(CallError, match=r"the operator does not call it"):
        call("http", {"url": url.format(port=http_server.port)}, guard=AddressGuard())
    assert len(http_server.requests) == before


def test_http_outputs_over_the_limit_fail(http_server: HttpServer) -> None:
    http_server.answer("/big", 200, {"blob": "x" * OUTPUTS_LIMIT})
    with pytest.raises(CallError, match=rf"over the {OUTPUTS_LIMIT} an execution's status keeps"):
        call("http", {"url": http_server.url("/big")})


def test_notify_by_slack_webhook_and_email(http_server: HttpServer, smtp_server: SmtpServer) -> None:
    http_server.answer("/services/T0/B0/XyZ", 200, b"ok", "text/plain")
    outputs = call(
        "notify",
        {
            "message": "Flow nightly failed: extract ended FAILED",
            "slack": {"url": http_server.url("/services/T0/B0/XyZ"), "channel": "#data"},
            "email": {
                "server": {"host": "127.0.0.1", "port": smtp_server.port, "tls": "none"},
                "from": "overture@example.org",
                "to": ["oncall@example.org"],
                "subject": "nightly failed",
            },
        },
    )
    assert outputs == {"sent": ["slack", "email"]}
    assert http_server.requests[-1].json() == {"text": "Flow nightly failed: extract ended FAILED", "channel": "#data"}
    mail = smtp_server.messages[-1]
    assert (mail["Subject"], mail["To"]) == ("nightly failed", "oncall@example.org")
    assert mail.get_content().strip() == "Flow nightly failed: extract ended FAILED"


def test_notify_failures_name_the_channel_not_the_webhook_secret(http_server: HttpServer) -> None:
    http_server.answer("/services/T0/B0/SECRET", 404, b"no_service", "text/plain")
    with pytest.raises(CallError) as caught:
        call("notify", {"message": "m", "slack": {"url": http_server.url("/services/T0/B0/SECRET")}})
    assert str(caught.value).startswith("slack: POST the webhook at 127.0.0.1")
    assert "SECRET" not in str(caught.value)
    port = free_port()
    with pytest.raises(CallError, match=rf"email: SMTP 127.0.0.1:{port}: ConnectionRefusedError"):
        call(
            "notify",
            {
                "message": "m",
                "email": {
                    "server": {"host": "127.0.0.1", "port": port, "tls": "none"},
                    "from": "a@example.org",
                    "to": ["b@example.org"],
                },
            },
        )
