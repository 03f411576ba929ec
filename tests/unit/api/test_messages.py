"""Messages name values as the author wrote them in YAML, never as Python prints them (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest
from support.flowdocs import flow_doc, shell

from overture.api import SpecError, parse_flow
from overture.api.errors import described, shown


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (False, "false"),
        (None, "null"),
        (3, "3"),
        (1.5, "1.5"),
        ("soon", '"soon"'),
        ('say "hi"\nnow', '"say \\"hi\\"\\nnow"'),
        ({"echo rows": 42}, "{echo rows: 42}"),
        ({"a": {"b": [1, "x"]}}, "{a: {b: [1, x]}}"),
        (["n", "yes", "null", "42", "a: b", "", "ok"], '["n", "yes", "null", "42", "a: b", "", ok]'),
        ("x" * 100, '"' + "x" * 76 + '..."'),
        (["x" * 100], "[" + "x" * 76 + "..."),
    ],
)
def test_a_value_is_shown_in_yaml_flow_style(value: Any, written: str) -> None:
    # strings that YAML would read as something else stay quoted inside a list or mapping
    assert shown(value) == written


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (True, "the boolean true"),
        (None, "an empty value (null)"),
        (7, "the number 7"),
        ("ten", '"ten"'),
        ([], "the list []"),
        ({"k": "v"}, "the mapping {k: v}"),
    ],
)
def test_a_value_is_described_with_its_yaml_type(value: Any, words: str) -> None:
    assert described(value) == words


def problems_of(**task_fields: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_flow(flow_doc({"tasks": [shell("a", "echo hi") | task_fields]}))
    return caught.value.problems


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # a boolean where text belongs: YAML's yes/no/on/off (the operator has no YAML notes)
        ({"id": False}, "spec.tasks[0].id: the boolean false is not a string; quote it if you meant the text"),
        # a one-pair mapping whose key has a space: an unquoted ': ' inside a command
        (
            {"commands": [{"echo rows": 42}]},
            "spec.tasks[0].commands[0]: the mapping {echo rows: 42} is not a string; quote it if you meant "
            "the text: an unquoted ': ' makes a mapping",
        ),
        # a number is a number: quoting is not always the fix (a duration is not "10" either)
        ({"timeout": 10}, "spec.tasks[0].timeout: the number 10 is not a string"),
        ({"commands": {"run": "echo"}}, "spec.tasks[0].commands: the mapping {run: echo} is not a list"),
        ({"retry": ["3"]}, 'spec.tasks[0].retry: the list ["3"] is not a mapping'),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_its_yaml_type(fields: dict[str, Any], expected: str) -> None:
    assert problems_of(**fields) == [expected]
