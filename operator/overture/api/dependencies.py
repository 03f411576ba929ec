"""When a task in a DAG runs: ``runWhen`` rules and Argo-style ``depends`` expressions.

A dependency ends in one of three ways that matter here: it **succeeded** (SUCCESS or WARNING,
so a failure allowed by ``allowFailure`` counts as success), it **failed** (FAILED, KILLED,
CANCELLED) or it was **skipped** (SKIPPED: ``runIf`` false, disabled, or skipped itself by its
own rule). ``decide`` answers, from the states of a task's dependencies (None: not ended yet),
whether the task runs, is skipped, never runs, or must wait.

Rules (``runWhen``), after Airflow's trigger rules:
- ``allSucceeded`` (default): every dependency succeeded. One skipped (and none failed): the task
  is skipped too, so a branch not taken skips what follows it. One failed: it never runs.
- ``allDone``: every dependency ended, whatever the way.
- ``anyFailed``: one dependency failed (runs as soon as one does); all ended, none failed: skipped.
- ``noneFailed``: every dependency ended and none failed (skipped ones are fine): the join after
  branches. One failed: it never runs.

``depends`` is a boolean expression over sibling ids, as in Argo Workflows: ``A``, ``A.Succeeded``,
``A.Failed``, ``A.Skipped``, ``A.Done``, joined with ``&&``, ``||``, ``!`` and parentheses. A bare
``A`` means ``A.Succeeded``. It is read once every task it names has ended: true runs the task,
false skips it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from overture.api.states import State


class RunWhen(StrEnum):
    ALL_SUCCEEDED = "allSucceeded"
    ALL_DONE = "allDone"
    ANY_FAILED = "anyFailed"
    NONE_FAILED = "noneFailed"


class Verdict(StrEnum):
    WAIT = "WAIT"  # a dependency has not ended and the answer depends on it
    RUN = "RUN"
    SKIP = "SKIP"  # never runs, and says so: SKIPPED, its dependants decide from that
    NEVER = "NEVER"  # never runs because a dependency failed (the section fails)


RESULTS = ("Succeeded", "Failed", "Skipped", "Done")
_FAILED = frozenset({State.FAILED, State.KILLED, State.CANCELLED})
_SUCCEEDED = frozenset({State.SUCCESS, State.WARNING})


def result_of(state: State | None) -> str | None:
    """``Succeeded``, ``Failed`` or ``Skipped`` for an ended state; None while it has not ended."""
    if state is None or not state.is_terminal:
        return None
    if state in _SUCCEEDED:
        return "Succeeded"
    return "Failed" if state in _FAILED else "Skipped"


def decide_rule(rule: RunWhen, states: Mapping[str, State | None]) -> tuple[Verdict, str | None]:
    """What ``rule`` says given the dependencies' states, and why (for a skipped task's message)."""
    results = {dep: result_of(state) for dep, state in states.items()}
    failed = sorted(d for d, r in results.items() if r == "Failed")
    skipped = sorted(d for d, r in results.items() if r == "Skipped")
    pending = any(r is None for r in results.values())
    if rule == RunWhen.ANY_FAILED:
        if failed:
            return Verdict.RUN, None
        return (Verdict.WAIT, None) if pending else (Verdict.SKIP, "runWhen anyFailed: no dependency failed")
    if rule == RunWhen.ALL_DONE:
        return (Verdict.WAIT, None) if pending else (Verdict.RUN, None)
    if failed:
        return Verdict.NEVER, f"dependency {failed[0]} failed"
    if pending:
        return Verdict.WAIT, None
    if skipped and rule == RunWhen.ALL_SUCCEEDED:
        return Verdict.SKIP, f"dependency {', '.join(skipped)} was skipped"
    return Verdict.RUN, None


# --- depends expressions ----------------------------------------------------------------------


class DependsError(ValueError):
    """A ``depends`` expression that cannot be read; the message says where and what is expected."""


@dataclass(frozen=True)
class Name:
    task: str
    result: str  # one of RESULTS


@dataclass(frozen=True)
class Not:
    operand: Expression


@dataclass(frozen=True)
class Both:
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Either:
    left: Expression
    right: Expression


Expression = Name | Not | Both | Either

_TOKEN = re.compile(r"\s*(?:(?P<op>&&|\|\||!|\(|\))|(?P<name>[A-Za-z0-9_-]+(?:\.[A-Za-z]+)?))")
MAX_DEPENDS_LENGTH = 2_000


def parse_depends(text: str) -> Expression:
    """The expression of ``text``; raises DependsError naming the position and what was expected."""
    if len(text) > MAX_DEPENDS_LENGTH:
        raise DependsError(f"is {len(text)} characters; at most {MAX_DEPENDS_LENGTH}")
    tokens = _tokens(text)
    parser = _Parser(tokens, text)
    expression = parser.either()
    if parser.position < len(tokens):
        raise DependsError(f"has an unexpected {tokens[parser.position]!r}; join conditions with && or ||")
    return expression


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            bad = text[position:].lstrip()[:1]
            raise DependsError(f"uses {bad!r}; use task ids, .Succeeded/.Failed/.Skipped/.Done, &&, ||, ! and ()")
        tokens.append(match.group("op") or match.group("name"))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: either := both ('||' both)*; both := unary ('&&' unary)*; unary := '!' unary | atom."""

    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.position = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def either(self) -> Expression:
        return self._joined("||", Either, self.both)

    def both(self) -> Expression:
        return self._joined("&&", Both, self.unary)

    def _joined(self, operator: str, join: type[Both] | type[Either], operand: Callable[[], Expression]) -> Expression:
        left = operand()
        while self.peek() == operator:
            self.position += 1
            left = join(left, operand())
        return left

    def unary(self) -> Expression:
        token = self.peek()
        if token is None:
            raise DependsError("ends where a task id was expected")
        self.position += 1
        if token in ("!", "("):
            self.depth += 1
            if self.depth > 50:
                raise DependsError("nests '!' and '(' more than 50 deep")
        if token == "!":
            operand = self.unary()
            self.depth -= 1
            return Not(operand)
        if token == "(":
            inner = self.either()
            if self.peek() != ")":
                raise DependsError("leaves a '(' unclosed")
            self.position += 1
            self.depth -= 1
            return inner
        if token in ("&&", "||", ")"):
            raise DependsError(f"has {token!r} where a task id was expected")
        task, _, result = token.partition(".")
        if result and result not in RESULTS:
            raise DependsError(f"reads {token!r}; {result!r} is not a result, use {', '.join(RESULTS)}")
        return Name(task, result or "Succeeded")


def names(expression: Expression) -> tuple[str, ...]:
    """The task ids ``expression`` reads, in order of first appearance."""
    found: list[str] = []
    stack: list[Expression] = [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            if node.task not in found:
                found.append(node.task)
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            stack.extend((node.right, node.left))
    return tuple(found)


def evaluate(expression: Expression, results: Mapping[str, str | None]) -> bool:
    """``expression`` over ended dependencies' results (``result_of``); ``Done`` is any result."""
    if isinstance(expression, Name):
        result = results.get(expression.task)
        return result is not None and (expression.result == "Done" or result == expression.result)
    if isinstance(expression, Not):
        return not evaluate(expression.operand, results)
    if isinstance(expression, Both):
        return evaluate(expression.left, results) and evaluate(expression.right, results)
    return evaluate(expression.left, results) or evaluate(expression.right, results)


def decide_depends(text: str, states: Mapping[str, State | None]) -> tuple[Verdict, str | None]:
    """What the ``depends`` expression ``text`` says, once every task it names has ended."""
    results = {dep: result_of(state) for dep, state in states.items()}
    if any(result is None for result in results.values()):
        return Verdict.WAIT, None
    if evaluate(parse_depends(text), results):
        return Verdict.RUN, None
    return Verdict.SKIP, f"depends was false: {text.strip()}"


def may_run_after_failure(run_when: RunWhen, depends: str | None) -> bool:
    """Whether the task may start after a failure in its list (which stops every other task)."""
    if depends is not None:
        return True
    return run_when in (RunWhen.ALL_DONE, RunWhen.ANY_FAILED)
