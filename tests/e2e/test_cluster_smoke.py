"""Smoke tests of the cluster itself: the Job controller, a real node running the local Python
image (termination message and log come back), the kwok node, and the non-admin token users."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.e2e

PAYLOAD = {"answer": 42, "ok": True, "from": "overture-smoke"}
SCRIPT = (
    "import json, sys\n"
    f"payload = {PAYLOAD!r}\n"
    "with open('/dev/termination-log', 'w') as f:\n"
    "    json.dump(payload, f)\n"
    "print('smoke: python', sys.version.split()[0], 'says hello', flush=True)\n"
)


def job_manifest(name: str, image: str, command: list[str], **pod_spec: Any) -> client.V1Job:
    container = client.V1Container(
        name="main",
        image=image,
        image_pull_policy="IfNotPresent",
        command=command,
        termination_message_path="/dev/termination-log",
        termination_message_policy="File",
    )
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            backoff_limit=0,
            ttl_seconds_after_finished=600,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(restart_policy="Never", containers=[container], **pod_spec),
            ),
        ),
    )


def job_finished(batch_v1: client.BatchV1Api, namespace: str, name: str) -> str | None:
    job = batch_v1.read_namespaced_job(name, namespace)
    for cond in job.status.conditions or []:
        if cond.type in ("Complete", "Failed") and cond.status == "True":
            return str(cond.type)
    return None


def job_pod(core_v1: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod:
    pods = core_v1.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    assert len(pods) == 1, f"expected one pod for job {name}, got {[p.metadata.name for p in pods]}"
    return pods[0]


def describe(core_v1: client.CoreV1Api, namespace: str) -> str:
    """Pods and events of the namespace, for failure messages."""
    pods = [
        f"{p.metadata.name}: {p.status.phase} {p.status.container_statuses}"
        for p in core_v1.list_namespaced_pod(namespace).items
    ]
    events = [f"{e.reason}: {e.message}" for e in core_v1.list_namespaced_event(namespace).items]
    return "\npods:\n" + "\n".join(pods) + "\nevents:\n" + "\n".join(events)


@pytest.mark.realnode
def test_python_job_returns_termination_message_and_log(
    core_v1: client.CoreV1Api, batch_v1: client.BatchV1Api, namespace: str, wait_for: Callable[..., Any]
) -> None:
    name = "smoke-python"
    batch_v1.create_namespaced_job(
        namespace,
        job_manifest(name, "python:3.12-slim", ["python", "-c", SCRIPT], node_selector={"kubernetes.io/os": "linux"}),
    )
    try:
        result = wait_for(lambda: job_finished(batch_v1, namespace, name), 120, 0.5, f"job {name} to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}{describe(core_v1, namespace)}") from None
    assert result == "Complete", describe(core_v1, namespace)
    assert batch_v1.read_namespaced_job(name, namespace).status.succeeded == 1

    pod = job_pod(core_v1, namespace, name)
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated is not None and terminated.exit_code == 0
    assert json.loads(terminated.message) == PAYLOAD

    log = core_v1.read_namespaced_pod_log(pod.metadata.name, namespace, container="main")
    assert "smoke: python 3." in log and "says hello" in log, log


@pytest.mark.realnode
def test_busybox_failure_comes_back_with_exit_code_and_message(
    core_v1: client.CoreV1Api, batch_v1: client.BatchV1Api, namespace: str, wait_for: Callable[..., Any]
) -> None:
    name = "smoke-busybox-fail"
    script = "echo out-of-disk >/dev/termination-log; echo failing on purpose; exit 3"
    batch_v1.create_namespaced_job(namespace, job_manifest(name, "busybox:1.36", ["sh", "-c", script]))
    result = wait_for(lambda: job_finished(batch_v1, namespace, name), 120, 0.5, f"job {name} to finish")
    assert result == "Failed", describe(core_v1, namespace)
    pod = job_pod(core_v1, namespace, name)
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 3
    assert terminated.message.strip() == "out-of-disk"
    assert "failing on purpose" in core_v1.read_namespaced_pod_log(pod.metadata.name, namespace)


@pytest.mark.kwok
def test_job_on_the_kwok_node_completes_at_once(
    batch_v1: client.BatchV1Api,
    core_v1: client.CoreV1Api,
    namespace: str,
    kwok_placement: dict[str, Any],
    wait_for: Callable[..., Any],
) -> None:
    name = "smoke-kwok"
    batch_v1.create_namespaced_job(
        namespace,
        job_manifest(name, "busybox:1.36", ["true"], **kwok_placement),
    )
    result = wait_for(lambda: job_finished(batch_v1, namespace, name), 60, 0.2, f"job {name} on kwok")
    assert result == "Complete", describe(core_v1, namespace)
    pod = job_pod(core_v1, namespace, name)
    node = core_v1.read_node(pod.spec.node_name)
    assert (node.metadata.annotations or {}).get("kwok.x-k8s.io/node") == "fake"


def test_tenant_token_user_is_authenticated_but_not_authorized(
    namespace: str, user_kubeconfig: Callable[[str], str]
) -> None:
    api = client.CoreV1Api(config.new_client_from_config(config_file=user_kubeconfig("tenant-a")))
    with pytest.raises(ApiException) as err:
        api.list_namespaced_pod(namespace)
    assert err.value.status == 403  # 401 would mean the token was not accepted
    assert "tenant-a" in str(err.value.body)
