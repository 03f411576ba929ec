"""Two operator replicas: one leads (holds the Lease), the other takes over when it dies."""

from __future__ import annotations

import re
import time

import pytest
from harness import Cluster, OperatorProcess, poll

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]

FLOW = """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: slow-pair}
spec:
  tasks:
    - {id: one, type: shell, commands: ["sleep 4"]}
    - {id: two, type: shell, commands: ["echo two"]}
"""


def leads(process: OperatorProcess) -> bool:
    match = re.search(r"^overture_leader (\S+)$", process.metrics(), re.MULTILINE)
    return bool(match and float(match.group(1)) == 1.0)


def test_standby_takes_over_within_the_lease_time(
    cluster: Cluster, operator_process: OperatorProcess, tmp_path
) -> None:
    poll(lambda: leads(operator_process), 40, "the session operator leads")
    standby = OperatorProcess(operator_process.kubeconfig, tmp_path / "standby.log")
    standby.start()
    try:
        time.sleep(6)  # more than one renew period: a standby that wrongly took the Lease would show it
        assert not leads(standby)
        cluster.apply_flow(FLOW)
        name = cluster.run("slow-pair")
        poll(lambda: any(j.metadata.name.endswith("-one-1") for j in cluster.jobs(name)), 60, "task one started")
        killed_at = time.monotonic()
        operator_process.kill()
        poll(lambda: leads(standby), 40, "the standby took the Lease")
        takeover = time.monotonic() - killed_at
        print(f"\ntakeover after SIGKILL of the leader: {takeover:.1f} s (lease 15 s, renew 5 s)")
        assert takeover < 25
        execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=90)
        assert execution["status"]["state"] == "SUCCESS"
        assert sorted(j.metadata.name for j in cluster.jobs(name)) == [f"{name}-one-1", f"{name}-two-1"]
    finally:
        operator_process.start()
        standby.kill()
        poll(lambda: leads(operator_process), 40, "the session operator leads again")
