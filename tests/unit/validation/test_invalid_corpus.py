"""`overture validate` against a corpus of malformed flows, and against the examples.

Each file in fixtures/invalid/ holds one mistake and starts with one or more lines
``# expect: <text>``: text that must appear in what `overture validate` prints, the path of the
field included. Every file must be rejected (exit 1) with that text and nothing else raised.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from overture.cli import main

ROOT = Path(__file__).resolve().parents[3]
INVALID = Path(__file__).parent / "fixtures" / "invalid"
CORPUS = sorted(INVALID.glob("*.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
EXPECT = "# expect: "


def expectations(path: Path) -> list[str]:
    """The ``# expect:`` lines of the comment block that opens ``path``."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if line.startswith(EXPECT):
            found.append(line[len(EXPECT) :])
    return found


def console_script() -> str:
    """The installed `overture` next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("overture")
    found = str(beside) if beside.exists() else shutil.which("overture")
    assert found, "the `overture` console script is not installed; run `make install`"
    return found


def test_corpus_is_large_and_every_file_says_what_it_expects() -> None:
    assert len(CORPUS) >= 60
    missing = [p.name for p in CORPUS if not expectations(p) or not p.read_text().startswith(EXPECT)]
    assert missing == [], "fixtures without a first line '# expect: ...'"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_malformed_flow_is_rejected_naming_the_path(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(path)])  # anything raised here fails the test with its traceback

    out, err = capsys.readouterr()
    assert code == 1, f"exit {code}; stdout: {out!r}"
    for expected in expectations(path):
        assert expected in err, f"{expected!r} not in:\n{err}"
    assert "Traceback" not in out + err
    if "\n---\n" not in path.read_text():  # a file of several documents lists its valid ones
        assert out == "", "an invalid file must not be reported as valid"


def test_all_malformed_files_at_once_each_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", *map(str, CORPUS)])

    _, err = capsys.readouterr()
    assert code == 1
    assert [p for p in CORPUS if str(p) not in err] == []


@pytest.mark.parametrize("name", ["deps-cycle-3.yaml", "doc-invalid-yaml-flow.yaml"])
def test_console_script_exits_1_with_the_message(name: str) -> None:
    path = INVALID / name

    result = subprocess.run(
        [console_script(), "validate", str(path)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 1, result.stderr
    assert all(expected in result.stderr for expected in expectations(path)), result.stderr
    assert "Traceback" not in result.stderr


def test_examples_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(EXAMPLES) >= 6

    code = main(["validate", *map(str, EXAMPLES)])

    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.count(": valid\n") == len(EXAMPLES)


def test_console_script_accepts_the_examples() -> None:
    result = subprocess.run(
        [console_script(), "validate", "-q", *map(str, EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_other_objects_beside_a_flow_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bundle.yaml"
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n---\n"
        + (ROOT / "examples" / "01-hello-world.yaml").read_text()
    )

    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path} (hello-world): valid\n"


def test_yaml_dates_stay_strings_as_kubectl_reads_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # YAML 1.1 reads an unquoted 2026-01-31 as a date; kubectl sends it as a string.
    path = tmp_path / "dates.yaml"
    path.write_text(
        "apiVersion: overture.dev/v1alpha1\nkind: Flow\nmetadata: {name: dates}\nspec:\n"
        "  inputs:\n"
        "    - {id: day, type: DATE, default: 2026-01-31}\n"
        "    - {id: at, type: DATETIME, default: 2026-01-31T02:00:00Z}\n"
        "  variables: {since: 2025-12-31}\n"
        '  tasks: [{id: main, type: shell, commands: ["echo {{ inputs.day }} {{ vars.since }}"]}]\n'
    )

    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_a_missing_file_is_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"

    assert main(["validate", str(missing)]) == 1
    assert f"{missing}: cannot read" in capsys.readouterr().err
