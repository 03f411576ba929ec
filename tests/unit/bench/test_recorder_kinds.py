"""benchmarks/common.py Recorder: every kind unless told; a kind it cannot watch is refused, not read as Executions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not of the installed package

from benchmarks.common import RECORDED_KINDS, Api, Recorder  # noqa: E402

NO_API = cast(Api, None)  # building a Recorder opens nothing; start() does


def test_a_recorder_watches_every_kind_unless_told() -> None:
    assert Recorder(NO_API, "ns").kinds == RECORDED_KINDS


@pytest.mark.parametrize("kinds", [("execution",), ("jobs", "workflows"), ()])
def test_a_kind_it_cannot_watch_is_refused_with_the_choices(kinds: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="choose from jobs, pods, executions") as error:
        Recorder(NO_API, "ns", kinds=kinds)
    unknown = [k for k in kinds if k not in RECORDED_KINDS]
    assert str(unknown or "()") in str(error.value)
