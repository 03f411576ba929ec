"""Template versions and ranges (npm's syntax): which version a range picks."""

from __future__ import annotations

import pytest

from overture.api.versions import VersionError, highest_match, parse_range, parse_version, range_problem, satisfies

PUBLISHED = [parse_version(v) for v in ("0.3.1", "0.3.4", "1.0.0", "1.2.0", "1.2.7", "1.10.0", "2.0.0-rc.1", "2.0.0")]


@pytest.mark.parametrize(
    ("wanted", "picked"),
    [
        ("1.2.0", "1.2.0"),
        ("=1.2.7", "1.2.7"),
        ("^1.2", "1.10.0"),
        ("^1", "1.10.0"),
        ("~1.2", "1.2.7"),
        ("~1.2.1", "1.2.7"),
        ("^0.3", "0.3.4"),
        ("^0.3.1", "0.3.4"),
        (">=1.0 <2", "1.10.0"),
        (">= 1.0 < 2", "1.10.0"),
        (">1.2", "2.0.0"),
        ("<=1.2", "1.2.7"),
        ("<1.2", "1.0.0"),
        ("1.x", "1.10.0"),
        ("1.2.*", "1.2.7"),
        ("1", "1.10.0"),
        ("*", "2.0.0"),
        ("^0.3 || ~1.2", "1.2.7"),
        ("2.0.0-rc.1", "2.0.0-rc.1"),  # a prerelease only when named
        ("^3", None),
        ("1.2.3", None),
    ],
)
def test_the_highest_matching_version_wins(wanted: str, picked: str | None) -> None:
    found = highest_match(wanted, PUBLISHED)
    assert (str(found) if found else None) == picked


def test_a_range_never_picks_a_prerelease_it_does_not_name() -> None:
    rc = parse_version("2.0.0-rc.1")
    assert satisfies(rc, "^2.0.0-rc.0")  # names a 2.0.0 prerelease: later ones of 2.0.0 match (npm)
    assert not satisfies(rc, "^1 || >=1")
    assert not satisfies(rc, ">=1.0.0")
    assert not satisfies(rc, "<2.0.0")  # below 2.0.0 means no 2.0.0 prerelease either
    assert satisfies(rc, ">=2.0.0-rc.0")


def test_versions_order_as_semver_says() -> None:
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
    assert sorted(order, key=parse_version) == order
    assert parse_version("1.10.0") > parse_version("1.9.9")


@pytest.mark.parametrize("text", ["1.2", "v1.2.3", "01.2.3", "1.2.3+build", "latest", ""])
def test_a_template_version_is_a_full_semver(text: str) -> None:
    with pytest.raises(VersionError, match="is not a semantic version"):
        parse_version(text)


@pytest.mark.parametrize("text", ["latest", "^x", ">=*", "1.2 ||", "^1.2.3.4"])
def test_a_bad_range_says_what_a_range_is(text: str) -> None:
    problem = range_problem(text)
    assert problem is not None
    assert "^1.2" in problem


def test_ranges_parse_once() -> None:
    assert parse_range("^1.2") is parse_range("^1.2")
