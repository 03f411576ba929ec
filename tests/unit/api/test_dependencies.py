"""runWhen rules and depends expressions: a table of dependency states -> verdicts, and the
expression reader's messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overture.api.dependencies import (
    DependsError,
    RunWhen,
    Verdict,
    decide_depends,
    decide_rule,
    names,
    parse_depends,
)
from overture.api.states import State

S, W, F, K, SK, R = State.SUCCESS, State.WARNING, State.FAILED, State.KILLED, State.SKIPPED, State.RUNNING


@pytest.mark.parametrize(
    ("rule", "states", "verdict"),
    [
        (RunWhen.ALL_SUCCEEDED, {"a": S, "b": W}, Verdict.RUN),
        (RunWhen.ALL_SUCCEEDED, {"a": S, "b": R}, Verdict.WAIT),
        (RunWhen.ALL_SUCCEEDED, {"a": S, "b": None}, Verdict.WAIT),
        (RunWhen.ALL_SUCCEEDED, {"a": SK, "b": S}, Verdict.SKIP),  # a branch not taken skips what follows
        (RunWhen.ALL_SUCCEEDED, {"a": F, "b": R}, Verdict.NEVER),
        (RunWhen.ALL_SUCCEEDED, {"a": F, "b": SK}, Verdict.NEVER),
        (RunWhen.ALL_DONE, {"a": F, "b": SK, "c": S}, Verdict.RUN),
        (RunWhen.ALL_DONE, {"a": F, "b": R}, Verdict.WAIT),
        (RunWhen.ANY_FAILED, {"a": K, "b": R}, Verdict.RUN),  # as soon as one fails
        (RunWhen.ANY_FAILED, {"a": S, "b": R}, Verdict.WAIT),
        (RunWhen.ANY_FAILED, {"a": S, "b": SK}, Verdict.SKIP),
        (RunWhen.NONE_FAILED, {"a": SK, "b": S}, Verdict.RUN),  # the join after branches
        (RunWhen.NONE_FAILED, {"a": SK, "b": SK}, Verdict.RUN),
        (RunWhen.NONE_FAILED, {"a": F, "b": S}, Verdict.NEVER),
        (RunWhen.NONE_FAILED, {"a": S, "b": None}, Verdict.WAIT),
    ],
)
def test_rules(rule: RunWhen, states: dict[str, State | None], verdict: Verdict) -> None:
    assert decide_rule(rule, states)[0] == verdict


def test_a_skip_says_which_dependency_was_skipped() -> None:
    assert decide_rule(RunWhen.ALL_SUCCEEDED, {"b": SK, "a": SK, "c": S}) == (
        Verdict.SKIP,
        "dependency a, b was skipped",
    )


@pytest.mark.parametrize(
    ("text", "states", "verdict"),
    [
        ("a", {"a": S}, Verdict.RUN),
        ("a", {"a": SK}, Verdict.SKIP),
        ("a.Failed", {"a": F}, Verdict.RUN),
        ("a.Failed", {"a": W}, Verdict.SKIP),
        ("a.Skipped || b.Failed", {"a": S, "b": K}, Verdict.RUN),
        ("a && !b.Failed", {"a": S, "b": S}, Verdict.RUN),
        ("(a.Failed || b.Failed) && c.Done", {"a": S, "b": F, "c": SK}, Verdict.RUN),
        ("a.Done", {"a": R}, Verdict.WAIT),
    ],
)
def test_depends(text: str, states: dict[str, State | None], verdict: Verdict) -> None:
    assert decide_depends(text, states)[0] == verdict


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a &&", "ends where a task id was expected"),
        ("a b", "has an unexpected 'b'; join conditions with && or ||"),
        ("a.Failure", "reads 'a.Failure'; 'Failure' is not a result, use Succeeded, Failed, Skipped, Done"),
        ("(a || b", "leaves a '(' unclosed"),
        ("a & b", "uses '&'; use task ids, .Succeeded/.Failed/.Skipped/.Done, &&, ||, ! and ()"),
        ("!" * 60 + "a", "nests '!' and '(' more than 50 deep"),
        ("", "ends where a task id was expected"),
    ],
)
def test_depends_errors(text: str, message: str) -> None:
    with pytest.raises(DependsError) as caught:
        parse_depends(text)
    assert str(caught.value) == message


def test_names_in_order() -> None:
    assert names(parse_depends("(b.Failed || a) && !b.Skipped && c")) == ("b", "a", "c")


ENDED = st.sampled_from([S, W, F, K, SK])


@given(st.dictionaries(st.sampled_from("abcd"), ENDED, min_size=1))
def test_every_rule_decides_once_all_ended(states: dict[str, State]) -> None:
    for rule in RunWhen:
        assert decide_rule(rule, states)[0] != Verdict.WAIT


@given(st.dictionaries(st.sampled_from("abcd"), st.one_of(st.none(), ENDED), min_size=1))
def test_a_bare_list_of_ids_is_all_succeeded_but_waits_for_everyone(states: dict[str, State | None]) -> None:
    rule, _ = decide_rule(RunWhen.ALL_SUCCEEDED, states)
    expression, _ = decide_depends(" && ".join(states), states)
    if expression == Verdict.WAIT:
        assert rule in (Verdict.WAIT, Verdict.NEVER)
    elif rule == Verdict.RUN:
        assert expression == Verdict.RUN
    else:
        assert expression == Verdict.SKIP
