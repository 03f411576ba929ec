"""The Flow's validator, kept on disk between runs of ``overture`` (``validate``, ``graph``, ``local run``).

Having pydantic build the Flow's validator (its schema generation, in Python, for the ~60 models a
Flow holds) was a ninth of ``overture validate``'s start-up, and the build imports
``importlib.metadata`` for pydantic's plugin scan, a sixteenth more. The built schema is saved with
pickle in the user's cache directory (``OVERTURE_CACHE_DIR``, else ``$XDG_CACHE_HOME/overture``, else
``~/.cache/overture``), and the next run makes the validator from it in about a millisecond.

Correct by construction: the file's name is a hash of what the schema is made from: the models'
sources (every ``.py`` under ``overture/api``, which imports no other part of Overture), Python's,
pydantic's and pydantic-core's versions, and the files pydantic reads annotations with
(typing_extensions, annotated_types, typing_inspection: path, size and modification time, as Python
decides a ``.pyc`` is stale). Another schema gets another name. A file that cannot be read or
loaded is built again; one that cannot be written is not kept. What is saved is the schema and
config pydantic gave the validator, less the functions it keeps to write JSON Schema
(``pydantic_js_*`` in a schema's metadata: some are local functions pickle cannot name, and
validating never calls them).

``main`` hands ``load`` to ``api.parse_flow`` (``load_flow_validator_with``), which calls it at the
first Flow it parses, unless the model is built already (``overture operator`` and ``overture ui``
build every model as they start, ``build_models``): a command that parses no Flow reads nothing.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import annotated_types
import pydantic
import pydantic_core
import typing_extensions
import typing_inspection.introspection
from pydantic_core import SchemaValidator

import overture.api
from overture.api import Flow

_SOURCES = Path(overture.api.__file__).resolve().parent
_ANNOTATION_LIBRARIES = (typing_extensions, annotated_types, typing_inspection.introspection)
_PREFIX = "flow-validator-"


def load() -> Any:
    """The Flow's validator from the cache file of this key, or built by the model (and written)."""
    return _cached(cache_dir())


def cache_dir() -> Path:
    if configured := os.environ.get("OVERTURE_CACHE_DIR"):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "overture"


def cache_key() -> str:
    """A hash of everything the Flow's schema is made from (see the module's docstring)."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0{pydantic.VERSION}\0{pydantic_core.__version__}\0".encode())
    for path in sorted(_SOURCES.rglob("*.py")):
        digest.update(f"{path.relative_to(_SOURCES)}\0".encode() + path.read_bytes())
    for module in _ANNOTATION_LIBRARIES:
        path = Path(module.__file__ or "")
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:32]


def _cached(directory: Path) -> Any:
    path = directory / f"{_PREFIX}{cache_key()}.pickle"
    try:
        schema, config = pickle.loads(path.read_bytes())
        return SchemaValidator(schema, config)
    except Exception:  # none yet, or unreadable: built again below
        pass
    Flow.model_rebuild()
    validator = Flow.__pydantic_validator__
    try:
        reduced: Any = validator.__reduce__()  # (SchemaValidator, (schema, config, ...)), what pickle saves
        schema, config = reduced[1][:2]
        _write(path, pickle.dumps((_without_json_schema_functions(schema), config)))
    except Exception:  # a read-only home, or a validator pydantic wrapped for a plugin: not kept
        pass
    return validator


def _write(path: Path, data: bytes) -> None:
    """``data`` at ``path`` whole or not at all (a run reading it meanwhile sees no half file); the
    files of older keys go."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_bytes(data)
    os.replace(partial, path)
    for old in path.parent.glob(f"{_PREFIX}*.pickle"):
        if old != path:
            old.unlink(missing_ok=True)


def _without_json_schema_functions(value: Any) -> Any:
    """``value`` (a core schema) without the ``pydantic_js_*`` entries of its schemas' metadata."""
    if isinstance(value, list):
        return [_without_json_schema_functions(item) for item in value]
    if not isinstance(value, dict):
        return value
    copied = {key: _without_json_schema_functions(item) for key, item in value.items()}
    metadata = value.get("metadata")
    if isinstance(value.get("type"), str) and isinstance(metadata, dict):
        copied["metadata"] = {key: item for key, item in metadata.items() if not key.startswith("pydantic_js_")}
    return copied
