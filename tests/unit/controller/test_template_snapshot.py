"""An execution of a flow with template tasks snapshots them expanded, records the templates it
ran, and creates Jobs with the parameters as arguments; the Flow's reading follows the templates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from support.fake_kube import StatusKube

from overture.controller.executions import ExecutionReconciler
from overture.controller.settings import ControllerSettings
from overture.kube.flow_cache import FlowCache
from overture.kube.pods import JOB  # these fakes make Jobs only: the built-in Job runtime
from overture.kube.store import Store

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
TEMPLATE = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "TaskTemplate",
    "metadata": {"name": "say-1-0-0", "namespace": "ns", "resourceVersion": "7"},
    "spec": {
        "name": "say",
        "version": "1.0.0",
        "parameters": {"properties": {"word": {"type": "string"}}, "required": ["word"]},
        "container": {"image": "busybox:1.36", "command": ["echo"], "args": ["{{ params.word }}"]},
    },
}
FLOW = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Flow",
    "metadata": {"name": "twice", "namespace": "ns", "uid": "f1", "generation": 1, "resourceVersion": "1"},
    "spec": {
        "tasks": [
            {"id": "left", "type": "template", "template": {"name": "say", "version": "^1"}, "with": {"word": "a"}},
            {"id": "right", "type": "template", "template": {"name": "say", "version": "^1"}, "with": {"word": "b"}},
        ]
    },
}
EXECUTION = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Execution",
    "metadata": {"name": "twice-1", "namespace": "ns", "uid": "e1", "resourceVersion": "1"},
    "spec": {"flowRef": {"name": "twice"}},
}


class Kube(StatusKube):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.jobs: list[dict[str, Any]] = []

    async def create_job(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        self.jobs.append(manifest)
        return {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}


def reconcile(store: Store) -> tuple[Kube, dict[str, Any]]:
    kube = Kube(store)
    reconciler = ExecutionReconciler(kube, store, ControllerSettings(task_runtime=JOB), clock=lambda: NOW)  # type: ignore[arg-type]
    asyncio.run(reconciler.reconcile(("ns", "twice-1")))
    return kube, dict(store.executions[("ns", "twice-1")])


def test_the_snapshot_holds_container_tasks_and_the_templates_they_came_from() -> None:
    store = Store()
    store.put("TaskTemplate", TEMPLATE)
    store.put("flow", FLOW)
    store.put("execution", EXECUTION)
    kube, execution = reconcile(store)
    status = execution["status"]
    assert [t["type"] for t in status["flowSpec"]["tasks"]] == ["container", "container"]
    assert [(t["taskId"], t["name"], t["version"], t["objectName"]) for t in status["templates"]] == [
        ("left", "say", "1.0.0", "say-1-0-0"),
        ("right", "say", "1.0.0", "say-1-0-0"),
    ]
    assert status["templates"][0]["specHash"].startswith("sha256:")
    containers = [job["spec"]["template"]["spec"]["containers"][0] for job in kube.jobs]
    assert [(c["command"], c["args"]) for c in containers] == [(["echo"], ["a"])]  # in list order: left first


def test_a_template_gone_before_the_run_starts_fails_it_naming_the_task() -> None:
    store = Store()
    store.put("TaskTemplate", TEMPLATE)
    store.put("flow", FLOW)
    store.put("execution", EXECUTION)
    store.put("TaskTemplate", TEMPLATE, deleted=True)
    kube, execution = reconcile(store)
    assert kube.jobs == []
    assert execution["status"]["state"] == "FAILED"
    assert "spec.tasks[0].template.name: no TaskTemplate 'say' in namespace 'ns'" in execution["status"]["message"]


def test_a_flow_is_read_again_when_a_template_changes() -> None:
    store = Store()
    store.put("flow", FLOW)
    flows = FlowCache(store)
    reading = flows.reading(("ns", "twice"))
    assert reading is not None
    assert reading.problems[0].startswith("spec.tasks[0].template.name: no TaskTemplate 'say'")
    assert flows.template_users() == [("ns", "twice")]
    store.put("TaskTemplate", TEMPLATE)
    reading = flows.reading(("ns", "twice"))
    assert reading is not None
    assert reading.problems == ()
    assert flows.reading(("ns", "twice")) is reading  # read once per change of the templates
    store.put("TaskTemplate", TEMPLATE, deleted=True)
    reading = flows.reading(("ns", "twice"))
    assert reading is not None
    assert reading.problems != ()
