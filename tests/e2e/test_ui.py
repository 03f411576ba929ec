"""The web UI in a real browser (Debian's chromium driven by Playwright) against the local cluster,
a real operator and the real ``overture ui`` server in token mode (each request carries a person's
own token; the UI holds no privileged credentials):

- a flow written in the editor is saved and run to SUCCESS from the run form;
- a typo is a lint error at its line and Save is disabled; ``overture validate``'s message is at its line;
- a form edit changes one YAML line, comments intact (and they survive a save and a reload);
- the API server's dry-run rejection is shown inline, nothing is saved;
- the execution page updates live, and a waiting ``pause`` task is resumed with typed inputs;
- logs: live from the pod, and after the pod is deleted from the artifact store's archive (in the
  Job task runtime and in the pod runtime, where the attempt's pod has no Job);
- a task's files and outputs too big for the status previewed from the store, as text;
- every /api route is 401 without a token, with ``Bearer nothing`` and with a forged token;
- a tenant's token sees its namespace only;
- HTML in inputs, outputs and logs is shown as text and never runs (and the CSP forbids it);
- deep links survive a reload (and a new session that signs in first);
- a 2,000-item ``each`` renders collapsed, with a virtualised list when opened;
- why a task is not running (FailedScheduling); kill, restart and replay; backfill; a GitOps-managed
  flow is read-only; ``overture ui``'s session token; opt-in impersonation; completion from the schema.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from harness import GROUP, VERSION, Cluster, OperatorProcess, poll, store_env
from kubernetes import client
from ui_harness import (
    UiServer,
    admin_token,
    browser,
    editor_text,
    lint_settled,
    log_live_then_archived,
    set_editor_text,
    signed_in,
    token_of,
    ui,
)

from overture.api import task_runs_of

pytestmark = pytest.mark.e2e

FLOW_WITH_COMMENTS = """apiVersion: overture.dev/v1alpha1
kind: Flow
metadata:
  name: {name}
spec:
  # the description people read
  description: Say hello
  tasks:
    - id: hello   # the first task
      type: shell
      commands: ["echo hello from the ui"]
    - id: done
      type: shell
      commands: ["echo done"]
"""

NOOP_IF = {
    "id": "noop",
    "type": "if",
    "condition": "false",
    "then": [{"id": "never", "type": "shell", "commands": ["true"]}],
}


def flow_doc(name: str, tasks: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Flow",
        "metadata": {"name": name},
        "spec": {"tasks": tasks, **spec},
    }


def wait_state_on_page(page: Any, states: set[str], timeout: float = 120) -> str:
    locator = page.locator("[data-testid=execution]")

    def reached() -> str | None:
        state = locator.get_attribute("data-state")
        return state if state in states else None

    return poll(reached, timeout, f"the execution page showing one of {sorted(states)}")


@pytest.mark.realnode
def test_a_flow_written_in_the_editor_runs_to_success(
    cluster: Cluster, ui: UiServer, admin_token: str, browser: Any
) -> None:
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/new-flow")
    set_editor_text(page, FLOW_WITH_COMMENTS.format(name="from-editor"))
    assert lint_settled(page) == "valid"
    page.click("[data-testid=save]")
    page.wait_for_url(f"**/ns/{cluster.namespace}/flows/from-editor")
    assert cluster.get("flows", "from-editor")["spec"]["tasks"][0]["id"] == "hello"
    page.click("[data-testid=tab-run]")
    page.click("[data-testid=run]")
    page.wait_for_url(f"**/ns/{cluster.namespace}/executions/from-editor-*")
    assert wait_state_on_page(page, {"SUCCESS", "FAILED"}) == "SUCCESS"
    page.click("[data-testid=tab-logs]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=log-text]')?.textContent.includes('hello from the ui')"
    )
    assert not page.errors


def test_a_typo_is_a_lint_error_at_its_line_and_save_is_disabled(
    cluster: Cluster, ui: UiServer, admin_token: str, browser: Any
) -> None:
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/new-flow")
    text = FLOW_WITH_COMMENTS.format(name="typo").replace(
        '      type: shell\n      commands: ["echo done"]', '      tpye: shell\n      commands: ["echo done"]'
    )
    typo_line = text.splitlines().index("      tpye: shell") + 1
    set_editor_text(page, text)
    assert lint_settled(page) != "valid"
    lines = page.locator("[data-testid=problems] li").evaluate_all(
        "items => items.map(i => [i.dataset.line, i.textContent])"
    )
    assert any(line == str(typo_line) and "tpye" in message for line, message in lines), lines
    assert page.locator("[data-testid=save]").is_disabled()
    # overture validate's own words, at the line of the field they name
    text = FLOW_WITH_COMMENTS.format(name="typo").replace(
        'commands: ["echo done"]', 'commands: ["echo done"]\n      retry: {maxAttempts: 2, interval: soon}'
    )
    set_editor_text(page, text)
    assert lint_settled(page) != "valid"
    retry_line = text.splitlines().index("      retry: {maxAttempts: 2, interval: soon}") + 1
    lines = page.locator("[data-testid=problems] li").evaluate_all(
        "items => items.map(i => [i.dataset.line, i.textContent])"
    )
    assert any(line == str(retry_line) and "is not a duration" in message for line, message in lines), lines
    assert page.locator("[data-testid=save]").is_disabled()
    set_editor_text(page, FLOW_WITH_COMMENTS.format(name="typo"))
    assert lint_settled(page) == "valid"
    assert page.locator("[data-testid=save]").is_enabled()


def test_a_form_edit_changes_one_line_and_keeps_the_comments(
    cluster: Cluster, ui: UiServer, admin_token: str, browser: Any
) -> None:
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/new-flow")
    original = FLOW_WITH_COMMENTS.format(name="form-edit").rstrip("\n")
    set_editor_text(page, original)
    assert lint_settled(page) == "valid"
    page.click("[data-testid=tab-form]")
    field = page.locator('[data-field="spec.description"]')
    field.fill("Say hello, politely")
    field.press("Enter")
    page.click("[data-testid=tab-edit]")
    edited = editor_text(page)
    before, after = original.splitlines(), edited.splitlines()
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed == [("  description: Say hello", "  description: Say hello, politely")]
    # a field that was not there: one line added, at the task's indentation
    page.click("[data-testid=tab-form]")
    field = page.locator('[data-field="spec.tasks.0.timeout"]')
    field.fill("5m")
    field.press("Enter")
    page.click("[data-testid=tab-edit]")
    added = editor_text(page).splitlines()
    assert len(added) == len(after) + 1
    assert [line for line in added if line not in after] == ["      timeout: 5m"]
    assert "    - id: hello   # the first task" in added and "  # the description people read" in added
    # saved and read back: the comments survive (the UI keeps the text it saved beside the object)
    assert lint_settled(page) == "valid"
    page.click("[data-testid=save]")
    page.wait_for_url("**/flows/form-edit")
    assert cluster.get("flows", "form-edit")["spec"]["tasks"][0]["timeout"] == "5m"
    page.reload()
    page.wait_for_selector(".cm-line")
    poll(lambda: "# the first task" in editor_text(page), 20, "the saved comments after a reload")
    assert not page.errors


def test_a_dry_run_rejection_is_shown_inline(cluster: Cluster, ui: UiServer, admin_token: str, browser: Any) -> None:
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/new-flow")
    # overture validate accepts it; the API server does not (a label value cannot hold spaces)
    text = FLOW_WITH_COMMENTS.format(name="rejected").replace(
        "  name: rejected\n", "  name: rejected\n  labels: {team: data platform}\n"
    )
    set_editor_text(page, text)
    assert lint_settled(page) == "valid"
    page.click("[data-testid=save]")
    error = page.locator("[data-testid=save-error]")
    error.wait_for()
    assert "metadata.labels" in error.inner_text() and "data platform" in error.inner_text()
    with pytest.raises(client.exceptions.ApiException) as missing:
        cluster.get("flows", "rejected")
    assert missing.value.status == 404


def test_the_execution_page_updates_live_and_resumes_a_pause_with_inputs(
    cluster: Cluster, ui: UiServer, admin_token: str, browser: Any
) -> None:
    approval = {
        "id": "approval",
        "type": "pause",
        "onResume": [{"id": "approved", "type": "BOOLEAN"}, {"id": "note", "type": "STRING", "required": False}],
    }
    cluster.apply_flow(flow_doc("approve", [approval, NOOP_IF]))
    name = cluster.run("approve")
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/executions/{name}")
    assert wait_state_on_page(page, {"PAUSED", "RUNNING"}, 60)
    poll(lambda: page.locator("[data-run=approval]").get_attribute("data-state") == "PAUSED", 60, "approval PAUSED")
    navigations = page.evaluate("() => performance.getEntriesByType('navigation').length")
    page.check('[data-input="approved"]')
    page.fill('[data-input="note"]', "looks good")
    page.click("[data-action=resume]")
    assert wait_state_on_page(page, {"SUCCESS", "FAILED"}, 60) == "SUCCESS"
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == navigations  # no reload
    assert int(page.locator("[data-testid=execution]").get_attribute("data-updates") or 0) >= 2
    assert cluster.get("executions", name)["spec"]["resumeInputs"] == {"approved": True, "note": "looks good"}


@pytest.mark.realnode
def test_logs_live_and_after_the_pod_is_deleted(
    cluster: Cluster, kubeconfig: str, ui: UiServer, admin_token: str, browser: Any
) -> None:
    def delete_job(job: str) -> None:
        cluster.batch.delete_namespaced_job(job, cluster.namespace, propagation_policy="Foreground")

    log_live_then_archived(cluster, kubeconfig, ui, admin_token, browser, delete_job)


@pytest.mark.realnode
def test_logs_of_an_attempts_own_pod_in_the_pod_task_runtime(
    cluster: Cluster, kubeconfig: str, operator_process: OperatorProcess, ui: UiServer, admin_token: str, browser: Any
) -> None:
    """OVERTURE_TASK_RUNTIME=pod: the attempt is a Pod under its own name (no Job, no job-name label)."""

    def delete_pod(pod: str) -> None:
        assert cluster.jobs(pod.rsplit("-", 2)[0]) == []  # the attempt is a pod, no Job
        cluster.core.delete_namespaced_pod(pod, cluster.namespace)

    with operator_process.restarted_with({"OVERTURE_TASK_RUNTIME": "pod"}):
        log_live_then_archived(cluster, kubeconfig, ui, admin_token, browser, delete_pod)


def test_every_api_route_is_401_without_a_valid_token(ui: UiServer, admin_token: str, browser: Any) -> None:
    from overture.ui import files, routes, streams

    paths = [
        r.path.replace("{namespace}", "default").replace("{name}", "x").replace("{action}", "pause")
        for r in routes.ROUTES + streams.ROUTES + files.ROUTES
    ]
    forged = "eyJhbGciOiJSUzI1NiJ9." + "eyJzdWIiOiJzeXN0ZW06YWRtaW4ifQ" + ".c2lnbmF0dXJl"
    for path in [*paths, "/api/no-such-route"]:
        for method in ("GET", "POST"):
            for header in (
                None,
                "Bearer",
                "Bearer ",
                "Bearer nothing",
                f"Bearer {forged}",
                "Basic YWRtaW46YWRtaW4=",
                f"Bearer {admin_token}x",
            ):
                status, headers = ui.get(path, header, method, b"{}" if method == "POST" else None)
                assert status == 401, (path, method, header, status)
                assert headers["WWW-Authenticate"].startswith("Bearer")
    assert ui.get("/api/whoami", f"Bearer {admin_token}")[0] == 200
    # in the browser: a forged token is refused and nothing is shown
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{ui.url}/ns/default/flows#token={forged}")
    page.locator("[data-testid=signin-refused]").wait_for()
    assert page.locator("[data-testid=flows]").count() == 0
    context.close()


def test_a_tenant_token_sees_only_its_namespace(
    cluster: Cluster, kubeconfig: str, user_kubeconfig: Any, ui: UiServer, browser: Any
) -> None:
    other = f"e2e-other-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        cluster.apply_flow(flow_doc("mine", [NOOP_IF]))
        Cluster(kubeconfig, other).apply_flow(flow_doc("theirs", [NOOP_IF]))
        grant_flows(cluster, "tenant-a")
        token = token_of(user_kubeconfig("tenant-a"))
        page = signed_in(browser, ui, token, f"/ns/{cluster.namespace}/flows")
        assert page.locator("[data-testid=whoami]").inner_text().startswith("tenant-a")
        page.locator("[data-flow=mine]").wait_for()
        page.goto(f"{ui.url}/ns/{other}/flows")
        page.locator("[data-testid=error]").wait_for()
        assert "may not list flows" in page.locator("[data-testid=error]").inner_text()
        assert page.locator("[data-flow=theirs]").count() == 0
        page.goto(f"{ui.url}/ns/_all/flows")
        page.locator("[data-testid=error]").wait_for()
        assert page.locator("[data-flow=theirs]").count() == 0
        assert ui.get(f"/api/namespaces/{other}/flows/theirs", f"Bearer {token}")[0] == 403
        # a run started in the UI is the person's: spec.requestedBy is their user, not the UI's
        assert ui.get(f"/api/namespaces/{cluster.namespace}/flows/mine/run", f"Bearer {token}", "POST", b"{}")[0] == 201
        (run,) = cluster.custom.list_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, "executions", label_selector="overture.dev/flow=mine"
        )["items"]
        assert run["spec"]["requestedBy"] == "tenant-a", run["spec"]
        status, _ = ui.get(f"/api/namespaces/{other}/flows/theirs/run", f"Bearer {token}", "POST", b"{}")
        assert status == 403
    finally:
        cluster.core.delete_namespace(other)


def grant_flows(cluster: Cluster, user: str) -> None:
    """``user`` may read and write flows and executions (and read their pods, logs and Events) in
    the cluster's namespace, and nothing else."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    role = {
        "metadata": {"name": f"flows-{user}"},
        "rules": [
            {"apiGroups": [GROUP], "resources": ["flows", "executions"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["events", "pods", "pods/log"], "verbs": ["get", "list", "watch"]},
        ],
    }
    rbac.create_namespaced_role(cluster.namespace, role)
    rbac.create_namespaced_role_binding(
        cluster.namespace,
        {
            "metadata": {"name": f"flows-{user}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"flows-{user}"},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )


XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def test_html_in_inputs_outputs_and_logs_is_inert(
    cluster: Cluster, ui: UiServer, admin_token: str, browser: Any, node_kind: str
) -> None:
    real = node_kind in ("real", "both")
    task: dict[str, Any] = NOOP_IF
    if real:
        payload = json.dumps({"html": XSS})
        task = {"id": "emit", "type": "shell", "commands": [f"echo '{payload}' > /overture/outputs.json; echo '{XSS}'"]}
    cluster.apply_flow(flow_doc("xss", [task], inputs=[{"id": "note", "type": "STRING"}]))
    name = cluster.run("xss", {"note": XSS})
    cluster.wait_state(name, {"SUCCESS", "FAILED"})
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/executions/{name}?tab=io")
    page.locator("[data-testid=inputs]").wait_for()
    assert json.loads(page.locator("[data-testid=inputs]").inner_text()) == {"note": XSS}
    if real:
        page.locator('[data-output="emit.html"]').wait_for()
        assert page.locator('[data-output="emit.html"] pre').inner_text() == XSS
        page.click("[data-testid=tab-logs]")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=log-text]')?.textContent.includes('onerror')"
        )
    time.sleep(0.5)
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("main img, main script").count() == 0
    assert "script-src 'self'" in ui.get("/", None)[1]["Content-Security-Policy"]


def test_deep_links_survive_a_reload(cluster: Cluster, ui: UiServer, admin_token: str, browser: Any) -> None:
    cluster.apply_flow(flow_doc("linked", [NOOP_IF]))
    name = cluster.run("linked")
    cluster.wait_state(name, {"SUCCESS"})
    deep = f"/ns/{cluster.namespace}/executions/{name}?tab=topology"
    page = signed_in(browser, ui, admin_token, deep)
    page.locator("[data-testid=topology] [data-task=noop]").wait_for()
    page.reload()
    page.locator("[data-testid=topology] [data-task=noop][data-state=SUCCESS]").wait_for()
    assert page.url.endswith(deep)
    listing = f"/ns/{cluster.namespace}/executions?flow=linked&state=SUCCESS"
    page.goto(f"{ui.url}{listing}")
    page.locator(f"[data-execution={name}]").wait_for()
    page.reload()
    page.locator(f"[data-execution={name}]").wait_for()
    assert page.locator("[data-testid=filter-state]").input_value() == "SUCCESS"
    # a new session: sign in first, then the same page
    context = browser.new_context()
    fresh = context.new_page()
    fresh.goto(f"{ui.url}{deep}")
    fresh.fill("[data-testid=token-input]", admin_token)
    fresh.press("[data-testid=token-input]", "Enter")
    fresh.locator("[data-testid=topology] [data-task=noop]").wait_for()
    assert fresh.url.endswith(deep)
    context.close()


def test_a_two_thousand_item_each_renders_collapsed(
    cluster: Cluster, ui: UiServer, admin_token: str, browser: Any
) -> None:
    # The iterations are flowable `if` tasks: they run in the operator, so 2,000 of them need no pods.
    each = {"id": "fan", "type": "each", "items": "{{ range(2000) | list | json }}", "tasks": [NOOP_IF]}
    cluster.apply_flow(flow_doc("wide", [each]))
    name = cluster.run("wide")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=300)
    # Past 200 runs the finished ones are archived in the status (issue 16); task_runs_of reads all.
    assert len([r for r in task_runs_of(execution["status"]) if r["taskId"] == "noop"]) == 2000
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/executions/{name}")
    group = page.locator("[data-group=noop]")
    group.wait_for()
    assert "2000 runs" in group.inner_text()
    assert page.locator("[data-run]").count() < 10  # collapsed: the group is one row
    group.locator(".gantt-label").click()
    poll(
        lambda: page.locator("[data-testid=gantt] .virtual").get_attribute("data-rows") == "2002",
        10,
        "the group opened",
    )
    rendered = page.locator("[data-run]").count()
    assert 10 < rendered < 100, rendered  # virtualised: only the rows in view are in the DOM
    assert not page.errors


def test_why_a_task_is_not_running_is_shown(cluster: Cluster, ui: UiServer, admin_token: str, browser: Any) -> None:
    # No node has 64 CPUs: the scheduler says so in a FailedScheduling Event on the pod.
    greedy = {"id": "greedy", "type": "shell", "commands": ["true"], "resources": {"requests": {"cpu": "64"}}}
    cluster.apply_flow(flow_doc("greedy", [greedy]))
    name = cluster.run("greedy")
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/executions/{name}")
    waiting = page.locator("[data-testid=waiting]")
    waiting.wait_for(timeout=60000)
    assert "greedy" in waiting.inner_text()
    assert "FailedScheduling" in waiting.inner_text()
    assert "cpu" in waiting.inner_text().lower()
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=kill]")
    assert wait_state_on_page(page, {"KILLED"}, 60) == "KILLED"


def test_kill_restart_and_replay_from_the_page(cluster: Cluster, ui: UiServer, admin_token: str, browser: Any) -> None:
    wait = {"id": "wait", "type": "pause"}
    cluster.apply_flow(flow_doc("steer", [NOOP_IF, wait]))
    name = cluster.run("steer")
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/executions/{name}")
    page.on("dialog", lambda dialog: dialog.accept())  # "Kill ...?"
    poll(lambda: page.locator("[data-run=wait]").get_attribute("data-state") == "PAUSED", 60, "wait PAUSED")
    page.click("[data-action=kill]")
    assert wait_state_on_page(page, {"KILLED"}, 60) == "KILLED"
    page.click("[data-action=restart]")
    poll(lambda: page.locator("[data-run=wait]").get_attribute("data-state") == "PAUSED", 60, "wait PAUSED again")
    assert cluster.get("executions", name)["spec"]["restarts"] == 1
    page.click("[data-action=kill]")
    assert wait_state_on_page(page, {"KILLED"}, 60) == "KILLED"
    page.select_option("[data-testid=replay-from]", "wait")
    page.click("[data-action=replay]")
    page.wait_for_function(
        f"() => !location.pathname.endsWith('/{name}') || document.querySelector('[data-testid=action-error]')"
    )
    assert page.locator("[data-testid=action-error]").all_inner_texts() == []
    replayed = page.url.rsplit("/", 1)[1]
    assert replayed != name
    assert cluster.get("executions", replayed)["spec"]["replay"] == {"execution": name, "fromTask": "wait"}


def test_backfill_from_the_flow_page(cluster: Cluster, ui: UiServer, admin_token: str, browser: Any) -> None:
    nightly = {"id": "nightly", "type": "schedule", "cron": "0 2 * * *", "timezone": "UTC"}
    cluster.apply_flow(flow_doc("nightly", [NOOP_IF], triggers=[nightly]))
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/flows/nightly?tab=backfill")
    page.fill("[data-testid=backfill-from]", "2026-01-01T00:00")
    page.fill("[data-testid=backfill-to]", "2026-01-03T23:00")
    page.click("text=Preview")
    report = page.locator("[data-testid=backfill-report]")
    poll(lambda: "3 ticks" in report.inner_text(), 20, "the dry run's report")
    assert report.inner_text().count("(dry run)") == 3
    assert not list(
        cluster.custom.list_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "executions")["items"]
    )
    page.uncheck("text=dry run")
    page.click("button:has-text('Backfill')")
    poll(lambda: report.inner_text().count("created") == 3, 20, "three executions created")
    page.click("button:has-text('Backfill')")  # again: the same names, nothing twice
    poll(lambda: report.inner_text().count("exists already") == 3, 20, "nothing created twice")
    items = cluster.custom.list_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "executions")["items"]
    assert sorted(i["spec"]["trigger"]["date"][:10] for i in items) == ["2026-01-01", "2026-01-02", "2026-01-03"]


def test_a_gitops_managed_flow_is_read_only_with_a_note(
    cluster: Cluster, ui: UiServer, admin_token: str, browser: Any
) -> None:
    doc = flow_doc("synced", [NOOP_IF])
    doc["metadata"]["annotations"] = {"argocd.argoproj.io/tracking-id": "data-flows:overture.dev/Flow:x/synced"}
    cluster.apply_flow(doc)
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/flows/synced")
    note = page.locator("[data-testid=gitops-note]")
    note.wait_for()
    assert "Argo CD application 'data-flows'" in note.inner_text()
    page.wait_for_selector(".cm-content[contenteditable=false]")
    assert page.locator("[data-testid=save]").is_disabled()
    # and the server refuses a save from anyone who bypasses the page
    text = editor_text(page).replace("metadata:", "metadata:\n  labels: {team: data}", 1)
    body = json.dumps({"yaml": text}).encode()
    assert ui.get(f"/api/namespaces/{cluster.namespace}/flows/-/apply", f"Bearer {admin_token}", "POST", body)[0] == 409


def test_overture_ui_on_a_workstation_needs_its_session_token(
    kubeconfig: str, tmp_path: Any, operator_process: Any, browser: Any
) -> None:
    local = UiServer(kubeconfig, tmp_path / "ui.log", auth="kubeconfig", env={"OVERTURE_UI_TOKEN": "s3ssion-t0ken"})
    try:
        assert local.get("/api/whoami")[0] == 401
        assert local.get("/api/whoami", "Bearer another-token")[0] == 401
        assert local.get("/api/whoami", "Bearer s3ssion-t0ken")[0] == 200
        page = signed_in(browser, local, "s3ssion-t0ken", "/ns/default/flows")
        assert "kubeconfig" in page.locator("[data-testid=whoami]").inner_text()
        assert "#token" not in page.url  # taken out of the address bar at once
    finally:
        local.stop()


def test_impersonation_is_opt_in_and_acts_as_the_named_user(
    cluster: Cluster, kubeconfig: str, tmp_path: Any, user_kubeconfig: Any
) -> None:
    user_kubeconfig("tenant-b")  # the local cluster's users exist (skips elsewhere)
    cluster.apply_flow(flow_doc("mine", [NOOP_IF]))
    proxied = UiServer(kubeconfig, tmp_path / "ui.log", auth="impersonate")
    try:
        import urllib.request

        def as_user(user: str | None) -> int:
            request = urllib.request.Request(f"{proxied.url}/api/namespaces/{cluster.namespace}/flows")
            if user:
                request.add_header("X-Remote-User", user)
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as exc:
                return int(exc.code)

        assert as_user(None) == 401
        assert as_user("tenant-b") == 403  # tenant-b has no grant: the UI's own rights are not lent
        grant_flows(cluster, "tenant-b")
        poll(lambda: as_user("tenant-b") == 200, 20, "tenant-b allowed once bound")
    finally:
        proxied.stop()


def test_the_editor_completes_fields_from_the_crd_schema(
    cluster: Cluster, ui: UiServer, admin_token: str, browser: Any
) -> None:
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/new-flow")
    set_editor_text(
        page, "apiVersion: overture.dev/v1alpha1\nkind: Flow\nmetadata:\n  name: x\nspec:\n  description: x\n  "
    )
    page.keyboard.type("conc")
    options = page.locator(".cm-tooltip-autocomplete li")
    options.first.wait_for()
    assert any(option.startswith("concurrency") for option in options.all_inner_texts()), options.all_inner_texts()
    # Clicked, not Enter: the list may still be refreshing from the last keystroke when Enter lands.
    options.filter(has_text="concurrency").first.click()
    assert poll(lambda: "  concurrency:" in editor_text(page), 10, "the completion in the text")


FILES_TASKS: list[dict[str, Any]] = [
    {
        "id": "make",
        "type": "shell",
        "outputFiles": ["out/**"],
        "commands": [
            "mkdir -p out",
            r"""printf '%s\n' 'id,html' '1,<img src=x onerror="window.__xss=1">' > out/table.csv""",
            r"head -c 100000 /dev/zero | tr '\000' a > out/big.txt",  # a preview shows its first 64 KiB
            r"printf 'PK\000\001\002' > out/blob.bin",
        ],
    },
    {  # outputs over the status's inline limit (2 KiB): kept in the store
        "id": "talk",
        "type": "shell",
        "commands": [r"""echo "::{\"outputs\": {\"long\": \"$(head -c 3000 /dev/zero | tr '\000' x)\"}}::" """],
    },
]


@pytest.mark.realnode
def test_task_files_and_stored_outputs_are_previewed_as_text(
    cluster: Cluster, ui: UiServer, admin_token: str, browser: Any, object_store: Any
) -> None:
    cluster.apply_flow(flow_doc("files", FILES_TASKS))
    name = cluster.run("files")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    assert execution["status"]["state"] == "SUCCESS", execution["status"]
    page = signed_in(browser, ui, admin_token, f"/ns/{cluster.namespace}/executions/{name}?tab=io")

    def preview(row: str) -> Any:
        page.click(f"{row} [data-testid=preview]")
        page.locator(f"{row} [data-testid=preview-text], {row} [data-testid=preview-note]").first.wait_for()
        return page.locator(row)

    table = preview('[data-file-output="make:out/table.csv"]')
    assert (
        table.locator("[data-testid=preview-text]").text_content()
        == 'id,html\n1,<img src=x onerror="window.__xss=1">\n'
    )
    big = preview('[data-file-output="make:out/big.txt"]')
    assert len(big.locator("[data-testid=preview-text]").text_content() or "") == 64 * 1024
    assert big.locator("[data-testid=preview-note]").inner_text() == "The first 64.0 KiB of 97.7 KiB."
    blob = preview('[data-file-output="make:out/blob.bin"]')
    assert blob.locator("[data-testid=preview-note]").inner_text().startswith("Binary, 5 B")
    stored = page.locator("[data-stored-outputs=talk]")
    stored.locator("[data-testid=load-outputs]").click()
    assert json.loads(stored.locator("pre").text_content() or "") == {"long": "x" * 3000}
    time.sleep(0.5)
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("main img").count() == 0
    # The server shows only what this execution refers to, in its namespace, from its store.
    base = f"/api/namespaces/{cluster.namespace}/executions/{name}"
    make = next(run for run in execution["status"]["taskRuns"] if run["id"] == "make")
    bucket = make["outputs"]["files"]["out/table.csv"].split("/")[2]
    bearer = f"Bearer {admin_token}"
    assert ui.get(f"{base}/file?uri=s3://{bucket}/other-team/{name}/x/files/a.csv", bearer)[0] == 403
    assert ui.get(f"{base}/file?uri=s3://{bucket}/{cluster.namespace}/another/x/files/a.csv", bearer)[0] == 403
    assert ui.get(f"{base}/file?uri=https://example.invalid/a.csv", bearer)[0] == 422
    assert ui.get(f"{base}/stored-outputs?job=not-a-job-of-it", bearer)[0] == 404
