"""kube/jobs.exec_limit_problem: a task no Linux node could start (one argument or environment
string over MAX_ARG_STRLEN) is refused when its attempt is built, naming the field and the fix."""

from __future__ import annotations

from overture.kube.jobs import MAX_EXEC_STRING, exec_limit_problem


def test_a_script_just_under_the_limit_starts() -> None:
    script = "x" * (MAX_EXEC_STRING - 1 - len("-c"))
    assert exec_limit_problem({"command": ["/bin/sh", "-c"], "args": [script]}) is None
    assert exec_limit_problem({"command": ["/bin/sh", "-c", "x" * (MAX_EXEC_STRING - 1)]}) is None


def test_one_argument_over_the_limit_names_the_commands_and_the_fix() -> None:
    problem = exec_limit_problem({"command": ["/bin/sh", "-c", "x" * MAX_EXEC_STRING]})
    assert problem is not None
    assert "128 KiB argument (its commands or script)" in problem
    assert "inputFiles" in problem


def test_an_argument_counts_bytes_not_characters() -> None:
    assert exec_limit_problem({"args": ["é" * (MAX_EXEC_STRING // 2)]}) is not None


def test_an_environment_value_over_the_limit_names_the_variable() -> None:
    value = "v" * (MAX_EXEC_STRING - len("BIG=") - 1)
    assert exec_limit_problem({"env": [{"name": "BIG", "value": value}]}) is None
    problem = exec_limit_problem({"env": [{"name": "OK", "value": "1"}, {"name": "BIG", "value": value + "v"}]})
    assert problem is not None
    assert problem.startswith("env BIG: ")


def test_a_secret_reference_is_not_measured() -> None:
    assert (
        exec_limit_problem({"env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}) is None
    )
