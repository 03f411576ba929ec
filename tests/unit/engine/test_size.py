"""The Execution status of a 1,000-iteration ``each`` stays well under etcd's 1 MiB object limit.

Measured (pytest -s prints it): 68,116 bytes (0.06 MiB) with concurrencyLimit 0, 69,066 with
50. In full, each iteration's task run is about 410 bytes (id, state, value, dates, one attempt
with its Job, pod and exit code) plus its outputs (here ~55 bytes): 550 KB. Past 200 task runs the
finished ones are archived (api/run_archive.py), about 30 bytes each here; the flow snapshot
holds the 1,000 items once more (~36 KB).
"""

from __future__ import annotations

import json
import time

import pytest
from support.sim import Cluster, Driver, as_run, flow_of, shell

from overture.api import State

MIB = 1024 * 1024


@pytest.mark.parametrize("limit", [0, 50])
def test_a_thousand_iterations_keep_the_status_under_one_mebibyte(limit: int) -> None:
    items = [f"s3://bucket/raw/2026/01/{i:04d}.csv" for i in range(1000)]
    flow = flow_of(
        {
            "id": "load",
            "type": "each",
            "items": items,
            "concurrencyLimit": limit,
            "tasks": [shell("copy", "cp {{ taskrun.value }}")],
        },
        shell("report", "echo done"),
    )
    driver = Driver(flow, cluster=Cluster(lambda job: (True, {"rows": 1000, "file": as_run(job)[3:]})))
    started = time.perf_counter()
    assert driver.run_to_end(max_steps=100) == State.SUCCESS
    elapsed = time.perf_counter() - started
    size = len(json.dumps(driver.status.to_wire()))
    print(
        f"\n1,000-iteration each, concurrencyLimit {limit}: status {size:,} bytes ({size / MIB:.2f} MiB), "
        f"{len(driver.decisions)} steps in {elapsed:.2f} s"
    )
    assert sum(1 for r in driver.status.task_runs if r.task_id == "copy") == 1000
    assert driver.status.to_wire()["archivedRuns"]["runs"] == 1002
    assert driver.run("copy[999]").outputs == {"rows": 1000, "file": items[999]}
    assert size < MIB
