"""spec.requestedBy: reading the SelfSubjectReview, stamping a manifest, and the trigger types a
person may start, which the chart's admission policy must list the same way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from overture.api import (
    OPERATOR_TRIGGERS,
    PERSON_TRIGGERS,
    UnknownRequesterError,
    username_of,
    with_requester,
)
from overture.triggers.executions import manual_execution

POLICY = Path(__file__).resolve().parents[3] / "charts" / "overture" / "templates" / "admission-policy.yaml"


def test_the_user_name_is_read_from_the_review() -> None:
    review = {"status": {"userInfo": {"username": "alice", "groups": ["system:authenticated"]}}}
    assert username_of(review) == "alice"


@pytest.mark.parametrize("review", [{}, {"status": {}}, {"status": {"userInfo": {"username": ""}}}])
def test_a_review_without_a_user_says_what_to_do(review: dict[str, object]) -> None:
    with pytest.raises(UnknownRequesterError, match="kubectl auth whoami"):
        username_of(review)


def test_stamping_sets_requested_by_on_a_copy() -> None:
    manifest = manual_execution("etl-1", "team", "etl", {"day": "2026-01-31"})
    stamped = with_requester(manifest, "system:serviceaccount:overture:overture")
    assert stamped["spec"]["requestedBy"] == "system:serviceaccount:overture:overture"
    assert "requestedBy" not in manifest["spec"]  # the caller's manifest is left alone
    assert {k: v for k, v in stamped["spec"].items() if k != "requestedBy"} == manifest["spec"]


def test_a_person_starts_manual_backfill_and_replay_runs_only() -> None:
    assert sorted(PERSON_TRIGGERS) == ["backfill", "manual", "replay"]
    assert sorted(OPERATOR_TRIGGERS) == ["flow", "resource", "schedule", "subflow", "webhook"]


def test_the_chart_policy_lets_people_start_the_same_trigger_types() -> None:
    listed = re.search(r"variables\.triggerType in \[([^\]]*)\]", POLICY.read_text(encoding="utf-8"))
    assert listed, f"{POLICY.name}: no `variables.triggerType in [...]` rule"
    assert {t.strip(" '\"") for t in listed.group(1).split(",")} == {str(t) for t in PERSON_TRIGGERS}
