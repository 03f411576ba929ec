"""What calls turn into outputs: SQL rows and parameters, HTTP responses."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import uuid

import pytest

from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard
from overture.calls.http import HttpResponse, is_expected, response_outputs, shown_url
from overture.calls.perform import perform
from overture.calls.sql import json_value, rows_outputs, typed_parameters


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (decimal.Decimal("42"), 42),
        (decimal.Decimal("42.5"), 42.5),
        (decimal.Decimal("NaN"), "NaN"),
        (datetime.date(2026, 1, 31), "2026-01-31"),
        (datetime.datetime(2026, 1, 31, 2, 0, tzinfo=datetime.UTC), "2026-01-31T02:00:00+00:00"),
        (datetime.timedelta(minutes=1, seconds=30), 90.0),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (b"\x00\x01", "AAE="),
        (float("inf"), "inf"),
        ([decimal.Decimal("1.5"), None], [1.5, None]),
        ({"k": decimal.Decimal("2")}, {"k": 2}),
    ],
)
def test_column_values_become_json(value: object, expected: object) -> None:
    assert json_value(value) == expected


def test_rows_past_the_limit_are_cut_and_said() -> None:
    outputs = rows_outputs(["id"], [(1,), (2,), (3,)], max_rows=2)
    assert outputs == {"columns": ["id"], "rows": [{"id": 1}, {"id": 2}], "rowCount": 2, "truncated": True}


def test_parameters_take_the_types_the_query_expects() -> None:
    values = typed_parameters(
        ("7", "2.5", "yes", "2026-01-31", "x", '{"a": 1}'), ["int4", "numeric", "bool", "date", "text", "jsonb"]
    )
    assert values == [7, decimal.Decimal("2.5"), True, datetime.date(2026, 1, 31), "x", {"a": 1}]


def test_a_parameter_that_does_not_fit_is_named() -> None:
    with pytest.raises(CallError, match=r"parameters\[1\]: 'many' is not a valid int8 \(\$2\)"):
        typed_parameters(("1", "many"), ["int4", "int8"])


def test_a_wrong_number_of_parameters_is_named() -> None:
    with pytest.raises(CallError, match=r"the query takes 2 \(\$1..\$2\), 1 given"):
        typed_parameters(("1",), ["int4", "int4"])


def test_a_json_answer_is_parsed_and_text_is_kept_as_text() -> None:
    assert response_outputs(HttpResponse(200, "application/json; charset=utf-8", b'{"n": 1}')) == {
        "status": 200,
        "json": {"n": 1},
    }
    assert response_outputs(HttpResponse(201, "text/plain", b"created")) == {"status": 201, "body": "created"}
    assert response_outputs(HttpResponse(200, "application/json", b"not json")) == {"status": 200, "body": "not json"}


def test_expected_status_defaults_to_any_2xx() -> None:
    assert is_expected(204, ())
    assert not is_expected(302, ())
    assert is_expected(302, (302,))
    assert not is_expected(200, (201,))


def test_a_url_in_a_message_loses_its_query_and_credentials() -> None:
    assert (
        shown_url("https://user:pw@hooks.example:8443/services/T0/B0?token=abc")
        == "https://hooks.example:8443/services/T0/B0"
    )


def test_rows_to_a_file_without_an_artifact_store_fail_saying_so() -> None:
    request = {"connection": {"host": "db", "database": "d", "user": "u"}, "query": "SELECT 1", "rowsTo": "CsvFile"}
    with pytest.raises(CallError, match="rowsTo: CsvFile needs an artifact store"):
        asyncio.run(perform("sql", request, AddressGuard(), 5))
