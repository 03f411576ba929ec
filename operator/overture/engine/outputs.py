"""Reading a task's outputs back from its container's termination message.

A task writes a JSON object to /overture/outputs.json, which is the container's
``terminationMessagePath``; every task also gets that path as ``$OVERTURE_OUTPUTS_FILE``, which
``overture local run`` points elsewhere. The kubelet keeps at most 4 KiB of it, so a message that reaches
the limit was probably cut: the task fails with a clear message instead of passing on a
truncated value.
"""

from __future__ import annotations

import json
from typing import Any

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
    except json.JSONDecodeError as exc:
        raise OutputsError(
            f"outputs in {OUTPUTS_PATH} are not valid JSON ({exc.msg} at position {exc.pos}): {message[:200]!r}"
        ) from None
    if not isinstance(value, dict):
        raise OutputsError(f"outputs in {OUTPUTS_PATH} must be a JSON object, not {type(value).__name__}")
    return value
