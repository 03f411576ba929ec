"""Schedule ticks: daylight saving, leap days, year boundaries and catch-up, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest

from overture.api import ScheduleTrigger
from overture.triggers.executions import local_date, schedule_name
from overture.triggers.ticks import due_ticks, next_tick, ticks_after, ticks_between, ticks_upto, zone
from overture.validation import cron_problem_of


def trigger(cron: str, timezone: str = "UTC", **extra: Any) -> ScheduleTrigger:
    return ScheduleTrigger.model_validate({"id": "t", "type": "schedule", "cron": cron, "timezone": timezone, **extra})


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(moment: datetime, tz: str) -> str:
    return moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M%z")


def walk(cron: str, tz: str, after: datetime, count: int) -> list[str]:
    return [local(t, tz) for t in islice(ticks_after(trigger(cron, tz), after), count)]


# --- daylight saving -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        # Europe/Paris springs forward 2026-03-29 02:00 -> 03:00: 02:30 does not exist; it runs once, at 03:00.
        (
            "Europe/Paris",
            utc(2026, 3, 27, 12),
            ["2026-03-28 02:30+0100", "2026-03-29 03:00+0200", "2026-03-30 02:30+0200"],
        ),
        # America/New_York springs forward 2026-03-08 02:00 -> 03:00.
        (
            "America/New_York",
            utc(2026, 3, 6, 12),
            ["2026-03-07 02:30-0500", "2026-03-08 03:00-0400", "2026-03-09 02:30-0400"],
        ),
    ],
)
def test_a_daily_tick_in_the_skipped_hour_runs_once_at_the_end_of_the_gap(
    tz: str, after: datetime, expected: list[str]
) -> None:
    assert walk("30 2 * * *", tz, after, 3) == expected


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        # Europe/Paris falls back 2026-10-25 03:00 -> 02:00: 02:30 happens twice; it runs at the first.
        (
            "Europe/Paris",
            utc(2026, 10, 23, 12),
            ["2026-10-24 02:30+0200", "2026-10-25 02:30+0200", "2026-10-26 02:30+0100"],
        ),
        # America/New_York falls back 2026-11-01 02:00 -> 01:00: 01:30 happens twice.
        (
            "America/New_York",
            utc(2026, 10, 30, 12),
            ["2026-10-31 01:30-0400", "2026-11-01 01:30-0400", "2026-11-02 01:30-0500"],
        ),
    ],
)
def test_a_daily_tick_in_the_repeated_hour_runs_once(tz: str, after: datetime, expected: list[str]) -> None:
    cron = "30 1 * * *" if tz == "America/New_York" else "30 2 * * *"
    assert walk(cron, tz, after, 3) == expected


def test_an_hourly_schedule_runs_23_times_on_spring_forward_day_and_24_on_fall_back_day() -> None:
    def runs_on(day: str, tz: str) -> int:
        start = datetime.fromisoformat(day).replace(tzinfo=zone(tz))
        end = start + timedelta(days=1)
        ticks = ticks_between(trigger("0 * * * *", tz), start.astimezone(UTC), end.astimezone(UTC), 1000)
        return len([t for t in ticks if t < end])

    assert runs_on("2026-03-29", "Europe/Paris") == 23
    assert runs_on("2026-10-25", "Europe/Paris") == 24
    assert runs_on("2026-03-08", "America/New_York") == 23
    assert runs_on("2026-11-01", "America/New_York") == 24
    assert runs_on("2026-06-01", "Europe/Paris") == 24


def test_every_15_minutes_over_the_skipped_hour_fires_one_tick_for_the_whole_gap() -> None:
    ticks = walk("*/15 * * * *", "Europe/Paris", utc(2026, 3, 29, 0, 30), 4)
    assert ticks == ["2026-03-29 01:45+0100", "2026-03-29 03:00+0200", "2026-03-29 03:15+0200", "2026-03-29 03:30+0200"]


def test_counting_back_from_the_second_pass_of_a_repeated_hour_keeps_the_first_pass() -> None:
    # 01:30 UTC is 02:30 CET, the second 02:30 of the night; the first pass ran 02:00..02:45 CEST.
    now = utc(2026, 10, 25, 1, 30)
    ticks = [local(t, "Europe/Paris") for t in islice(ticks_upto(trigger("*/15 * * * *", "Europe/Paris"), now), 3)]
    assert ticks == ["2026-10-25 02:45+0200", "2026-10-25 02:30+0200", "2026-10-25 02:15+0200"]
    nxt = next_tick(trigger("*/15 * * * *", "Europe/Paris"), now)
    assert nxt is not None
    assert local(nxt, "Europe/Paris") == "2026-10-25 03:00+0100"


def test_a_repeated_hour_does_not_fire_again_after_a_catch_up() -> None:
    # The daily 02:30 fired at its first occurrence; an operator restarted in the second pass runs nothing.
    daily = trigger("30 2 * * *", "Europe/Paris", catchUp="all")
    first = utc(2026, 10, 25, 0, 30)
    assert due_ticks(daily, first, utc(2026, 10, 25, 1, 45)) == ([], False)


# --- calendar edges ------------------------------------------------------------------------


def test_leap_day_runs_only_in_leap_years() -> None:
    ticks = list(islice(ticks_after(trigger("0 12 29 2 *"), utc(2026, 1, 1)), 2))
    assert ticks == [utc(2028, 2, 29, 12), utc(2032, 2, 29, 12)]


def test_catch_up_across_a_year_boundary() -> None:
    daily = trigger("0 0 * * *", "Europe/Paris", catchUp="all")
    ticks, capped = due_ticks(daily, utc(2026, 12, 29, 23), utc(2027, 1, 2, 12))
    assert [local(t, "Europe/Paris") for t in ticks] == [
        "2026-12-31 00:00+0100",
        "2027-01-01 00:00+0100",
        "2027-01-02 00:00+0100",
    ]
    assert not capped


def test_yearly_alias_and_new_year_in_a_zone_ahead_of_utc() -> None:
    tick = next_tick(trigger("@yearly", "Asia/Tokyo"), utc(2026, 6, 1))
    assert tick == utc(2026, 12, 31, 15)
    assert local_date(tick, "Asia/Tokyo") == "2027-01-01T00:00:00+09:00"


# --- catch-up ------------------------------------------------------------------------------

HOURLY_LAST = utc(2026, 1, 1, 0)
NOW = utc(2026, 1, 1, 5, 0, 30)  # five ticks missed: 01:00 .. 05:00


@pytest.mark.parametrize(
    ("policy", "limit", "expected_hours", "capped"),
    [
        ("all", 100, [1, 2, 3, 4, 5], False),
        ("all", 5, [1, 2, 3, 4, 5], False),
        ("all", 3, [3, 4, 5], True),
        ("last", 100, [5], False),
        ("none", 100, [5], False),  # 05:00 is 30 s old: on time
    ],
)
def test_catch_up_policies(policy: str, limit: int, expected_hours: list[int], capped: bool) -> None:
    hourly = trigger("0 * * * *", catchUp=policy, catchUpLimit=limit)
    ticks, was_capped = due_ticks(hourly, HOURLY_LAST, NOW)
    assert [t.hour for t in ticks] == expected_hours
    assert was_capped is capped


def test_catch_up_none_skips_a_tick_missed_by_more_than_a_minute() -> None:
    hourly = trigger("0 * * * *", catchUp="none")
    assert due_ticks(hourly, HOURLY_LAST, utc(2026, 1, 1, 5, 2)) == ([], False)


def test_first_sight_fires_nothing() -> None:
    assert due_ticks(trigger("* * * * *", catchUp="all"), None, NOW) == ([], False)


def test_a_tick_exactly_now_is_due_and_the_last_tick_is_not_again() -> None:
    minutely = trigger("* * * * *")
    assert due_ticks(minutely, utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 1)) == ([utc(2026, 1, 1, 0, 1)], False)
    assert due_ticks(minutely, utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 1, 59)) == ([], False)


def test_a_huge_gap_with_a_seconds_cron_is_cheap_and_capped() -> None:
    fast = trigger("*/5 * * * * *", catchUp="all", catchUpLimit=10)
    ticks, capped = due_ticks(fast, utc(2020, 1, 1), utc(2026, 1, 1))
    assert capped
    assert len(ticks) == 10
    assert ticks[-1] == utc(2026, 1, 1)
    assert ticks[0] == utc(2025, 12, 31, 23, 59, 15)


def test_ticks_between_includes_both_ends() -> None:
    daily = trigger("0 2 * * *")
    assert ticks_between(daily, utc(2026, 1, 1, 2), utc(2026, 1, 3, 2), 100) == [
        utc(2026, 1, 1, 2),
        utc(2026, 1, 2, 2),
        utc(2026, 1, 3, 2),
    ]
    assert len(ticks_between(daily, utc(2026, 1, 1), utc(2027, 1, 1), 10)) == 10


# --- names and seconds crons ---------------------------------------------------------------


def test_names_are_deterministic_fit_63_and_keep_backfills_apart() -> None:
    tick = utc(2026, 1, 31, 1)
    name = schedule_name("nightly-report", "nightly", tick)
    assert name == schedule_name("nightly-report", "nightly", tick)
    assert name.startswith("nightly-report-nightly-20260131010000-")
    assert schedule_name("nightly-report", "nightly", tick, backfill=True) != name
    long = schedule_name("f" * 63, "t" * 63, tick)
    assert len(long) <= 63
    assert "20260131010000" in long
    # two flows whose names run together still get different names
    assert schedule_name("a-b", "c", tick) != schedule_name("a", "b-c", tick)


def test_seconds_crons_are_accepted_only_when_allowed() -> None:
    assert cron_problem_of("*/5 * * * * *") is not None
    assert cron_problem_of("*/5 * * * * *", allow_seconds=True) is None
    assert cron_problem_of("*/5 * * * * * *", allow_seconds=True) is not None
    ticks = list(islice(ticks_after(trigger("*/5 * * * * *"), utc(2026, 1, 1)), 2))
    assert ticks == [utc(2026, 1, 1, 0, 0, 5), utc(2026, 1, 1, 0, 0, 10)]
