"""When the next attempt of a failed task is due.

Pure arithmetic over the task's ``retry`` block. ``random`` backoff is random per attempt but
deterministic for a given execution, task run and attempt (a hash, not a PRNG), so recomputing
a decision after a restart gives the same time.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from overture.api import Attempt, Backoff, Retry, to_timedelta
from overture.templating import is_truthy

MAX_DELAY = timedelta(days=999_999_999)  # the largest whole-day timedelta; float seconds round up past timedelta.max


def backoff_delay(retry: Retry, failed_attempt: int, seed: str) -> timedelta:
    """Wait after attempt ``failed_attempt`` (1-based) failed, before the next one starts."""
    interval = to_timedelta(retry.interval)
    cap = to_timedelta(retry.max_interval) if retry.max_interval else None
    if retry.backoff == Backoff.CONSTANT:
        delay = interval
    elif retry.backoff == Backoff.EXPONENTIAL:
        # In float seconds, capped before it becomes a timedelta: 2**99 seconds does not fit in one.
        seconds = interval.total_seconds() * retry.multiplier ** (failed_attempt - 1)
        if cap is not None:
            seconds = min(seconds, cap.total_seconds())
        delay = timedelta(seconds=min(seconds, MAX_DELAY.total_seconds()))
    else:
        low = to_timedelta(retry.min_interval) if retry.min_interval else timedelta(0)
        high = cap or interval
        fraction = int(hashlib.sha256(f"{seed}/{failed_attempt}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        delay = low + (high - low) * fraction if high > low else low
    if cap is not None and delay > cap:
        delay = cap
    return delay


def next_attempt_time(
    retry: Retry | None, failed_attempt: int, first_start: datetime, failed_at: datetime, seed: str
) -> datetime | None:
    """When to start attempt ``failed_attempt + 1``, or None when no attempt is left."""
    if retry is None or failed_attempt >= retry.max_attempts:
        return None
    try:
        due = failed_at + backoff_delay(retry, failed_attempt, seed)
    except OverflowError:  # past the year 9999: never
        return None
    if retry.max_duration is not None and due - first_start > to_timedelta(retry.max_duration):
        return None
    return due


def retry_refusal(retry: Retry, attempt: Attempt, when: str | None) -> str | None:
    """Why the failed ``attempt`` is not retried by its policy, or None when it may be.

    ``when`` is ``retry.when`` as rendered for this attempt (None: the task has none)."""
    if retry.exit_codes and attempt.exit_code not in retry.exit_codes:
        found = "no exit code" if attempt.exit_code is None else f"exit code {attempt.exit_code}"
        return f"{found}, not one of retry.exitCodes {list(retry.exit_codes)}"
    if when is not None and not is_truthy(when):
        return f"retry.when rendered {when.strip()[:80]!r}"
    return None


def attempt_context(attempt: Attempt) -> dict[str, object]:
    """What ``retry.when`` reads as ``attempt``."""
    return {"number": attempt.attempt, "exitCode": attempt.exit_code, "message": attempt.message or ""}
