"""The echo of a status write in flight is not reconciled again (controller/own_writes.py)."""

from __future__ import annotations

from overture.controller.own_writes import OwnWrites
from overture.kube.store import Key

KEY = ("ns", "run-1")


def own_writes() -> tuple[OwnWrites, list[Key]]:
    writes = OwnWrites()
    woken: list[Key] = []
    writes.wake = woken.append
    return writes, woken


def test_an_event_with_no_write_in_flight_is_not_set_aside() -> None:
    writes, woken = own_writes()
    assert not writes.set_aside(KEY, "8")
    assert woken == []


def test_the_echo_that_comes_before_the_answer_queues_nothing() -> None:
    writes, woken = own_writes()
    writes.begin(KEY)
    assert writes.set_aside(KEY, "8")
    writes.end(KEY, "8")
    assert woken == []
    assert not writes.set_aside(KEY, "9")  # the write is over: events queue the key again


def test_a_change_by_someone_else_during_the_write_queues_the_key() -> None:
    writes, woken = own_writes()
    writes.begin(KEY)
    assert writes.set_aside(KEY, "8")
    assert writes.set_aside(KEY, "9")  # e.g. spec.kill, patched right after our write
    writes.end(KEY, "8")
    assert woken == [KEY]


def test_an_event_during_a_write_that_failed_queues_the_key() -> None:
    writes, woken = own_writes()
    writes.begin(KEY)
    assert writes.set_aside(KEY, "8")
    writes.end(KEY, None)
    assert woken == [KEY]


def test_other_executions_are_not_set_aside() -> None:
    writes, _ = own_writes()
    writes.begin(KEY)
    assert not writes.set_aside(("ns", "run-2"), "8")
