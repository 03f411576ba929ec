"""6. The web UI: time to a usable execution page for a 1,000-task execution in chromium, and the
UI server's RSS with 1,000 flows.

    python -m benchmarks.ui [--quick] [--flows 1000] [--tasks 1000] [--executions 2000] [--repeat 5]

Made before the UI starts, in a fresh namespace: ``--flows`` Flows (two tasks and a schedule
each), ``--executions`` finished Executions of them, and one flow of ``--tasks`` sequential tasks
with one finished Execution whose status holds a run per task (the shape the operator writes,
flow snapshot included; see benchmarks/memory.py). Then ``overture ui`` starts (kubeconfig mode)
and Debian's chromium, driven by Playwright, opens pages in a fresh context each time:

- execution page: from navigation start until the state is shown and the Gantt has rows
  (``performance.now()`` then), ``--repeat`` times; then its topology tab (every task a node);
- flows list (all flows) and executions list (virtualised: rows in the DOM vs rows in the list);
- the UI server's RSS after start, after these pages, and its peak, from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    GROUP,
    VERSION,
    Api,
    execution_body,
    flow_body,
    kubeconfig_path,
    print_table,
    proc_hwm_mib,
    proc_rss_mib,
    terminate_gracefully,
    write_result,
)
from benchmarks.memory import MERGE_PATCH, populate

# The UI's e2e harness: the one way to start `overture ui` and chromium for it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from ui_harness import UiServer, launch_chromium

TOKEN = "bench-session-token"


def wide_status(name: str, flow: dict[str, Any], end: datetime) -> dict[str, Any]:
    """SUCCESS, one run per task, one after the other (a second each)."""
    tasks = flow["spec"]["tasks"]

    def at(seconds_before_end: float) -> str:
        return (end - timedelta(seconds=seconds_before_end)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    runs = []
    for i, task in enumerate(tasks):
        start, stop = len(tasks) - i, len(tasks) - i - 1
        job = f"{name}-{task['id']}-1"
        attempt = {"attempt": 1, "job": job, "pod": f"{job}-x7k2p", "state": "SUCCESS", "exitCode": 0}
        runs.append(
            {
                "id": task["id"],
                "taskId": task["id"],
                "state": "SUCCESS",
                "startDate": at(start),
                "endDate": at(stop),
                "outputs": {"rows": i},
                "attempts": [{**attempt, "startDate": at(start)[:19] + "Z", "endDate": at(stop)[:19] + "Z"}],
            }
        )
    return {
        "state": "SUCCESS",
        "observedGeneration": 1,
        "startDate": at(len(tasks)),
        "endDate": at(0),
        "inputs": {},
        "flowSpec": flow["spec"],
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded", "lastTransitionTime": at(0)}],
        "taskRuns": runs,
    }


def measure_pages(url: str, namespace: str, execution: str, tasks: int, repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {"execution_page_ms": [], "topology_ms": None}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for _ in range(repeat):
                context = browser.new_context(viewport={"width": 1400, "height": 850})
                page = context.new_page()
                page.set_default_timeout(120000)
                page.goto(f"{url}/ns/{namespace}/executions/{execution}#token={TOKEN}")
                page.wait_for_selector("[data-testid=execution][data-state=SUCCESS] [data-testid=gantt] [data-run]")
                result["execution_page_ms"].append(page.evaluate("() => performance.now()"))
                context.close()
            context = browser.new_context(viewport={"width": 1400, "height": 850})
            page = context.new_page()
            page.set_default_timeout(120000)
            page.goto(f"{url}/ns/{namespace}/executions/{execution}#token={TOKEN}")
            page.wait_for_selector("[data-testid=gantt] [data-run]")
            started = time.monotonic()
            page.click("[data-testid=tab-topology]")
            page.wait_for_function(
                f"() => document.querySelectorAll('[data-testid=topology] [data-task]').length >= {tasks}"
            )
            result["topology_ms"] = (time.monotonic() - started) * 1000
            page.goto(f"{url}/ns/{namespace}/flows")
            started = time.monotonic()
            page.wait_for_selector("[data-testid=flows] [data-flow]")
            result["flows_list_ms"] = (time.monotonic() - started) * 1000 + 0.0
            result["flows_rows"] = page.locator("[data-testid=flows] [data-flow]").count()
            page.goto(f"{url}/ns/{namespace}/executions")
            page.wait_for_selector("[data-testid=executions] [data-execution]")
            result["executions_list_ms"] = page.evaluate("() => performance.now()")
            result["executions_rows"] = int(page.locator("[data-testid=executions]").get_attribute("data-rows") or 0)
            result["executions_rows_in_dom"] = page.locator("[data-testid=executions] [data-execution]").count()
            context.close()
        finally:
            browser.close()
    return result


async def prepare(api: Api, namespace: str, flows: int, executions: int, tasks: int) -> str:
    await populate(api, namespace, flows, executions)
    wide = flow_body("wide", tasks)
    await api.create("flows", namespace, wide)
    name = "wide-1"
    await api.create("executions", namespace, execution_body(name, "wide"))
    status = wide_status(name, wide, datetime.now(UTC))
    await api.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "executions", name, {"status": status}, _content_type=MERGE_PATCH
    )
    return name


async def bench(
    quick: bool, flows: int | None, tasks: int | None, executions: int | None, repeat: int
) -> dict[str, Any]:
    flows = flows or (200 if quick else 1000)
    tasks = tasks or (200 if quick else 1000)
    executions = executions if executions is not None else (200 if quick else 2000)
    api = await Api.connect()
    namespace = await api.create_namespace("bench-ui")
    ui: UiServer | None = None
    try:
        print(f"[ui] creating {flows} flows, {executions} executions and a {tasks}-task execution", flush=True)
        execution = await prepare(api, namespace, flows, executions, tasks)
        started = time.monotonic()
        log = Path(tempfile.mkdtemp()) / "ui.log"
        ui = UiServer(kubeconfig_path(), log, auth="kubeconfig", env={"OVERTURE_UI_TOKEN": TOKEN})
        ready = time.monotonic() - started
        rss_start = proc_rss_mib(ui.proc.pid)
        pages = await asyncio.to_thread(measure_pages, ui.url, namespace, execution, tasks, repeat)
        rss_end = proc_rss_mib(ui.proc.pid)
        peak = proc_hwm_mib(ui.proc.pid)
    finally:
        if ui is not None:
            ui.stop()
        await api.delete_namespace(namespace)
        await api.close()
    times = pages["execution_page_ms"]
    data = {
        "flows": flows,
        "tasks": tasks,
        "executions": executions,
        "ready_seconds": ready,
        "execution_page_ms": times,
        "execution_page_median_ms": statistics.median(times),
        "execution_page_first_ms": times[0],
        **{k: v for k, v in pages.items() if k != "execution_page_ms"},
        "rss_start_mib": rss_start,
        "rss_end_mib": rss_end,
        "rss_peak_mib": peak,
    }
    print_table(
        f"6. Web UI: a {tasks}-task execution page in chromium; the UI server with {flows} flows",
        [
            "usable page (median / first)",
            "topology tab",
            "flows list",
            "executions list (DOM rows)",
            "RSS start / end / peak",
        ],
        [
            [
                f"{statistics.median(times):.0f} ms / {times[0]:.0f} ms",
                f"{pages['topology_ms']:.0f} ms",
                f"{pages['flows_list_ms']:.0f} ms ({pages['flows_rows']} rows)",
                f"{pages['executions_list_ms']:.0f} ms ({pages['executions_rows']}; {pages['executions_rows_in_dom']})",
                f"{rss_start:.0f} / {rss_end:.0f} / {peak:.0f} MiB",
            ]
        ],
    )
    write_result("ui", data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 flows, a 200-task execution, 200 executions")
    parser.add_argument("--flows", type=int)
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--executions", type=int)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    terminate_gracefully()
    asyncio.run(bench(args.quick, args.flows, args.tasks, args.executions, args.repeat))


if __name__ == "__main__":
    main()
