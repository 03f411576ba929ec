"""Reading a task's outputs back from its container's termination message.

Without the artifact store, a task writes a JSON object to /overture/outputs.json, which is the
container's ``terminationMessagePath``; every task also gets that path as ``$OVERTURE_OUTPUTS_FILE``, which
``overture local run`` points elsewhere. The kubelet keeps at most 4 KiB of it, so a message that reaches
the limit was probably cut: the task fails with a clear message instead of passing on a
truncated value. With the store, the in-pod wrapper reads that file (and ``::{"outputs": ...}::``
stdout lines) and the termination message is its manifest instead (``read_manifest``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from overture.api import too_deep

OUTPUTS_PATH = "/overture/outputs.json"
OUTPUTS_ENV = "OVERTURE_OUTPUTS_FILE"
TERMINATION_MESSAGE_LIMIT = 4096


class OutputsError(ValueError):
    pass


def parse_outputs(message: str | None) -> dict[str, Any]:
    """The outputs of a succeeded attempt; raises OutputsError with a message for the task run."""
    if message is None or not message.strip():
        return {}
    size = len(message.encode())
    if size >= TERMINATION_MESSAGE_LIMIT:
        raise OutputsError(
            f"outputs in {OUTPUTS_PATH} reach the 4 KiB limit of a termination message ({size} bytes) "
            "and may be cut; write large data to an artifact store and output its location"
        )
    try:
        value = json.loads(message)
    except RecursionError:
        raise OutputsError(f"outputs in {OUTPUTS_PATH} are nested deeper than JSON can be read here") from None
    except json.JSONDecodeError as exc:
        raise OutputsError(
            f"outputs in {OUTPUTS_PATH} are not valid JSON ({exc.msg} at position {exc.pos}): {message[:200]!r}"
        ) from None
    if not isinstance(value, dict):
        raise OutputsError(f"outputs in {OUTPUTS_PATH} must be a JSON object, not {type(value).__name__}")
    if (problem := too_deep(value, "outputs")) is not None:
        raise OutputsError(problem)
    return value


@dataclass(frozen=True)
class Manifest:
    """What the in-pod wrapper (wrapper/manifest.go) leaves as the termination message: how the
    attempt went and where its results are. Outputs are inline, or ``outputs_size`` bytes in the
    store (the attempt's outputs.json)."""

    exit_code: int | None = None
    error: str | None = None
    outputs: dict[str, Any] | None = None
    outputs_size: int | None = None
    log_size: int | None = None
    warnings: tuple[str, ...] = ()


MANIFEST_VERSION = 1


def read_manifest(message: str | None) -> Manifest | None:
    """The wrapper's manifest, or None for a plain termination message (a task run without the wrapper)."""
    if not message or not message.lstrip().startswith('{"overture":'):
        return None
    try:
        value = json.loads(message)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or value.get("overture") != MANIFEST_VERSION:
        return None
    outputs = value.get("outputs")
    return Manifest(
        exit_code=value.get("exitCode"),
        error=value.get("error"),
        outputs=outputs if isinstance(outputs, dict) else None,
        outputs_size=value.get("outputsSize"),
        log_size=value.get("logSize"),
        warnings=tuple(value.get("warnings") or ()),
    )
