"""Chaos: executions of a mixed flow while the operator is SIGKILLed at random moments and the
kube-apiserver itself is restarted once. Nothing may be lost or done twice.

The mixed flow has a sequential block, a DAG, an ``each`` fan-out, retries and a flaky task that
fails its first attempt (on the kwok node through ``KWOK_EXIT_CODE``, on the real node through
its command); a third of the runs are asked to fail at the end, so ``errors`` and ``finally``
run too. Most runs are in a namespace whose pods land on the kwok node (Job pods end at once);
a few run real pods. A schedule ticking every 5 s (catchUp: all) runs beside them.

After it settles: every execution is terminal in the state its inputs call for, with the task
runs and attempts that state implies; no task attempt has two Jobs; every Job has its Execution
as owner and is an attempt of it; and every schedule tick between the first and the last
produced exactly one execution. The counts are printed.

CI: 20 kwok runs + 2 real runs, 3 SIGKILLs. Soak (OVERTURE_SOAK=1): 100 + 6, 12 SIGKILLs.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from faults import (
    SOAK,
    TERMINAL,
    audit_jobs,
    delete_namespace,
    is_local_cluster,
    list_executions,
    new_namespace,
    restart_apiserver,
    scale,
    state_of,
)
from harness import GROUP, VERSION, Cluster, OperatorProcess, poll

pytestmark = [pytest.mark.e2e, pytest.mark.kwok]

MIXED = """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: mixed}
spec:
  inputs:
    - {id: outcome, type: SELECT, values: [ok, fail], required: false, default: ok}
  tasks:
    - id: prepare
      type: sequential
      tasks:
        - {id: extract, type: shell, commands: ["echo extract"]}
        - {id: check, type: shell, commands: ["echo check"]}
    - id: flaky
      type: shell
      dependsOn: [prepare]
      retry: {maxAttempts: 3, interval: 1s}
      env:
        - {name: KWOK_EXIT_CODE, value: "{{ 1 if taskrun.attempt == 1 else 0 }}"}
      commands:
        - echo "attempt {{ taskrun.attempt }}"
        - test {{ taskrun.attempt }} -ge 2
    - id: fan
      type: each
      dependsOn: [prepare]
      items: [a, b, c, d]
      concurrencyLimit: 2
      tasks:
        - {id: part, type: shell, commands: ["echo part {{ taskrun.value }}"]}
    - id: report
      type: shell
      dependsOn: [flaky, fan]
      commands: ["echo report"]
    - id: gate
      type: fail
      dependsOn: [report]
      runIf: "{{ inputs.outcome == 'fail' }}"
      message: "asked to fail"
  errors:
    - {id: alert, type: shell, commands: ["echo alert"]}
  finally:
    - {id: cleanup, type: shell, commands: ["echo cleanup"]}
"""

TICK_SECONDS = 5
TICKER = f"""
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {{name: ticker}}
spec:
  triggers:
    - {{id: every5s, type: schedule, cron: "*/{TICK_SECONDS} * * * * *", catchUp: all}}
  tasks:
    - {{id: tick, type: shell, commands: ["echo {{{{ trigger.date }}}}"]}}
"""

RUNNABLE_OK = ["extract", "check", "flaky", "part", "part", "part", "part", "report", "cleanup"]


def expected_state(execution: dict[str, Any]) -> str:
    return "FAILED" if (execution["spec"].get("inputs") or {}).get("outcome") == "fail" else "SUCCESS"


def shape_problems(execution: dict[str, Any]) -> list[str]:
    """What is wrong with a settled execution of the mixed flow (empty: all is as it should be)."""
    name, status = execution["metadata"]["name"], execution.get("status") or {}
    want = expected_state(execution)
    problems = []
    if status.get("state") != want:
        return [f"{name}: {status.get('state')} ({status.get('message')}), expected {want}"]
    runs = {r["id"]: r for r in status.get("taskRuns") or []}
    states = {rid: r["state"] for rid, r in runs.items()}
    expected = {
        "prepare": "SUCCESS",
        "extract": "SUCCESS",
        "check": "SUCCESS",
        "flaky": "SUCCESS",
        "fan": "SUCCESS",
        "report": "SUCCESS",
        "gate": "FAILED" if want == "FAILED" else "SKIPPED",
        "cleanup": "SUCCESS",
    }
    if want == "FAILED":
        expected["alert"] = "SUCCESS"
    parts = {rid: s for rid, s in states.items() if runs[rid]["taskId"] == "part"}
    others = {rid: s for rid, s in states.items() if runs[rid]["taskId"] != "part"}
    if others != expected:
        problems.append(f"{name}: task runs {others}, expected {expected}")
    if sorted(parts.values()) != ["SUCCESS"] * 4 or len({runs[r]["iteration"] for r in parts}) != 4:
        problems.append(f"{name}: each iterations {parts}")
    attempts = {rid: [a["state"] for a in r.get("attempts") or []] for rid, r in runs.items()}
    if attempts.get("flaky") != ["FAILED", "SUCCESS"]:
        problems.append(f"{name}: flaky attempts {attempts.get('flaky')}, expected [FAILED, SUCCESS]")
    for rid, run in runs.items():
        if run["taskId"] in ("flaky", "prepare", "fan", "gate"):
            continue
        if attempts[rid] != ["SUCCESS"]:
            problems.append(f"{name}: {rid} attempts {attempts[rid]}, expected one SUCCESS")
    return problems


def leads(process: OperatorProcess) -> bool:
    match = re.search(r"^overture_leader (\S+)$", process.metrics(), re.MULTILINE)
    return bool(match and float(match.group(1)) == 1.0)


def tick_of(execution: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(execution["spec"]["trigger"]["date"]).astimezone(UTC)


def run_mixed(helper: Cluster, index: int) -> str:
    outcome = "fail" if index % 3 == 2 else "ok"
    return helper.run("mixed", inputs={"outcome": outcome}, name=f"mixed-{index:03d}")


def test_operator_sigkills_and_an_apiserver_restart_lose_and_duplicate_nothing(
    kubeconfig: str, operator_process: OperatorProcess, node_kind: str
) -> None:
    rng = random.Random(20260131)
    total, real_total = scale(20, 100), scale(2, 6)
    kills_planned = scale(3, 12)
    restart_api = is_local_cluster(kubeconfig)
    fake = new_namespace(kubeconfig, "chaos-kwok", kwok=True)
    real = new_namespace(kubeconfig, "chaos-real") if node_kind == "both" else None
    try:
        fake.apply_flow(MIXED)
        fake.apply_flow(TICKER)
        ticker_created = datetime.now(UTC)
        if real is not None:
            real.apply_flow(MIXED)

        # --- chaos: waves of executions, a SIGKILL after each at a random moment, the apiserver once
        started = time.monotonic()
        waves = [total // kills_planned + (1 if i < total % kills_planned else 0) for i in range(kills_planned)]
        made, kills, downtime = 0, 0, 0.0
        api_down, api_recovery = None, 0.0
        for wave, size in enumerate(waves):
            for _ in range(size):
                run_mixed(fake, made)
                made += 1
            if real is not None and wave < real_total:
                for index in range(wave, real_total, kills_planned):
                    run_mixed(real, 900 + index)
            time.sleep(rng.uniform(0.5, 4.0))  # deliberate chaos timing: kill at a random moment
            operator_process.kill()
            kills += 1
            pause = rng.uniform(0.0, 2.0)
            time.sleep(pause)
            operator_process.start()
            downtime += pause
            if restart_api and wave == len(waves) // 2:
                time.sleep(rng.uniform(0.5, 2.0))
                pid = operator_process.proc.pid if operator_process.proc else None
                api_down = restart_apiserver()
                back = time.monotonic()
                poll(lambda: leads(operator_process), 60, "the operator leading again after the apiserver restart")
                api_recovery = time.monotonic() - back
                assert operator_process.proc is not None and operator_process.proc.pid == pid, "the operator restarted"
        chaos_seconds = time.monotonic() - started

        # --- settle
        helpers = [h for h in (fake, real) if h is not None]

        def settled() -> bool:
            for helper in helpers:
                found = [e for e in list_executions(helper) if e["spec"]["flowRef"]["name"] == "mixed"]
                if any(state_of(e) not in TERMINAL for e in found):
                    return False
            return True

        poll(settled, scale(240, 900), "every mixed execution terminal", interval=2)
        suspend = {"spec": {"suspend": True}}
        fake.custom.patch_namespaced_custom_object(GROUP, VERSION, fake.namespace, "flows", "ticker", suspend)
        suspended_at = datetime.now(UTC)
        poll(
            lambda: all(state_of(e) in TERMINAL for e in list_executions(fake, "overture.dev/flow=ticker")),
            120,
            "every ticker execution terminal",
            interval=1,
        )
        settle_seconds = time.monotonic() - started - chaos_seconds

        # --- checks
        mixed = [e for h in helpers for e in list_executions(h) if e["spec"]["flowRef"]["name"] == "mixed"]
        assert len(mixed) == total + (real_total if real is not None else 0)
        problems = [p for e in mixed for p in shape_problems(e)]
        assert not problems, "\n".join(problems[:30])

        audits = {h.namespace: audit_jobs(h) for h in helpers}
        for namespace, audit in audits.items():
            assert not audit.problems(), f"{namespace}: {audit.problems()}"

        ticks_found = list_executions(fake, "overture.dev/flow=ticker")
        assert all(state_of(e) == "SUCCESS" for e in ticks_found), [
            (e["metadata"]["name"], state_of(e)) for e in ticks_found if state_of(e) != "SUCCESS"
        ]
        ticks = sorted(tick_of(e) for e in ticks_found)
        duplicated = [t for t, n in Counter(ticks).items() if n > 1]
        assert not duplicated, f"ticks fired twice: {duplicated}"
        step = timedelta(seconds=TICK_SECONDS)
        gaps = [(a, b) for a, b in itertools.pairwise(ticks) if b - a != step]
        assert not gaps, f"ticks missing between {gaps}"
        assert ticks, "the schedule never fired"
        # A schedule owes ticks from when the scheduler first saw it (or the nextTick it recorded): a
        # SIGKILL before that first pass moves its start a little; not by more than a kill cycle.
        assert ticks[0] <= ticker_created + 6 * step, f"first tick {ticks[0]} long after the flow ({ticker_created})"
        assert ticks[-1] >= suspended_at - 2 * step, f"last tick {ticks[-1]} long before suspending ({suspended_at})"

        states = Counter(state_of(e) for e in mixed)
        fake_audit = audits[fake.namespace]
        real_audit = audits[real.namespace] if real is not None else None
        print(
            f"\n[chaos] {'soak' if SOAK else 'ci'} mode: {len(mixed)} mixed executions "
            f"({total} on kwok, {len(mixed) - total} real) -> {dict(states)}; "
            f"{kills} operator SIGKILLs (down {downtime:.1f} s in all), "
            f"apiserver restarts: {1 if api_down is not None else 0}"
            + (
                f" (API unreachable {api_down:.0f} s; the same operator process led again {api_recovery:.1f} s "
                "after it was back)"
                if api_down is not None
                else ""
            )
            + f"; chaos {chaos_seconds:.0f} s, settled {settle_seconds:.0f} s later"
            f"\n[chaos] kwok: {fake_audit.jobs} Jobs, {fake_audit.pods} pods, {fake_audit.attempts} attempts"
            + (
                f"; real: {real_audit.jobs} Jobs, {real_audit.pods} pods, {real_audit.attempts} attempts"
                if real_audit is not None
                else ""
            )
            + "; attempts with two Jobs: 0, orphaned Jobs: 0, unrecorded Jobs: 0, attempts without a Job: 0"
            f"\n[chaos] schedule: {len(ticks)} ticks every {TICK_SECONDS} s from {ticks[0]:%H:%M:%S} to "
            f"{ticks[-1]:%H:%M:%S}, each exactly one execution; operator starts in this session: "
            f"{operator_process.starts}"
        )
    finally:
        for helper in (fake, real):
            if helper is not None:
                delete_namespace(helper)
