"""Screenshots of the web UI's main pages into docs/screenshots/ (Debian's chromium, Playwright).

    python hack/ui-screenshots.py URL TOKEN NAMESPACE FLOW EXECUTION PAUSED_EXECUTION [FILES_EXECUTION]

URL is a running `overture ui` (e.g. http://127.0.0.1:8090), TOKEN its session token (or a
bearer token in token mode); FLOW a flow of NAMESPACE, EXECUTION a finished run with logs and
PAUSED_EXECUTION one waiting in a `pause` task with inputs; FILES_EXECUTION one whose task wrote
`outputFiles` (its first file is previewed; needs the UI's artifact store).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from ui_harness import launch_chromium

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def main() -> None:
    url, token, ns, flow, execution, paused = sys.argv[1:7]
    pages = [
        ("flows", f"/ns/{ns}/flows", "[data-testid=flows] [data-flow]"),
        ("flow-editor", f"/ns/{ns}/flows/{flow}", "[data-testid=lint-status][data-checked=current]"),
        ("flow-form", f"/ns/{ns}/flows/{flow}?tab=form", "[data-testid=flow-form]"),
        ("flow-run", f"/ns/{ns}/flows/{flow}?tab=run", "[data-testid=run-form]"),
        ("executions", f"/ns/{ns}/executions", "[data-testid=executions] [data-execution]"),
        ("execution-gantt", f"/ns/{ns}/executions/{execution}", "[data-testid=gantt] [data-run]"),
        ("execution-topology", f"/ns/{ns}/executions/{execution}?tab=topology", "[data-testid=topology] [data-task]"),
        ("execution-logs", f"/ns/{ns}/executions/{execution}?tab=logs", "[data-testid=log-text]"),
        ("execution-paused", f"/ns/{ns}/executions/{paused}", "[data-action=resume]"),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_context(viewport={"width": 1400, "height": 820}).new_page()
        page.goto(f"{url}/#token={token}")
        page.wait_for_selector("[data-testid=whoami]")
        for name, path, ready in pages:
            page.goto(f"{url}{path}")
            page.wait_for_selector(ready)
            page.wait_for_timeout(1200)  # the lint, the live stream's first events
            page.screenshot(path=str(OUT / f"{name}.png"))
            print(f"wrote {OUT / name}.png")
        if len(sys.argv) > 7:
            page.goto(f"{url}/ns/{ns}/executions/{sys.argv[7]}?tab=io")
            page.click("[data-file-output] [data-testid=preview]")
            page.wait_for_selector("[data-testid=preview-text]")
            page.screenshot(path=str(OUT / "execution-files.png"))
            print(f"wrote {OUT / 'execution-files'}.png")
        browser.close()


if __name__ == "__main__":
    main()
