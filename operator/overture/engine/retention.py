"""Which finished executions of a flow to delete: older than the TTL, or beyond the newest ``keep``.

Unfinished executions are never candidates. Deleting an Execution deletes its Jobs (and their
pods) through owner references.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from overture.api import Retention, to_timedelta


@dataclass(frozen=True)
class Finished:
    name: str
    end: datetime


def expired(finished: Iterable[Finished], retention: Retention | None, now: datetime) -> list[str]:
    policy = retention or Retention()  # made here, not at import: its validator is built when first used
    newest_first = sorted(finished, key=lambda f: (f.end, f.name), reverse=True)
    doomed = [f.name for f in newest_first[policy.keep :]]
    if policy.ttl is not None:
        cutoff = now - to_timedelta(policy.ttl)
        doomed += [f.name for f in newest_first[: policy.keep] if f.end < cutoff]
    return sorted(doomed)
