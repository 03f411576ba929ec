"""schemas/flow.json, the JSON schema editors read (``overture schema``): current, and it fits the examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from overture.crd import render_schema

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_FILE = ROOT / "schemas" / "flow.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
MODELINE = "# yaml-language-server: $schema=../schemas/flow.json"


def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text()))


def test_the_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == render_schema(), "schemas/flow.json is stale: run `make crds`"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_names_the_schema_and_fits_it(path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == MODELINE, f"{path.name}: the first line should be the modeline {MODELINE!r}"
    flows = [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict) and doc.get("kind") == "Flow"]
    assert flows
    for flow in flows:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(flow)]
        assert errors == []


def test_a_typo_in_a_task_is_an_error_an_editor_shows() -> None:
    flow: dict[str, Any] = {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": "x"},
        "spec": {"tasks": [{"id": "a", "type": "shell", "comands": ["true"]}]},
    }
    messages = [e.message for e in validator().iter_errors(flow)]
    assert any("'comands' was unexpected" in m for m in messages), messages
