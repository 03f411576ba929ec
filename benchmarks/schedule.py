"""5. Schedule accuracy: delay from a schedule tick to its Execution being created.

    python -m benchmarks.schedule [--quick] [--ticks 100] [--others 1000]

Flows with a per-second schedule (``* * * * * *``, allowed by ``OVERTURE_ALLOW_SECONDS_CRON=true``
in the operator) fire until ``--ticks`` ticks were seen, while ``--others`` other flows are
scheduled (daily, so each scheduler pass still computes their next tick). The delay of a tick is
the time its Execution's ADDED event reached this process minus the tick (``spec.trigger.date``).
The executions' Jobs are completed by the completer, so the operator also runs what it starts.

Prints "not available yet" when the operator has no schedule trigger (``overture.triggers``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import time
from datetime import datetime
from typing import Any

from benchmarks.common import (
    Api,
    Completer,
    Operator,
    Placement,
    Recorder,
    flow_body,
    gather_limited,
    ms,
    print_table,
    running,
    summary,
    terminate_gracefully,
    wait_flow_ready,
    write_result,
)

TICKING_FLOWS = 2


def available() -> bool:
    return importlib.util.find_spec("overture.triggers.scheduler") is not None


def tick_of(execution: dict[str, Any]) -> float | None:
    trigger = (execution.get("spec") or {}).get("trigger") or {}
    if trigger.get("type") != "schedule" or not trigger.get("date"):
        return None
    return datetime.fromisoformat(str(trigger["date"]).replace("Z", "+00:00")).timestamp()


async def bench(quick: bool = False, ticks: int | None = None, others: int | None = None) -> dict[str, Any]:
    ticks = ticks or (40 if quick else 100)
    others = others if others is not None else (200 if quick else 1000)
    if not available():
        print("\n5. Schedule accuracy: not available yet (no overture.triggers.scheduler)", flush=True)
        data: dict[str, Any] = {"available": False}
        write_result("schedule", data)
        return data
    api = await Api.connect()
    placement = Placement(api)
    await placement.discover()
    namespace = await api.create_namespace("bench-schedule")
    completer = Completer("completer-schedule")
    rec = Recorder(api, namespace, kinds=("executions",))  # it reads only Executions
    delays: list[float] = []
    try:
        await placement.use("pending")
        await completer.start()
        names = [f"other-{i:04d}" for i in range(others)]
        daily = [{"id": "nightly", "type": "schedule", "cron": "0 2 * * *"}]
        await gather_limited([lambda n=n: api.create("flows", namespace, flow_body(n, 2, daily)) for n in names])
        env = {"OVERTURE_ALLOW_SECONDS_CRON": "true"}
        async with running(Operator("schedule", [namespace], env=env)) as operator:
            await wait_flow_ready(api, namespace, names, timeout=180)
            await rec.start()
            every_second = [{"id": "tick", "type": "schedule", "cron": "* * * * * *", "catchUp": "none"}]
            ticking = [f"tick-{i}" for i in range(TICKING_FLOWS)]
            started = time.time()
            for name in ticking:
                await api.create("flows", namespace, flow_body(name, 2, every_second))
            cpu_before = operator.cpu_seconds()

            def scheduled() -> list[tuple[float, float]]:
                """(tick, delay) of the ticks after the ticking flows were created."""
                found = []
                for name, execution in list(rec.executions.items()):
                    tick = tick_of(execution)
                    if tick is not None and tick >= started + 1 and name in rec.exec_added:
                        found.append((tick, rec.exec_added[name] - tick))
                return sorted(found)

            timeout = ticks / TICKING_FLOWS + 60  # the new flows are seen, validated and scheduled first
            seen = await rec.wait(lambda: len(scheduled()) >= ticks, timeout)
            elapsed = time.time() - started
            cpu = operator.cpu_seconds() - cpu_before
            delays = [delay for _, delay in scheduled()[:ticks]]
            if not seen:
                print(f"[schedule] only {len(delays)} of {ticks} ticks seen in {timeout:.0f}s", flush=True)
    finally:
        await rec.close()
        completer.stop()
        await placement.restore()
        await api.delete_namespace(namespace)
        await api.close()
    data = {
        "available": True,
        "ticking_flows": TICKING_FLOWS,
        "other_flows": others,
        "ticks_seen": len(delays),
        "ticks_wanted": ticks,
        "delay": summary(delays),
        "elapsed": elapsed,
        "operator_cpu_seconds": cpu,
        "operator_cpu_percent": cpu / elapsed * 100 if elapsed else None,
    }
    d = data["delay"]
    print_table(
        f"5. Schedule accuracy: tick -> Execution seen, {TICKING_FLOWS} flows every second, {others} others scheduled",
        ["ticks", "p50", "p95", "p99", "max", "operator CPU"],
        [
            [
                len(delays),
                ms(d["p50"]),
                ms(d["p95"]),
                ms(d["p99"]),
                ms(d["max"]),
                f"{data['operator_cpu_percent']:.0f} %",
            ]
        ],
    )
    write_result("schedule", data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 ticks, 200 other flows")
    parser.add_argument("--ticks", type=int)
    parser.add_argument("--others", type=int)
    args = parser.parse_args()
    terminate_gracefully()
    asyncio.run(bench(args.quick, args.ticks, args.others))


if __name__ == "__main__":
    main()
