"""Retention of finished executions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from overture.api import Retention
from overture.engine.retention import Finished, expired

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def finished(count: int, every: timedelta) -> list[Finished]:
    return [Finished(f"run-{i:03d}", NOW - every * i) for i in range(count)]


def test_keeps_the_newest() -> None:
    assert expired(finished(5, timedelta(minutes=1)), Retention(keep=3, ttl=None), NOW) == ["run-003", "run-004"]


def test_ttl_removes_old_ones_even_under_keep() -> None:
    runs = finished(4, timedelta(days=10))  # 0, 10, 20, 30 days old
    assert expired(runs, Retention(keep=100, ttl="15d"), NOW) == ["run-002", "run-003"]


def test_default_policy_is_100_and_30_days() -> None:
    runs = finished(102, timedelta(minutes=1))
    assert expired(runs, None, NOW) == ["run-100", "run-101"]
    assert expired([Finished("old", NOW - timedelta(days=31))], None, NOW) == ["old"]


def test_nothing_to_delete() -> None:
    assert expired([], None, NOW) == []
    assert expired(finished(3, timedelta(hours=1)), Retention(keep=3, ttl="1d"), NOW) == []
