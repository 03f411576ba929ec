"""The editor's validate and apply routes read the editor's text as ``overture validate`` reads a
file: the same messages, "quote it" hints included (one code path, ``validation.flow_problems``)."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request

from overture.cli import main
from overture.ui import routes


def answer_of(
    handler: Any, body: dict[str, Any], namespace: str = "team", state: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """Status and JSON of ``handler`` for a POST of ``body``; these routes refuse before any API call."""
    sent = json.dumps(body).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": sent, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [],
        "query_string": b"",
        "path_params": {"namespace": namespace},
        "state": state or {},
    }
    response = asyncio.run(handler(Request(scope, receive)))
    return response.status_code, json.loads(response.body)


FLOW = textwrap.dedent(
    """\
    apiVersion: overture.dev/v1alpha1
    kind: Flow
    metadata: {name: quoting}
    spec:
      tasks:
        - id: n
          type: shell
          commands: [echo a: b]
    """
)


def cli_problems(tmp_path: Path, capsys: Any) -> list[str]:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    assert main(["validate", str(path)]) == 1
    return [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]


def test_validate_gives_the_clis_messages_with_their_quoting_hints(tmp_path: Path, capsys: Any) -> None:
    status, answer = answer_of(routes.validate, {"yaml": FLOW})
    assert status == 200
    messages = [problem["message"] for problem in answer["problems"]]
    assert messages == cli_problems(tmp_path, capsys)
    assert answer["problems"][0] == {
        "path": "spec.tasks[0].id",
        "message": "spec.tasks[0].id: the boolean false is not a string "
        "(line 6: YAML reads the unquoted n as a boolean, as kubectl does; quote it: 'n')",
    }
    assert any("quote the whole value" in message for message in messages), messages


def test_apply_refuses_with_the_same_messages_before_reaching_the_api_server(tmp_path: Path, capsys: Any) -> None:
    status, answer = answer_of(routes.apply, {"yaml": FLOW})
    assert status == 422
    assert answer["error"] == "the flow is invalid"
    assert [problem["message"] for problem in answer["problems"]] == cli_problems(tmp_path, capsys)


def test_unreadable_yaml_is_refused_with_the_readers_message() -> None:
    status, answer = answer_of(routes.validate, {"yaml": "a: 1\na: 2\n"})
    assert status == 422
    assert answer["error"] == "the YAML cannot be read"
    assert answer["problems"] == [
        {
            "path": None,
            "message": "the YAML: line 2: key 'a' is already set at line 1 of the same mapping; "
            "kubectl would keep the last one without a word; keep one",
        }
    ]


class TemplateApi:
    """The caller's API server: it lists the namespace's TaskTemplates, or refuses with ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.paths: list[str] = []

    async def request(self, method: str, path: str, *_: Any) -> dict[str, Any]:
        from overture.ui.kubeapi import KubeError

        self.paths.append(f"{method} {path}")
        if self.status != 200:
            raise KubeError(self.status, "forbidden")
        if path.endswith("/tasktemplates"):
            template = yaml.safe_load(
                (Path(__file__).resolve().parents[3] / "examples/templates/echo.yaml").read_text()
            )
            return {"items": [template]}
        return {"items": []}


TEMPLATE_FLOW = textwrap.dedent(
    """\
    apiVersion: overture.dev/v1alpha1
    kind: Flow
    metadata: {name: greet}
    spec:
      tasks:
        - {id: t, type: template, template: {name: echo, version: ^1}, with: {message: hi, repeat: many}}
    """
)


def validate_as(api: TemplateApi, text: str) -> tuple[int, dict[str, Any]]:
    from overture.ui.auth import Caller

    caller = Caller("alice", [], api)  # type: ignore[arg-type]
    return answer_of(routes.validate, {"yaml": text}, state={"caller": caller})


def test_template_tasks_are_checked_against_the_templates_the_caller_reads() -> None:
    api = TemplateApi()
    status, answer = validate_as(api, TEMPLATE_FLOW)
    assert status == 200
    assert [p["message"] for p in answer["problems"]] == [
        'spec.tasks[0].with.repeat: "many" is not an integer (TaskTemplate echo 1.0.0: repeat is integer)'
    ]
    assert api.paths == [
        "GET /apis/overture.dev/v1alpha1/namespaces/team/tasktemplates",
        "GET /apis/overture.dev/v1alpha1/clustertasktemplates",
    ]
    plain = TemplateApi()
    assert validate_as(plain, FLOW)[0] == 200
    assert plain.paths == []  # no template task: no request


def test_template_tasks_go_unchecked_when_the_caller_may_not_list_templates() -> None:
    status, answer = validate_as(TemplateApi(403), TEMPLATE_FLOW)
    assert (status, answer["problems"]) == (200, [])
