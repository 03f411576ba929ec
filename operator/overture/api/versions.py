"""Semantic versions of task templates, and the ranges a flow picks them with (npm's syntax).

A template's ``spec.version`` is ``MAJOR.MINOR.PATCH`` with an optional ``-prerelease``
(``1.2.0``, ``2.0.0-rc.1``); build metadata (``+...``) is refused: it would make two objects
of one version. A flow's ``template.version`` is a range; the highest published version it
matches wins:

- ``1.2.3`` or ``=1.2.3``: exactly that version;
- ``^1.2`` (``>=1.2.0 <2.0.0``), ``^0.3`` (``>=0.3.0 <0.4.0``), ``~1.2`` (``>=1.2.0 <1.3.0``);
- ``1``, ``1.x``, ``1.2.*``: a partial version is every version it is a prefix of; ``*`` any;
- comparators ``>=1.0 <2``, ``>1.2.3``, ``<=2``, joined by spaces (all must hold);
- alternatives joined by ``||``.

A prerelease matches only a range that names it exactly (``2.0.0-rc.1``): ``^2`` never picks a
release candidate. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

VERSION_PATTERN = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
_VERSION = re.compile(VERSION_PATTERN)
_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?$")
_COMPARATOR = re.compile(r"^(\^|~|>=|<=|>|<|=)?\s*(.*)$")
RANGE_HINT = 'use a version ("1.2.0") or a range ("^1.2", "~1.2", ">=1.0 <2", "1.x")'


class VersionError(ValueError):
    """Text that is not a version or a range; the message says what would be."""


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int
    # a release sorts after its prereleases: (1, ()) > (0, ("rc", ...)); identifiers compare as semver says
    release: tuple[int, tuple[tuple[int, int | str], ...]] = (1, ())

    @property
    def prerelease(self) -> bool:
        return self.release[0] == 0

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(part) for _, part in self.release[1])
        return text


def _prerelease_key(text: str) -> tuple[int, tuple[tuple[int, int | str], ...]]:
    # numeric identifiers sort before alphanumeric ones, and numerically among themselves
    parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in text.split("."))
    return (0, parts)


def parse_version(text: str) -> Version:
    """``1.2.3`` or ``1.2.3-rc.1``; raises VersionError otherwise."""
    match = _VERSION.match(text.strip())
    if match is None:
        raise VersionError(f"{text!r} is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.2.0 or 2.0.0-rc.1")
    major, minor, patch, pre = match.groups()
    release = _prerelease_key(pre) if pre else (1, ())
    return Version(int(major), int(minor), int(patch), release)


@dataclass(frozen=True)
class _Bound:
    op: str  # >=, >, <=, <, =
    version: Version

    def holds(self, version: Version) -> bool:
        if self.op == "=":
            return version == self.version
        if self.op == ">=":
            return version >= self.version
        if self.op == ">":
            return version > self.version
        if self.op == "<=":
            return version <= self.version
        return version < self.version


_Conjunction = tuple[_Bound, ...]


def _wild(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


def _expand(op: str, text: str) -> list[_Bound]:
    """One comparator of a range as bounds (``^1.2`` -> ``>=1.2.0``, ``<2.0.0``)."""
    match = _PARTIAL.match(text)
    if match is None:
        raise VersionError(f"{text!r} is not a version; {RANGE_HINT}")
    major_s, minor_s, patch_s, pre = match.groups()
    if _wild(major_s):
        if op in ("", "="):
            return []  # any version
        raise VersionError(f"{op}{text!r} compares with no version; {RANGE_HINT}")
    major = int(major_s)
    minor = None if _wild(minor_s) else int(minor_s)
    patch = None if minor is None or _wild(patch_s) else int(patch_s)
    release = _prerelease_key(pre) if pre and patch is not None else (1, ())
    low = Version(major, minor or 0, patch or 0, release)
    if op in ("", "="):
        if patch is not None:
            return [_Bound("=", low)]
        high = Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)
        return [_Bound(">=", low), _Bound("<", _lowest(high))]
    if op == "^":
        if major > 0 or minor is None:
            high = Version(major + 1, 0, 0)
        elif minor > 0 or patch is None:
            high = Version(0, minor + 1, 0)
        else:
            high = Version(0, 0, patch + 1)
        return [_Bound(">=", low), _Bound("<", _lowest(high))]
    if op == "~":
        high = Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)
        return [_Bound(">=", low), _Bound("<", _lowest(high))]
    if op in (">=", "<"):
        return [_Bound(op, low)]
    if op == ">":  # >1.2 means past every 1.2.x
        if patch is not None:
            return [_Bound(">", low)]
        return [_Bound(">=", _lowest(Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)))]
    # <=1.2 means up to every 1.2.x
    if patch is not None:
        return [_Bound("<=", low)]
    return [_Bound("<", _lowest(Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)))]


def _lowest(version: Version) -> Version:
    """The lowest version of ``major.minor.patch``: its first prerelease (``<2.0.0`` excludes 2.0.0-rc.1)."""
    return Version(version.major, version.minor, version.patch, (0, ()))


@lru_cache(maxsize=256)
def parse_range(text: str) -> tuple[_Conjunction, ...]:
    """A range as alternatives of bounds that must all hold; raises VersionError."""
    alternatives: list[_Conjunction] = []
    for alternative in text.split("||"):
        tokens = re.sub(r"(\^|~|>=|<=|>|<|=)\s+", r"\1", alternative.strip()).split()
        if not tokens:
            raise VersionError(f"{text!r} has an empty alternative; {RANGE_HINT}")
        bounds: list[_Bound] = []
        for token in tokens:
            comparator = _COMPARATOR.match(token)
            assert comparator is not None  # the pattern matches any text
            bounds.extend(_expand(comparator.group(1) or "", comparator.group(2)))
        alternatives.append(tuple(bounds))
    return tuple(alternatives)


def _names_prerelease(conjunction: _Conjunction, version: Version) -> bool:
    """npm's rule: a prerelease matches only when a bound names a prerelease of the same x.y.z."""
    return any(
        b.version.prerelease
        and b.version.release[1]
        and (b.version.major, b.version.minor, b.version.patch) == (version.major, version.minor, version.patch)
        for b in conjunction
    )


def satisfies(version: Version, range_text: str) -> bool:
    for conjunction in parse_range(range_text):
        if version.prerelease and not _names_prerelease(conjunction, version):
            continue
        if all(bound.holds(version) for bound in conjunction):
            return True
    return False


def highest_match(range_text: str, versions: Iterable[Version]) -> Version | None:
    """The highest of ``versions`` that ``range_text`` accepts; None when none does."""
    matching = [v for v in versions if satisfies(v, range_text)]
    return max(matching) if matching else None


def range_problem(text: str) -> str | None:
    """Why ``text`` is not a range; None if it is one."""
    try:
        parse_range(text)
    except VersionError as exc:
        return str(exc)
    return None
