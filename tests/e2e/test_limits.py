"""Resource limits: a 10,000-iteration ``each`` (kwok node) completes with its Execution under
1 MiB (etcd refuses objects over 1.5 MiB) while some iterations fail and the flow goes on past them
(``allowFailure``): past 200 task runs the finished ones are archived in the status
(api/run_archive.py), and ``kubectl get`` and ``overture get`` still show the counts by state and
name the failed iterations. CI runs 300 iterations and projects 10,000; ``OVERTURE_SOAK=1`` runs
10,000, ``OVERTURE_SOAK_ITEMS=N`` any N (a multiple of 10). Outputs over the 4 KiB a termination
message can hold fail the task with a clear message, while outputs just under it arrive intact.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from faults import SOAK, audit_jobs, delete_namespace, new_namespace, scale
from harness import OperatorProcess, kubectl_path, store_env

from overture.api import task_run_counts, task_runs_of
from overture.cli import main as overture_cli

pytestmark = pytest.mark.e2e

OBJECT_LIMIT = 1572864  # etcd --max-request-bytes default (1.5 MiB): a bigger status cannot be stored
MIB = 1024 * 1024
FAILURES = 10  # iterations that fail: fewer than the 20 failures a big status keeps in full
# Iterations at once. The kwok node takes any number of pods (capacity 1M); what a Job costs is
# the Job controller's hop to its pod (~5 writes through its 100 QPS) and a reconcile of the
# whole status per batch of Jobs seen ending, so 200 at a time keeps the controllers busy and
# settles more Jobs per reconcile than 50 did (the 1,000-item fan-out of benchmarks/peer.py).
CONCURRENCY = 200


def fan_out_flow(iterations: int) -> str:
    """An ``each`` whose load fails (exit 3, on the kwok node through ``KWOK_EXIT_CODE``) for
    ``FAILURES`` evenly spaced items; ``allowFailure`` lets the run go on (Kestra's
    ``allowFailure``, Argo's ``continueOn: {failed: true}``), and ``report`` runs after it."""
    step = iterations // FAILURES
    return f"""
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {{name: fan-out}}
spec:
  tasks:
    - id: files
      type: each
      items: "{{{{ range({iterations}) | list | json }}}}"
      concurrencyLimit: {CONCURRENCY}
      tasks:
        - id: load
          type: shell
          allowFailure: true
          env:
            - {{name: KWOK_EXIT_CODE, value: "{{{{ 3 if taskrun.value % {step} == 7 else 0 }}}}"}}
          commands: ["echo loading part {{{{ taskrun.value }}}}", "test $(( {{{{ taskrun.value }}}} % {step} )) -ne 7"]
    - {{id: report, type: shell, commands: ["echo done"]}}
"""


def soak_items() -> int:
    iterations = int(os.environ.get("OVERTURE_SOAK_ITEMS") or scale(300, 10000))
    assert iterations >= 10 * FAILURES and iterations % FAILURES == 0, (
        f"OVERTURE_SOAK_ITEMS={iterations}: give a multiple of {FAILURES}, at least {10 * FAILURES}"
    )
    return iterations


@pytest.mark.kwok
def test_ten_thousand_iterations_with_failures_fit_in_one_execution(
    kubeconfig: str, operator_process: OperatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    iterations = soak_items()
    failing = list(range(7, iterations, iterations // FAILURES))
    helper = new_namespace(kubeconfig, "limits-each", kwok=True)
    try:
        helper.apply_flow(fan_out_flow(iterations))
        cpu_before = operator_process.usage()[0]
        started = time.monotonic()
        name = helper.run("fan-out")
        execution = helper.wait_state(name, {"SUCCESS", "WARNING", "FAILED"}, timeout=max(300, iterations * 0.6))
        took = time.monotonic() - started
        cpu, rss, peak = operator_process.usage()
        load = os.getloadavg()
        status = execution["status"]
        assert status["state"] == "WARNING", status.get("message")

        # Nothing lost: every item ran once, in order; exactly the failing ones failed.
        runs = task_runs_of(status)
        loads = [r for r in runs if r["taskId"] == "load"]
        assert [r["iteration"] for r in loads] == list(range(iterations))
        assert all(len(r["attempts"]) == 1 for r in loads)
        failed = [r for r in loads if r["state"] != "SUCCESS"]
        assert [r["iteration"] for r in failed] == failing
        assert all(r["state"] == "WARNING" and "exit code 3" in r["message"] for r in failed), failed[0]
        assert [(r["id"], r["state"]) for r in runs if r["taskId"] != "load"] == [
            ("files", "WARNING"),
            ("report", "SUCCESS"),
        ]
        counts = {"SUCCESS": iterations - FAILURES + 1, "WARNING": FAILURES + 1}
        assert task_run_counts(status) == counts
        # Kept in full: the failures (and the each they made WARNING); archived: the rest.
        assert [r["id"] for r in status["taskRuns"]] == ["files"] + [r["id"] for r in failed]
        assert status["archivedRuns"]["runs"] == iterations + 2 - len(status["taskRuns"])
        audit = audit_jobs(helper)
        assert not audit.problems(), audit.problems()
        assert audit.jobs == iterations + 1

        size = len(json.dumps(execution, separators=(",", ":")).encode())
        at_10000 = size * 10000 / iterations
        with capsys.disabled():
            print(
                f"\n[limits] {'soak' if SOAK else 'ci'}: each over {iterations:,} items ({FAILURES} failing, "
                f"allowFailure; concurrencyLimit {CONCURRENCY}) WARNING in {took:.0f} s "
                f"({iterations / took:.1f} iterations/s); Execution object {size / 1024:.0f} KiB "
                f"({size * 100 / OBJECT_LIMIT:.0f}% of 1.5 MiB), {size / iterations:.0f} bytes per iteration "
                f"(10,000: {at_10000 / 1024:.0f} KiB); {audit.jobs:,} Jobs, none twice; operator CPU "
                f"{cpu - cpu_before:.0f} s ({(cpu - cpu_before) * 1000 / iterations:.0f} ms per iteration), "
                f"RSS {rss:.0f} MiB (peak {peak:.0f}); load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
            )
        assert size < MIB and at_10000 < MIB, f"{size} bytes, {at_10000:.0f} at 10,000 iterations: over 1 MiB"

        # kubectl: the state and the counts by state (-o wide: RUNS), and the failed iterations by id.
        kubectl = [kubectl_path(), "--kubeconfig", kubeconfig, "-n", helper.namespace, "get", "executions", name]
        wide = subprocess.run([*kubectl, "-o", "wide"], capture_output=True, text=True, timeout=60, check=True).stdout
        with capsys.disabled():
            print(wide)
        assert "WARNING" in wide and json.dumps(counts, separators=(",", ":")) in wide, wide
        failures = '-o=jsonpath={range .status.taskRuns[?(@.state=="WARNING")]}{.id}{"\\n"}{end}'
        named = subprocess.run([*kubectl, failures], capture_output=True, text=True, timeout=60, check=True).stdout
        assert named.split() == ["files"] + [r["id"] for r in failed], named

        # overture get: the same counts, and each failed iteration with its message.
        capsys.readouterr()
        assert overture_cli(["get", "execution", name, "-n", helper.namespace, "--kubeconfig", kubeconfig]) == 0
        shown = capsys.readouterr().out
        archived = iterations + 2 - len(status["taskRuns"])
        by_state = f"SUCCESS {counts['SUCCESS']:,}, WARNING {counts['WARNING']:,}"
        assert f"{archived:,} finished task runs more, archived in the status; by state: {by_state}" in shown, shown
        for run in failed:
            assert any(line.startswith(run["id"] + " ") and "exit code 3" in line for line in shown.splitlines()), shown
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


ENV_VALUE_BYTES = 100_000  # three of them: a 300 KiB pod, each value under Linux's 128 KiB per string


def _flow(name: str, task: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Flow",
        "metadata": {"name": name},
        "spec": {"tasks": [task, {"id": "after", "type": "shell", "commands": ["echo after"]}]},
    }


@pytest.mark.kwok
def test_a_task_pod_bigger_than_a_watch_line_limit_is_followed(
    kubeconfig: str, operator_process: OperatorProcess
) -> None:
    """A flow author's 300 KiB of environment makes a Job and a pod of over 300 KiB: each watch
    event of them is one line of that length, over aiohttp's default 128 KiB line limit. The
    operator reads watch lines of up to 4 MiB (kube/client.py ``READ_BUFFER``: with 2**16 this test
    times out, the watch stuck at that event) and the run goes on to the next task."""
    helper = new_namespace(kubeconfig, "limits-big-pod", kwok=True)
    try:
        env = [{"name": f"PART_{i}", "value": str(i) * ENV_VALUE_BYTES} for i in range(3)]
        helper.apply_flow(_flow("big-env", {"id": "big", "type": "shell", "env": env, "commands": ["echo big"]}))
        name = helper.run("big-env")
        execution = helper.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
        assert execution["status"]["state"] == "SUCCESS", execution["status"].get("message")
        jobs = {job.metadata.labels.get("overture.dev/task"): job for job in helper.jobs(name)}
        size = len(json.dumps(helper.batch.api_client.sanitize_for_serialization(jobs["big"])))
        assert size > 3 * ENV_VALUE_BYTES  # the event really was one line over the limit
        print(f"\n[limits] a {size // 1024} KiB task Job followed to SUCCESS")
    finally:
        delete_namespace(helper)


@pytest.mark.kwok
def test_a_script_no_linux_node_could_start_fails_its_task_naming_the_fix(
    kubeconfig: str, operator_process: OperatorProcess
) -> None:
    """One argument over 128 KiB (Linux's MAX_ARG_STRLEN): the kubelet would only log "exec ...:
    argument list too long". The attempt is refused when it is built, with what to do instead; no
    Job is made (the kwok node, which runs nothing, would have let it succeed)."""
    helper = new_namespace(kubeconfig, "limits-big-script", kwok=True)
    try:
        helper.apply_flow(
            _flow("big-script", {"id": "big", "type": "shell", "commands": ["# " + "x" * 140_000, "echo big"]})
        )
        name = helper.run("big-script")
        execution = helper.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
        runs = {run["id"]: run for run in execution["status"]["taskRuns"]}
        assert execution["status"]["state"] == "FAILED"
        message = runs["big"]["message"]
        assert "KiB argument (its commands or script)" in message and "inputFiles" in message, message
        assert "after" not in runs
        assert helper.jobs(name) == []
        print(f"\n[limits] a 137 KiB script: {message}")
    finally:
        delete_namespace(helper)
