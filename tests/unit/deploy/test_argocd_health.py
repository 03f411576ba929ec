"""The Argo CD health checks in docs/argocd.md, run as Argo CD runs them.

The ConfigMap block is read from the doc itself (what users copy is what is tested), parsed as
YAML, and each Lua script is called with ``obj`` on Flows and Executions in every state. Argo CD
embeds Lua 5.1 (gopher-lua); lupa's Lua 5.1 runtime is used when the wheel ships it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "argocd.md"
PREFIX = "resource.customizations.health."


def config_map() -> dict[str, Any]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    maps = [
        doc for doc in (yaml.safe_load(b) for b in blocks) if isinstance(doc, dict) and doc.get("kind") == "ConfigMap"
    ]
    assert len(maps) == 1, f"{DOC.name} should hold exactly one ConfigMap block"
    return maps[0]


def test_the_config_map_is_argocd_cm_with_both_checks() -> None:
    cm = config_map()
    assert cm["metadata"]["name"] == "argocd-cm"
    assert sorted(cm["data"]) == [f"{PREFIX}overture.dev_Execution", f"{PREFIX}overture.dev_Flow"]


def test_every_execution_state_of_the_crd_is_mapped() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "overture.dev_executions.yaml").read_text(encoding="utf-8"))
    enum = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["state"][
        "enum"
    ]
    script = config_map()["data"][f"{PREFIX}overture.dev_Execution"]
    # SKIPPED exists for task runs; an Execution never ends SKIPPED and falls to Unknown.
    missing = [s for s in enum if s != "SKIPPED" and f'"{s}"' not in script]
    assert not missing, f"execution states without a health mapping: {missing}"


# ---------------------------------------------------------------- the Lua, run


@pytest.fixture(scope="module")
def health() -> Any:
    lupa = pytest.importorskip("lupa", reason="lupa (a dev dependency) runs the Lua; the YAML is still checked")
    try:
        from lupa import lua51

        runtime_class = lua51.LuaRuntime
    except ImportError:
        runtime_class = lupa.LuaRuntime
    lua = runtime_class(unpack_returned_tuples=True)
    checks = {
        key.removeprefix(PREFIX): lua.eval(f"function(obj)\n{src}\nend") for key, src in config_map()["data"].items()
    }

    def run(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
        result = checks[f"overture.dev_{kind}"](lua.table_from(obj, recursive=True))
        return result["status"], result["message"]

    return run


def flow(generation: int = 1, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "overture.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "f"}}
    body["metadata"]["generation"] = generation
    if status:
        body["status"] = status
    return body


def ready(value: str, message: str, reason: str = "Valid") -> dict[str, Any]:
    return {"type": "Ready", "status": value, "reason": reason, "message": message}


WAITING = "Waiting for the Overture operator to validate the flow"
BAD_FIELD = 'spec.tasks[2].retry.interval: "soon" is not a duration'
FLOW_CASES = {
    "no-status": (flow(), ("Progressing", WAITING)),
    "no-condition": (flow(observedGeneration=1, conditions=[]), ("Progressing", WAITING)),
    "ready": (flow(observedGeneration=1, conditions=[ready("True", "3 tasks")]), ("Healthy", "3 tasks")),
    "invalid": (flow(observedGeneration=1, conditions=[ready("False", BAD_FIELD, "Invalid")]), ("Degraded", BAD_FIELD)),
    "invalid-no-message": (
        flow(observedGeneration=1, conditions=[{"type": "Ready", "status": "False", "reason": "Invalid"}]),
        ("Degraded", "Invalid"),
    ),
    "stale-generation": (
        flow(generation=2, observedGeneration=1, conditions=[ready("True", "3 tasks")]),
        ("Progressing", "Waiting for the Overture operator to validate the latest spec"),
    ),
    "other-condition": (
        flow(observedGeneration=1, conditions=[{"type": "Other", "status": "True"}, ready("True", "ok")]),
        ("Healthy", "ok"),
    ),
}


@pytest.mark.parametrize(("obj", "expected"), FLOW_CASES.values(), ids=FLOW_CASES.keys())
def test_flow_health(health: Any, obj: dict[str, Any], expected: tuple[str, str]) -> None:
    assert health("Flow", obj) == expected


EXPECTED_EXECUTION = {
    **dict.fromkeys(["CREATED", "QUEUED", "RUNNING", "PAUSED", "RETRYING", "KILLING"], "Progressing"),
    **dict.fromkeys(["SUCCESS", "WARNING"], "Healthy"),
    **dict.fromkeys(["FAILED", "KILLED", "CANCELLED"], "Degraded"),
}


@pytest.mark.parametrize("state", EXPECTED_EXECUTION)
def test_execution_health_by_state(health: Any, state: str) -> None:
    obj = {"kind": "Execution", "metadata": {"name": "e"}, "status": {"state": state, "message": f"it is {state}"}}
    assert health("Execution", obj) == (EXPECTED_EXECUTION[state], f"it is {state}")


def test_execution_health_without_a_status_or_a_message(health: Any) -> None:
    assert health("Execution", {"metadata": {"name": "e"}}) == (
        "Progressing",
        "Waiting for the Overture operator to start the execution",
    )
    assert health("Execution", {"status": {"state": "FAILED"}}) == ("Degraded", "The execution ended FAILED")
    assert health("Execution", {"status": {"state": "SUCCESS"}}) == ("Healthy", "SUCCESS")
    assert health("Execution", {"status": {"state": "LOST"}}) == ("Unknown", "Unknown execution state LOST")
