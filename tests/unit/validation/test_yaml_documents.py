"""YAML read as kubectl reads it (overture.documents): every bad input of issue 17 gets a message
that names the line and the fix, never a hang, a traceback or a silent other reading."""

from __future__ import annotations

import itertools
import json
import textwrap

import pytest

from overture.api import SpecError
from overture.documents import MAX_ALIAS_EXPANSION, MAX_FILE_BYTES, MAX_OBJECT_BYTES, read_yaml
from overture.validation import flow_problems


def problem_of(source: str | bytes) -> str:
    with pytest.raises(SpecError) as caught:
        read_yaml(source, "flow.yaml")
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


def flow_text(tasks: str) -> str:
    head = "apiVersion: overture.dev/v1alpha1\nkind: Flow\nmetadata: {name: f}\nspec:\n  tasks:\n"
    return head + textwrap.indent(textwrap.dedent(tasks), "    ")


def explained(text: str) -> list[str]:
    [document] = read_yaml(text, "flow.yaml")
    return flow_problems(document)


# The 660-byte bomb from the issue: 9 levels of 9 aliases each, 9**9 strings once expanded.
LEVELS = "abcdefghi"
BOMB = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
    f"{name}: &{name} [{','.join(['*' + below] * 9)}]\n" for below, name in itertools.pairwise(LEVELS)
)


def test_an_alias_bomb_is_refused_by_its_size() -> None:
    assert len(BOMB) < 700
    problem = problem_of(BOMB)
    assert problem.startswith("flow.yaml: aliases (*name) expand this document by ")
    assert f"more than {MAX_ALIAS_EXPANSION:,}" in problem


def test_aliases_within_the_bound_are_read() -> None:
    text = "defaults: &d {image: python:3.12, timeout: 1m}\nuses: [*d, *d, *d]\n"
    [document] = read_yaml(text, "f")
    assert document.value["uses"] == [{"image": "python:3.12", "timeout": "1m"}] * 3


def test_an_alias_inside_itself_is_refused() -> None:
    assert problem_of("a: &loop [1, *loop]\n") == (
        "flow.yaml: line 1: an alias refers to a value that contains it; break the loop"
    )


def test_bytes_that_are_not_utf8_are_named_by_line_and_column() -> None:
    data = b"spec:\n  description: caf" + b"\xe9 au lait\n"
    assert problem_of(data) == "flow.yaml: not UTF-8 at line 2, column 19 (byte 0xe9); save the file as UTF-8"


def test_a_key_given_twice_is_refused_as_kubectl_does() -> None:
    text = "spec:\n  tasks: []\n  description: x\n  tasks: [{id: a}]\n"
    assert problem_of(text) == (
        "flow.yaml: line 4: key 'tasks' is already set at line 2 of the same mapping; "
        "kubectl would keep the last one without a word; keep one"
    )


def test_keys_that_read_alike_are_the_same_key() -> None:
    assert "key 'true' is already set at line 1" in problem_of("yes: 1\non: 2\n")


def test_merge_keys_may_be_overridden() -> None:
    [document] = read_yaml("base: &b {a: 1, b: 2}\nuse:\n  <<: *b\n  b: 3\n", "f")
    assert document.value["use"] == {"a": 1, "b": 3}


def test_a_flow_bigger_than_the_api_server_stores_is_refused() -> None:
    script = "x" * MAX_OBJECT_BYTES
    problem = problem_of(flow_text(f"- {{id: a, type: python, script: {script}}}\n"))
    assert problem.startswith("flow.yaml: 'f' is 1,572,9")
    assert "the API server stores at most 1,572,864 bytes per object" in problem


def test_a_file_too_big_is_refused_before_it_is_parsed() -> None:
    problem = problem_of(b"# " + b"x" * MAX_FILE_BYTES)
    assert problem.startswith(f"flow.yaml: {MAX_FILE_BYTES + 2:,} bytes; a file of flows may hold at most ")


@pytest.mark.parametrize("word", ["y", "Y", "n", "N", "yes", "No", "on", "OFF", "true", "False"])
def test_yaml_11_booleans_are_booleans_as_for_kubectl(word: str) -> None:
    [document] = read_yaml(f"value: {word}\nquoted: '{word}'\n", "f")
    assert document.value == {"value": word.lower() in ("y", "yes", "on", "true"), "quoted": word}


def test_keys_become_strings_as_in_the_json_kubectl_sends() -> None:
    [document] = read_yaml("on: 1\n2: two\nnull: z\n", "f")
    assert document.value == {"true": 1, "2": "two", "null": "z"}


def test_timestamps_stay_strings() -> None:
    assert [d.value for d in read_yaml("default: 2026-01-31\n", "f")] == [{"default": "2026-01-31"}]


def test_a_boolean_where_a_string_belongs_says_quote_it() -> None:
    problems = explained(flow_text("- {id: n, type: shell, commands: [echo]}\n"))
    assert problems == [
        "spec.tasks[0].id: the boolean false is not a string (line 6: YAML reads the unquoted n as a boolean, "
        "as kubectl does; quote it: 'n')"
    ]


def test_a_colon_in_a_command_made_a_mapping_says_how_to_quote() -> None:
    problems = explained(flow_text("- id: a\n  type: shell\n  commands:\n    - echo hello: world\n"))
    assert problems == [
        "spec.tasks[0].commands[0]: the mapping {echo hello: world} is not a string (line 9: the unquoted ': ' in "
        "'echo hello: world' makes it a mapping; quote the whole value: 'echo hello: world')"
    ]


@pytest.mark.parametrize(
    ("line", "fix"),
    [
        ('script: print("a: b")', "script: 'print(\"a: b\")'"),
        ("message: Task failed: see log", "message: 'Task failed: see log'"),
        ("- echo x: y: z", "- 'echo x: y: z'"),
        ('- echo "x": "y" z', '- \'echo "x": "y" z\''),
    ],
)
def test_a_colon_that_breaks_the_yaml_says_how_to_quote(line: str, fix: str) -> None:
    problem = problem_of(f"spec:\n  key:\n    {line}\n")
    assert problem.startswith("flow.yaml: not valid YAML at line 3, column ")
    assert problem.endswith(
        f"A ': ' inside an unquoted value starts a mapping; quote the value, {fix}, or write it as a block (|)"
    )


def test_deep_nesting_is_a_message() -> None:
    assert problem_of("a: " + "[" * 1100 + "]" * 1100).endswith("exceeded maximum nesting depth")


def test_documents_are_json_values() -> None:
    docs = [d.value for d in read_yaml("a: 1\n---\n---\nb: [x, {c: .5}]\n", "f")]
    assert json.loads(json.dumps(docs)) == [{"a": 1}, {"b": ["x", {"c": 0.5}]}]
