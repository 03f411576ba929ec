"""Leader election decisions, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from overture.kube.lease import LeaseView, Move, decide

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lease", "expected"),
    [
        (None, Move.ACQUIRE),
        (LeaseView(None, None, 15), Move.ACQUIRE),
        (LeaseView("me", NOW - timedelta(seconds=100), 15), Move.RENEW),
        (LeaseView("other", NOW - timedelta(seconds=5), 15), Move.WAIT),
        (LeaseView("other", NOW - timedelta(seconds=15), 15), Move.WAIT),
        (LeaseView("other", NOW - timedelta(seconds=16), 15), Move.ACQUIRE),
        (LeaseView("other", None, 15), Move.ACQUIRE),
    ],
)
def test_decide(lease: LeaseView | None, expected: Move) -> None:
    assert decide(lease, "me", NOW) == expected
