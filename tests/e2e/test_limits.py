"""Resource limits: a 10,000-iteration ``each`` (kwok namespace, concurrencyLimit 50) completes
with its Execution under 1 MiB (etcd refuses objects over 1.5 MiB; CI runs 300 iterations and
projects 10,000, soak runs 10,000): past 200 task runs the finished ones are archived in the
status (api/run_archive.py), and ``overture get`` still shows the counts by state. Outputs over
the 4 KiB a termination message can hold fail the task with a clear message, while outputs just
under it arrive intact.
"""

from __future__ import annotations

import json
import time

import pytest
from faults import SOAK, audit_jobs, delete_namespace, new_namespace, scale
from harness import OperatorProcess, store_env

from overture.api import task_run_counts, task_runs_of
from overture.cli import main as overture_cli

pytestmark = pytest.mark.e2e

OBJECT_LIMIT = 1572864  # etcd --max-request-bytes default (1.5 MiB): a bigger status cannot be stored
MIB = 1024 * 1024


@pytest.mark.kwok
def test_ten_thousand_iterations_fit_in_one_execution(
    kubeconfig: str, operator_process: OperatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    # Soak: 10,000 iterations. CI: 300 (past the 200 runs kept in full), and the size of 10,000 projected.
    iterations = scale(300, 10000)
    helper = new_namespace(kubeconfig, "limits-each", kwok=True)
    try:
        helper.apply_flow(
            f"""
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {{name: fan-out}}
spec:
  tasks:
    - id: files
      type: each
      items: "{{{{ range({iterations}) | list | json }}}}"
      concurrencyLimit: 50
      tasks:
        - {{id: load, type: shell, commands: ["echo loading part {{{{ taskrun.value }}}}"]}}
    - {{id: report, type: shell, commands: ["echo done"]}}
"""
        )
        started = time.monotonic()
        name = helper.run("fan-out")
        execution = helper.wait_state(name, {"SUCCESS", "FAILED"}, timeout=scale(300, 3600))
        took = time.monotonic() - started
        status = execution["status"]
        assert status["state"] == "SUCCESS", status.get("message")
        runs = task_runs_of(status)
        loads = [r for r in runs if r["taskId"] == "load"]
        assert [r["iteration"] for r in loads] == list(range(iterations))
        assert all(r["state"] == "SUCCESS" and len(r["attempts"]) == 1 for r in loads)
        assert [r["id"] for r in runs if r["taskId"] != "load"] == ["files", "report"]
        assert status["archivedRuns"]["runs"] == iterations + 2 and status.get("taskRuns", []) == []
        assert task_run_counts(status) == {"SUCCESS": iterations + 2}
        size = len(json.dumps(execution, separators=(",", ":")).encode())
        audit = audit_jobs(helper)
        assert not audit.problems(), audit.problems()
        assert audit.jobs == iterations + 1
        at_10000 = size * 10000 / iterations
        with capsys.disabled():
            print(
                f"\n[limits] {'soak' if SOAK else 'ci'}: each over {iterations} items (concurrencyLimit 50) SUCCESS in "
                f"{took:.0f} s; Execution object {size / 1024:.0f} KiB ({size * 100 / OBJECT_LIMIT:.0f}% of 1.5 MiB), "
                f"{size / iterations:.0f} bytes per iteration (10,000: {at_10000 / 1024:.0f} KiB); "
                f"{audit.jobs} Jobs, none twice"
            )
        assert size < MIB and at_10000 < MIB, f"{size} bytes, {at_10000:.0f} at 10,000 iterations: over 1 MiB"
        capsys.readouterr()
        assert overture_cli(["get", "execution", name, "-n", helper.namespace, "--kubeconfig", kubeconfig]) == 0
        shown = capsys.readouterr().out
        assert f"{iterations + 2:,} finished task runs more, archived in the status; by state: SUCCESS" in shown, shown
    finally:
        delete_namespace(helper)


BIG_OUTPUTS = """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: outputs-size}
spec:
  tasks:
    - id: fits
      type: python
      script: |
        import json
        json.dump({"blob": "a" * 3900, "tail": "intact"}, open("/overture/outputs.json", "w"))
    - id: reads
      type: shell
      commands: ["test {{ outputs.fits.tail }} = intact"]
    - id: too-big
      type: python
      script: |
        import json
        json.dump({"blob": "b" * 5000, "tail": "lost"}, open("/overture/outputs.json", "w"))
    - id: never
      type: shell
      commands: ["echo never"]
"""


@pytest.mark.realnode
def test_outputs_over_4_kib_fail_the_task_clearly(kubeconfig: str, operator_process: OperatorProcess) -> None:
    """Without an artifact store; with one (the local cluster's), outputs of any size go through it."""
    helper = new_namespace(kubeconfig, "limits-out")
    try:
        helper.apply_flow(BIG_OUTPUTS)
        name = helper.run("outputs-size")
        execution = helper.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
        status = execution["status"]
        runs = {r["id"]: r for r in status["taskRuns"]}
        if store_env(kubeconfig):
            assert status["state"] == "SUCCESS", status.get("message")
            assert runs["fits"]["outputsStored"]["size"] > 3900  # over the 2 KiB kept inline
            assert runs["too-big"]["outputsStored"]["size"] > 5000
            assert runs["reads"]["state"] == runs["never"]["state"] == "SUCCESS"
            print(f"\n[limits] with a store: 3.9 and 5 KiB outputs stored: {runs['too-big']['outputsStored']}")
            return
        assert status["state"] == "FAILED"
        assert runs["fits"]["state"] == "SUCCESS"
        assert runs["fits"]["outputs"] == {"blob": "a" * 3900, "tail": "intact"}  # whole, not cut
        assert runs["reads"]["state"] == "SUCCESS"
        too_big = runs["too-big"]
        assert too_big["state"] == "FAILED"
        assert too_big.get("outputs") is None  # nothing half-read is passed on
        assert "4 KiB" in too_big["message"], too_big["message"]
        assert "/overture/outputs.json" in too_big["message"]
        assert "never" not in runs
        print(f"\n[limits] 3.9 KiB outputs arrive whole; 5 KiB: {too_big['message']}")
    finally:
        delete_namespace(helper)
