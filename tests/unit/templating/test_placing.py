"""A ``{{ }}`` value never becomes code in a task's command (issue 14, injection).

The scripts are run by ``/bin/sh`` with the env the Job would get (``$$`` read as ``$``, as the
kubelet does), so a test fails if a hostile value runs anything or comes out changed.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from overture.api import PythonTask, ShellTask
from overture.engine.attempts import job_request
from overture.processes import expand_references

HOSTILE = [
    '"; touch pwned; "',
    "'; touch pwned; '",
    "$(touch pwned)",
    "`touch pwned`",
    "a\nb; touch pwned",
    "$HOME ${HOME} $$(HOME) \\ \\' \\\"",
    "* ?",
    "",
]


def _run(commands: list[str], value: str, tmp_path: object) -> str:
    task = ShellTask.model_validate({"id": "t", "type": "shell", "commands": commands})
    request = job_request(task, "ex", "t", 1, {"inputs": {"x": value}})
    env: dict[str, str] = {}
    for var in request.env:  # as the kubelet does: $(VAR) and $$ in env values, then in the command
        env[var.name] = expand_references(var.value or "", env)
    script = expand_references(request.command[-1], env)
    done = subprocess.run(
        ["/bin/sh", "-ec", script],
        env={"PATH": os.environ["PATH"], "HOME": "/nonexistent", **env},
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    assert not os.path.exists(os.path.join(str(tmp_path), "pwned")), script
    return done.stdout


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "line",
    [
        "printf '%s' {{ inputs.x }}",
        'printf "%s" "{{ inputs.x }}"',
        "printf '%s' '{{ inputs.x }}'",
        "printf '%s' \"<{{ inputs.x }}>\"",
    ],
)
def test_a_value_is_text_wherever_it_stands(line: str, value: str, tmp_path: object) -> None:
    out = _run([line], value, tmp_path)
    assert out == (f"<{value}>" if "<" in line else value)


def test_a_comment_with_a_quote_does_not_shift_the_quoting(tmp_path: object) -> None:
    out = _run(["# it's a comment {{ inputs.x }}", "printf '%s' '{{ inputs.x }}'"], "a b; touch pwned", tmp_path)
    assert out == "a b; touch pwned"


def test_plain_values_stay_in_the_script_as_they_are() -> None:
    task = ShellTask.model_validate(
        {"id": "t", "type": "shell", "commands": ["echo {{ inputs.n }} {{ inputs.day }} {{ inputs.url }}"]}
    )
    context = {"inputs": {"n": 42, "day": "2026-01-31", "url": "s3://bucket/a/b.csv"}}
    request = job_request(task, "ex", "t", 1, context)
    assert request.command[-1] == "echo 42 2026-01-31 s3://bucket/a/b.csv"
    assert not [e for e in request.env if e.name.startswith("OVERTURE_VALUE_")]


def test_a_set_block_made_of_values_is_one_value(tmp_path: object) -> None:
    out = _run(["{% set y %}<{{ inputs.x }}>{% endset %}printf '%s' {{ y }}"], "a'b", tmp_path)
    assert out == "<a'b>"


def test_the_kubelet_expands_nothing_in_a_python_script_value() -> None:
    task = PythonTask.model_validate({"id": "p", "type": "python", "script": "print('{{ inputs.x }}', '$(HOME)')"})
    request = job_request(task, "ex", "p", 1, {"inputs": {"x": "$(OVERTURE_SECRET_DB_PW)"}})
    # the value's $ is doubled (the kubelet writes one back), the author's own $(HOME) is left to it
    assert request.command[-1] == "print('$$(OVERTURE_SECRET_DB_PW)', '$(HOME)')"
    assert expand_references(request.command[-1], {"OVERTURE_SECRET_DB_PW": "s3cret", "HOME": "/h"}) == (
        "print('$(OVERTURE_SECRET_DB_PW)', '/h')"
    )
