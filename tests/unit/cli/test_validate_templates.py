"""``overture validate`` with TaskTemplates among its files: each template is checked, and the
flows' template tasks against them (without templates, template tasks are not checked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from overture.cli import main

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "examples" / "templates" / "echo.yaml"
FLOW = ROOT / "examples" / "19-task-templates.yaml"


def validate(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, paths)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_template_and_the_flow_using_it_are_both_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(capsys, TEMPLATE, FLOW) == (
        0,
        f"{TEMPLATE} (echo-1-0-0): valid\n{FLOW} (template-diamond): valid\n",
        "",
    )


def test_with_is_checked_against_the_templates_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.read_text().replace("{message: B, repeat: 2}", "{message: B, repeat: two}"))
    code, _, err = validate(capsys, TEMPLATE, flow)
    assert code == 1
    assert '  spec.tasks[1].with.repeat: "two" is not an integer (TaskTemplate echo 1.0.0: repeat is integer)' in err
    assert validate(capsys, flow)[0] == 0  # no template at hand: not checked


def test_a_broken_template_is_named_by_its_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(TEMPLATE.read_text().replace("version: 1.0.0", "version: v1"))
    code, _, err = validate(capsys, template)
    assert code == 1
    assert f"{template} (echo-1-0-0): invalid" in err
    assert '  spec.version: "v1" is not allowed here' in err
