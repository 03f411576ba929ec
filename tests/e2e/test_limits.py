"""Resource limits: a 1,000-iteration ``each`` (kwok namespace, concurrencyLimit 50) completes with
its Execution well under the API server's object size limit (etcd's 1.5 MiB request limit; CI
runs 200 iterations and projects 1,000, soak runs 1,000); outputs over the 4 KiB a termination
message can hold fail the task with a clear message, while outputs just under it arrive intact.
"""

from __future__ import annotations

import json
import time

import pytest
from faults import SOAK, audit_jobs, delete_namespace, new_namespace, scale
from harness import OperatorProcess, store_env

pytestmark = pytest.mark.e2e

OBJECT_LIMIT = 1572864  # etcd --max-request-bytes default (1.5 MiB): a bigger status cannot be stored


@pytest.mark.kwok
def test_a_thousand_iterations_fit_in_one_execution(kubeconfig: str, operator_process: OperatorProcess) -> None:
    # Soak: 1,000 iterations. CI: 200, and the size of 1,000 projected from them: a 1,000-iteration
    # run takes 4-5 min on the 2-core CI machine (each reconcile of one big execution rewrites its
    # whole status: ~0.2-1 s at 400 KiB), more than CI's share allows.
    iterations = scale(200, 1000)
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
        execution = helper.wait_state(name, {"SUCCESS", "FAILED"}, timeout=scale(240, 900))
        took = time.monotonic() - started
        status = execution["status"]
        assert status["state"] == "SUCCESS", status.get("message")
        runs = status["taskRuns"]
        loads = [r for r in runs if r["taskId"] == "load"]
        assert len(loads) == iterations
        assert sorted(r["iteration"] for r in loads) == list(range(iterations))
        assert all(r["state"] == "SUCCESS" and len(r["attempts"]) == 1 for r in loads)
        size = len(json.dumps(execution, separators=(",", ":")).encode())
        audit = audit_jobs(helper)
        assert not audit.problems(), audit.problems()
        assert audit.jobs == iterations + 1
        at_1000 = size * 1000 / iterations
        print(
            f"\n[limits] {'soak' if SOAK else 'ci'}: each over {iterations} items (concurrencyLimit 50) SUCCESS in "
            f"{took:.0f} s; Execution object {size / 1024:.0f} KiB ({size * 100 / OBJECT_LIMIT:.0f}% of 1.5 MiB), "
            f"{size / iterations:.0f} bytes per iteration (1,000: {at_1000 / 1024:.0f} KiB); "
            f"{audit.jobs} Jobs, none twice"
        )
        assert at_1000 < OBJECT_LIMIT * (2 / 3), f"{at_1000:.0f} bytes at 1,000 iterations: too close to 1.5 MiB"
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
