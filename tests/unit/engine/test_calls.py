"""Call tasks (http, sql, notify): one StartCall per attempt, asked again until answered, retried, timed out.

The engine never makes a request: it renders one (``StartCall``) and reads the operator's answer
from ``Observed.calls``. These tests play the operator's part with plain values.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from support.sim import T0, make_execution

from overture.api import Execution, FlowSpec, SpecError, State, parse_flow
from overture.engine import CallObservation, Decision, Observed, StartCall, step


def drive(
    flow: FlowSpec, execution: Execution, answers: dict[str, CallObservation], at: float
) -> tuple[Execution, Decision]:
    decision = step(flow, execution, Observed(calls=answers), T0 + timedelta(seconds=at))
    return execution.model_copy(update={"status": decision.status}), decision


def calls(decision: Decision) -> list[StartCall]:
    return [a for a in decision.actions if isinstance(a, StartCall)]


def run_of(execution: Execution, task_run: str) -> Any:
    assert execution.status is not None
    return next(r for r in execution.status.task_runs if r.id == task_run)


HTTP = {
    "id": "post",
    "type": "http",
    "method": "POST",
    "url": "https://api.example.org/runs/{{ inputs.day }}",
    "headers": [{"name": "Authorization", "value": "Bearer {{ secret('api', 'token') }}"}],
    "json": {"rows": "{{ outputs.count.rows[0].n }}", "fixed": 3},
    "expectedStatus": [201],
    "retry": {"maxAttempts": 2, "interval": "10s"},
}
SQL = {
    "id": "count",
    "type": "sql",
    "connection": {"host": "db.example.org", "database": "shop", "user": "ro", "password": "{{ secret('pg', 'pw') }}"},
    "query": "SELECT count(*) AS n FROM orders WHERE day = $1",
    "parameters": ["{{ inputs.day }}"],
}


def flow_and_execution() -> tuple[FlowSpec, Execution]:
    return make_execution(
        {"inputs": [{"id": "day", "type": "STRING"}], "tasks": [SQL, HTTP]}, inputs={"day": "2026-01-31"}
    )


def test_a_call_is_rendered_asked_again_until_answered_and_its_answer_is_the_outputs() -> None:
    flow, execution = flow_and_execution()
    execution, decision = drive(flow, execution, {}, 0)
    (first,) = calls(decision)
    assert (first.kind, first.task_run, first.attempt) == ("sql", "count", 1)
    assert first.request == {
        "connection": {"host": "db.example.org", "port": 5432, "database": "shop", "user": "ro",
                       "password": first.request["connection"]["password"]},
        "parameters": ["2026-01-31"],
        "query": "SELECT count(*) AS n FROM orders WHERE day = $1",
        "maxRows": 100,
    }  # fmt: skip
    # the secret stays a reference: the operator fills it in just before the request leaves
    assert first.request["connection"]["password"].startswith("$(OVERTURE_SECRET_PG_PW_")
    assert list(first.secrets.values()) == [("pg", "pw")]
    assert run_of(execution, "count").state == State.RUNNING
    assert run_of(execution, "count").attempts[0].job == first.key
    assert decision.requeue_after is not None
    assert decision.requeue_after > 300

    execution, decision = drive(flow, execution, {}, 5)
    assert calls(decision) == [first]  # not answered yet: asked again, the same call under the same key

    answer = CallObservation(first.key, ok=True, outputs={"rows": [{"n": 42}], "rowCount": 1})
    execution, decision = drive(flow, execution, {first.key: answer}, 6)
    assert run_of(execution, "count").state == State.SUCCESS
    assert run_of(execution, "count").outputs == {"rows": [{"n": 42}], "rowCount": 1}
    (post,) = calls(decision)
    assert post.request["url"] == "https://api.example.org/runs/2026-01-31"
    assert post.request["json"] == {"rows": "42", "fixed": 3}
    assert post.request["method"] == "POST"
    assert post.request["expectedStatus"] == [201]
    assert post.request["headers"][0]["value"].startswith("Bearer $(OVERTURE_SECRET_API_TOKEN_")


def test_a_failed_call_is_retried_under_a_new_key_then_fails_with_its_reason() -> None:
    flow, execution = flow_and_execution()
    execution, decision = drive(flow, execution, {}, 0)
    (sql,) = calls(decision)
    execution, decision = drive(
        flow, execution, {sql.key: CallObservation(sql.key, ok=True, outputs={"rows": [{"n": 1}]})}, 1
    )
    (post,) = calls(decision)
    refused = {
        post.key: CallObservation(
            post.key, ok=False, message="POST https://api.example.org/runs/2026-01-31 answered 500"
        )
    }
    execution, decision = drive(flow, execution, refused, 2)
    assert run_of(execution, "post").state == State.RETRYING
    assert calls(decision) == []
    execution, decision = drive(flow, execution, refused, 12)
    (second,) = calls(decision)
    assert second.attempt == 2
    assert second.key != post.key
    refused[second.key] = CallObservation(second.key, ok=False, message="answered 503")
    execution, _ = drive(flow, execution, refused, 13)
    run = run_of(execution, "post")
    assert run.state == State.FAILED
    assert [a.state for a in run.attempts] == [State.FAILED, State.FAILED]
    assert run.message == "answered 503"
    assert execution.status is not None
    assert execution.status.state == State.FAILED


def test_an_answer_never_seen_fails_the_attempt_after_its_timeout_and_a_grace() -> None:
    flow, execution = make_execution(
        {"tasks": [{"id": "ping", "type": "http", "url": "https://x.example", "timeout": "10s"}]}
    )
    execution, _ = drive(flow, execution, {}, 0)
    execution, decision = drive(flow, execution, {}, 39)
    assert run_of(execution, "ping").state == State.RUNNING
    assert calls(decision)
    execution, decision = drive(flow, execution, {}, 41)
    assert run_of(execution, "ping").state == State.FAILED
    assert run_of(execution, "ping").message == "no answer within 10s"
    assert calls(decision) == []


def test_a_template_that_does_not_render_fails_the_task_naming_the_field() -> None:
    flow, execution = make_execution(
        {"tasks": [{"id": "ping", "type": "http", "url": "https://x.example/{{ outputs.nope.x }}"}]}
    )
    execution, decision = drive(flow, execution, {}, 0)
    assert calls(decision) == []
    assert run_of(execution, "ping").state == State.FAILED
    assert run_of(execution, "ping").message.startswith("url: ")


def test_a_kill_ends_a_call_in_flight() -> None:
    flow, execution = make_execution({"tasks": [{"id": "ping", "type": "http", "url": "https://x.example"}]})
    execution, _ = drive(flow, execution, {}, 0)
    execution = execution.model_copy(update={"spec": execution.spec.model_copy(update={"kill": True})})
    execution, decision = drive(flow, execution, {}, 1)
    assert run_of(execution, "ping").state == State.KILLED
    assert calls(decision) == []


def doc(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "f"},
        "spec": {"tasks": list(tasks)},
    }


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        ({**SQL, "query": "SELECT * FROM t WHERE day = '{{ inputs.day }}'"}, "spec.tasks[0].query: is not a template"),
        ({"id": "n", "type": "notify", "message": "hi"}, "spec.tasks[0]: set 'slack', 'email' or both"),
        ({**HTTP, "body": "x"}, "spec.tasks[0]: set 'body' or 'json', not both"),
        ({"id": "h", "type": "http"}, "spec.tasks[0].url"),
        ({"id": "h", "type": "http", "url": "https://x", "method": "BREW"}, "spec.tasks[0].method"),
        ({"id": "h", "type": "http", "url": "https://x", "expectedStatus": [700]}, "spec.tasks[0].expectedStatus[0]"),
        ({"id": "h", "type": "http", "url": "https://x", "headers": [{"name": "Bad Header", "value": "v"}]},
         "spec.tasks[0].headers[0].name"),
        ({**SQL, "connection": {"host": "db", "database": "d", "user": "u", "port": 99999}},
         "spec.tasks[0].connection.port"),
        ({**SQL, "rowsTo": "csv"}, "spec.tasks[0].rowsTo"),
    ],
)  # fmt: skip
def test_a_wrong_call_task_is_named_by_its_field(task: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_flow(doc(task))
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_rows_to_a_csv_file_is_asked_for_in_the_request() -> None:
    flow, execution = make_execution(
        {"inputs": [{"id": "day", "type": "STRING"}], "tasks": [{**SQL, "rowsTo": "CsvFile"}]},
        inputs={"day": "2026-01-31"},
    )
    _, decision = drive(flow, execution, {}, 0)
    (first,) = calls(decision)
    assert first.request["rowsTo"] == "CsvFile"
