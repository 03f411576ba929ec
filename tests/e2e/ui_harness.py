"""The UI server as a real process and Debian's chromium driven by Playwright, for tests/e2e/test_ui*.py.

- ``UiServer``: ``overture ui`` in a subprocess (``--auth token`` by default: the chart's mode, so
  every request carries a person's own token), with its URL and log; the ``ui`` fixture's reads
  the local cluster's artifact store (archived logs, task files).
- ``admin_token``: a ServiceAccount bound to ``cluster-admin``, and a token for it from the
  TokenRequest API: the "platform engineer" of these tests. Tenants use the local cluster's
  static token users (``hack/cluster``), who have no grant but what a test gives them.
- ``browser``: chromium from ``/usr/bin/chromium`` (Playwright's own browser download does not
  work here), headless, each test in a fresh context (its own storage and profile).
- ``signed_in(browser, ui, token)``: a page signed in with ``token`` (the ``#token=`` link).
- ``editor_text(page)`` / ``set_editor_text(page, text)``: the CodeMirror editor's whole text.
- ``log_live_then_archived(...)``: a task's log on its execution page while it runs, and again
  after its pod is deleted (``delete_attempt``: the Job runtime's or the pod runtime's way).
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Cluster, answers_200, free_port, poll, store_env
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

CHROMIUM = os.environ.get("OVERTURE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_SA = "overture-ui-e2e-admin"


class UiServer:
    def __init__(self, kubeconfig: str, log_path: Path, auth: str = "token", env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [sys.executable, "-m", "overture", "ui", "--auth", auth, "--port", str(self.port)]
        command += ["--kubeconfig", kubeconfig]
        log = log_path.open("ab")
        self.proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
        poll(self.healthy, 30, f"overture ui on {self.url} (log: {log_path})")

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"overture ui exited {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
        return answers_200(f"{self.url}/healthz")

    def get(
        self, path: str, token: str | None = None, method: str = "GET", body: bytes | None = None
    ) -> tuple[int, Any]:
        """(status, headers) of one request, the way a script (not the SPA) would send it."""
        request = urllib.request.Request(f"{self.url}{path}", method=method, data=body)
        if token is not None:
            request.add_header("Authorization", token)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def make_admin_token(kubeconfig: str) -> str:
    api = config.new_client_from_config(config_file=kubeconfig)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    try:
        core.create_namespaced_service_account("default", {"metadata": {"name": ADMIN_SA}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    binding = {
        "metadata": {"name": ADMIN_SA},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": ADMIN_SA, "namespace": "default"}],
    }
    try:
        rbac.create_cluster_role_binding(binding)
    except ApiException as exc:
        if exc.status != 409:
            raise
    request = {"spec": {"expirationSeconds": 7200}}
    answer = core.create_namespaced_service_account_token(ADMIN_SA, "default", request)
    return str(answer.status.token)


def token_of(kubeconfig_path: str) -> str:
    """The bearer token of a token user's kubeconfig (hack/cluster's tenant users)."""
    import yaml

    doc = yaml.safe_load(Path(kubeconfig_path).read_text())
    return str(doc["users"][0]["user"]["token"])


@pytest.fixture(scope="session")
def ui(kubeconfig: str, operator_process: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    # With the local cluster's artifact store, as the chart gives it the operator's (artifacts.*).
    server = UiServer(kubeconfig, tmp_path_factory.mktemp("ui") / "ui.log", env=store_env(kubeconfig))
    yield server
    server.stop()
    print(f"\nui log: {server.log_path}")


@pytest.fixture(scope="session")
def admin_token(kubeconfig: str) -> str:
    return make_admin_token(kubeconfig)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)  # one context per test
        yield launched
        launched.close()


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium, headless, with a fresh profile (Playwright's own temporary user-data-dir).
    The one way tests, benchmarks/ui.py and hack/ui-screenshots.py start it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def signed_in(browser: Any, ui: UiServer, token: str, path: str = "/") -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 850})
    context.set_default_timeout(20000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(f"{ui.url}{path}#token={token}")
    page.wait_for_selector("[data-testid=whoami]")
    return page


def log_live_then_archived(
    cluster: Cluster, kubeconfig: str, ui: UiServer, token: str, browser: Any, delete_attempt: Callable[[str], None]
) -> None:
    """A five-line task's log live on its execution page; then its attempt's pod deleted by
    ``delete_attempt(attempt)`` and the page reloaded: the archived log, or (no artifact store)
    the plain note that the pod is gone."""
    talk = {"id": "talk", "type": "shell", "commands": ["for i in 1 2 3 4 5; do echo line-$i; sleep 1; done"]}
    cluster.apply_flow(
        {"apiVersion": "overture.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "talk"}, "spec": {"tasks": [talk]}}
    )
    name = cluster.run("talk")
    poll(lambda: (cluster.get("executions", name).get("status") or {}).get("taskRuns"), 60, "a task run")
    page = signed_in(browser, ui, token, f"/ns/{cluster.namespace}/executions/{name}?tab=logs")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=log-text]')?.textContent.includes('line-5')", timeout=90000
    )
    cluster.wait_state(name, {"SUCCESS"})
    attempt = cluster.get("executions", name)["status"]["taskRuns"][0]["attempts"][0]["job"]
    delete_attempt(attempt)
    poll(
        lambda: (
            not [
                pod
                for pod in cluster.core.list_namespaced_pod(cluster.namespace).items
                if pod.metadata.name == attempt or (pod.metadata.labels or {}).get("job-name") == attempt
            ]
        ),
        60,
        "the pod gone",
    )
    page.reload()
    note = page.locator("[data-testid=log-note]")
    note.wait_for()
    if not store_env(kubeconfig):  # a cluster without an artifact store: said plainly
        assert "pod is gone" in note.inner_text() and "no log archive" in note.inner_text()
        return
    assert "archived in the artifact store" in note.inner_text()
    text = page.locator("[data-testid=log-text]").inner_text()
    assert [f"line-{i}" for i in range(1, 6)] == [line for line in text.splitlines() if line.startswith("line-")]


def editor_text(page: Any) -> str:
    return str(
        page.evaluate("() => Array.from(document.querySelectorAll('.cm-line')).map(l => l.textContent).join('\\n')")
    )


def set_editor_text(page: Any, text: str) -> None:
    page.wait_for_selector(".cm-content")
    page.click(".cm-content")
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def lint_settled(page: Any) -> str:
    """The editor's lint status once the check of its current text is back: ``valid`` or ``N problem(s)``."""
    status = page.locator("[data-testid=lint-status][data-checked=current]")
    status.wait_for()
    return str(status.inner_text())
