"""The Flow's validator kept on disk (``overture.cli.validator_cache``): a validator loaded from the file reads every
document as the model's own does, the file's name changes with what the schema is made from, and a
command that finds the file builds nothing (nor imports pydantic's plugin loader)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from pydantic import ValidationError
from pydantic_core import SchemaValidator

from overture.api import Flow
from overture.cli import validator_cache

ROOT = Path(__file__).resolve().parents[3]


def example_flows() -> list[dict[str, Any]]:
    docs = [d for path in sorted((ROOT / "examples").glob("*.yaml")) for d in yaml.safe_load_all(path.read_text())]
    return [d for d in docs if isinstance(d, dict) and d.get("kind") == "Flow"]


def broken(flow: dict[str, Any]) -> list[dict[str, Any]]:
    """Bad variants of ``flow``: an unknown field, a wrong type, a bad duration, an unknown task type."""
    variants = []
    for change in (
        lambda spec: spec.update(unknown=1),
        lambda spec: spec["tasks"][0].update(retry={"maxAttempts": "many"}),
        lambda spec: spec["tasks"][0].update(timeout="soon"),
        lambda spec: spec["tasks"][0].update(type="nope"),
        lambda spec: spec.update(tasks=[]),
    ):
        variant = copy.deepcopy(flow)
        change(variant["spec"])
        variants.append(variant)
    return variants


def outcome(validator: Any, doc: dict[str, Any]) -> Any:
    try:
        return validator.validate_python(doc)
    except ValidationError as exc:
        return json.dumps(exc.errors(include_url=False), default=str)


def test_a_loaded_validator_reads_every_document_as_the_models_own(tmp_path: Path) -> None:
    built = validator_cache._cached(tmp_path)  # builds the model's and writes the file
    (written,) = tmp_path.glob("flow-validator-*.pickle")
    loaded = validator_cache._cached(tmp_path)
    assert isinstance(loaded, SchemaValidator)
    assert loaded is not built
    flows = example_flows()
    assert len(flows) > 10
    for doc in flows + [bad for flow in flows[:5] for bad in broken(flow)]:
        assert outcome(loaded, doc) == outcome(built, doc)
    assert written.exists()


def test_an_unreadable_file_is_built_again(tmp_path: Path) -> None:
    path = tmp_path / f"flow-validator-{validator_cache.cache_key()}.pickle"
    path.write_bytes(b"not a pickle")
    validator = validator_cache._cached(tmp_path)
    assert validator is Flow.__pydantic_validator__
    assert path.read_bytes() != b"not a pickle"


def test_the_key_changes_with_the_models_sources_and_pydantic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = validator_cache.cache_key()
    assert validator_cache.cache_key() == key
    monkeypatch.setattr(pydantic, "VERSION", "0.0.0")
    assert validator_cache.cache_key() != key
    monkeypatch.undo()
    sources = tmp_path / "api"
    shutil.copytree(validator_cache._SOURCES, sources, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(validator_cache, "_SOURCES", sources)
    assert validator_cache.cache_key() == key
    nested = sources / "tasks" / "base.py"  # a subpackage's module counts too
    nested.write_text(nested.read_text() + "\n# changed\n")
    assert validator_cache.cache_key() != key


def test_a_command_that_finds_the_file_builds_no_validator(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from overture.cli import main\n"
        "from overture.api import Flow\n"
        "code = main(['validate', 'examples/03-dag.yaml'])\n"
        "print(code, Flow.__pydantic_complete__, 'pydantic.plugin._loader' in sys.modules)\n"
    )
    env = {**os.environ, "OVERTURE_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert runs[0].stdout.splitlines()[-1] == "0 True True"  # no file yet: built, and written
    assert runs[1].stdout.splitlines()[-1] == "0 False False"
    assert runs[1].stdout.splitlines()[0] == "examples/03-dag.yaml (dag): valid"
