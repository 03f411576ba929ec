"""The artifact store and the in-pod wrapper, below the operator: the local cluster's S3 server
keeps its data over a restart, and an attempt's upload URLs write their own keys only; the wrapper, copied
into a pod by an init container, moves a file from a busybox pod (no curl, no Python) to a python
pod through the store with presigned requests only, and archives each pod's log.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from faults import is_local_cluster, restart_store
from kubernetes import client
from store import StoreAccess

from overture.kube.artifacts import ArtifactStore, wrapper_spec

pytestmark = pytest.mark.e2e


def test_the_store_keeps_its_data_over_a_restart(kubeconfig: str, object_store: StoreAccess) -> None:
    if not is_local_cluster(kubeconfig):
        pytest.skip("restarts only the local cluster's store")
    key = f"e2e/{uuid.uuid4().hex}/kept.txt"
    object_store.write(key, b"still here")
    assert restart_store(down_seconds=1) < 30
    assert object_store.read(key) == b"still here"


def test_each_file_slot_url_writes_its_own_key_only(object_store: StoreAccess) -> None:
    """The operator's own SigV4 signing of a task's file slots (kube/artifacts.py ``put_slots``),
    against the real server: each slot's URL stores its key, and no other."""
    prefix = f"e2e/{uuid.uuid4().hex}/ns-a/ex/job/files/"
    slots = ArtifactStore(object_store.settings()).put_slots(prefix, 2)
    assert _put(_slot_url(slots, 0), b"zero") == 200
    assert _put(_slot_url(slots, 1), b"one") == 200
    assert object_store.read(prefix + "0") == b"zero" and object_store.read(prefix + "1") == b"one"
    assert _put(_slot_url(slots, 0).replace("/files/0?", "/files/2?"), b"two") == 403  # 0's signature
    assert set(object_store.keys(prefix)) == {prefix + "0", prefix + "1"}


def test_an_attempts_upload_urls_cannot_climb_out_of_its_prefix(object_store: StoreAccess) -> None:
    """Whoever holds an attempt's upload URLs (its pod, a person who can read the pod's spec) tries
    every one with a key that climbs out of the attempt's prefix, as '..' and as '%2e%2e'. A store
    on a file system (versitygw's posix backend) resolves '..' in a key: with the POST form the
    attempt once held, a key of the pod's making landed in another namespace's prefix."""
    base = f"e2e/{uuid.uuid4().hex}/"
    spec = wrapper_spec(ArtifactStore(object_store.settings()), "ns-a", base + "ns-a/ex/job/", {}, ("*.txt",))
    climbs = ("../" * 8 + base + "ns-b/stolen.txt", "%2e%2e/" * 8 + base + "ns-b/stolen.txt")
    for url in _upload_urls(spec):
        origin, _, rest = url.partition(f"/{object_store.bucket}/")
        key, _, query = rest.partition("?")
        for climb in climbs:
            _put(f"{origin}/{object_store.bucket}/{key}/{climb}?{query}", b"nope")
    for form in _post_forms(spec):
        _post(form, form["keyPrefix"] + "../" * 4 + "ns-b/stolen.txt", b"nope")
    assert list(object_store.keys(base + "ns-b/")) == []
    assert [k for k in object_store.keys(base) if not k.startswith(base + "ns-a/")] == []


def _upload_urls(spec: dict[str, Any]) -> list[str]:
    files = spec["outputFiles"]
    slots = [_slot_url(files["slots"], i) for i in range(len(files["slots"]["signatures"]))] if "slots" in files else []
    return [spec["outputs"]["putURL"], spec["log"]["putURL"], files["listPutURL"], *slots]


def _post_forms(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Any POST form in the plan: none since each file has its own PUT slot."""
    return [value for value in spec["outputFiles"].values() if isinstance(value, dict) and "fields" in value]


def _slot_url(slots: dict[str, Any], slot: int) -> str:
    return str(slots["url"]).replace("{slot}", str(slot)).replace("{signature}", slots["signatures"][slot])


def _put(url: str, data: bytes) -> int:
    request = urllib.request.Request(url, data=data, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _post(form: dict[str, Any], key: str, data: bytes) -> int:
    boundary = uuid.uuid4().hex
    parts = [("key", key.encode()), *((k, v.encode()) for k, v in form["fields"].items())]
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v + b"\r\n" for k, v in parts
    )
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'.encode() + data
    body += f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        form["url"], data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wrapped_pod(name: str, image: str, wrapper_image: str, spec: dict[str, Any], command: list[str]) -> client.V1Pod:
    """A pod as the operator will build it: an init container copies the wrapper into the shared
    emptyDir, the task container runs its command under it."""
    mount = client.V1VolumeMount(name="overture", mount_path="/overture")
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            restart_policy="Never",
            volumes=[client.V1Volume(name="overture", empty_dir=client.V1EmptyDirVolumeSource())],
            init_containers=[
                client.V1Container(
                    name="wrapper",
                    image=wrapper_image,
                    image_pull_policy="IfNotPresent",
                    args=["install", "/overture/bin/overture-wrapper"],
                    volume_mounts=[mount],
                )
            ],
            containers=[
                client.V1Container(
                    name="task",
                    image=image,
                    image_pull_policy="IfNotPresent",
                    command=["/overture/bin/overture-wrapper", "run", "--", *command],
                    env=[client.V1EnvVar(name="OVERTURE_WRAPPER_SPEC", value=json.dumps(spec))],
                    termination_message_path="/dev/termination-log",
                    volume_mounts=[mount],
                )
            ],
        ),
    )


def run_pod(core_v1: client.CoreV1Api, namespace: str, pod: client.V1Pod, wait_for: Callable[..., Any]) -> Any:
    """Run the pod to its end; returns its task container's terminated state."""
    core_v1.create_namespaced_pod(namespace, pod)

    def ended() -> Any:
        p = core_v1.read_namespaced_pod(pod.metadata.name, namespace)
        if p.status.phase not in ("Succeeded", "Failed"):
            return None
        return next(s.state.terminated for s in p.status.container_statuses if s.name == "task")

    return wait_for(ended, 90, 0.5, f"pod {pod.metadata.name} to end")


@pytest.mark.realnode
def test_a_busybox_file_reaches_a_python_pod_through_the_store(
    core_v1: client.CoreV1Api,
    namespace: str,
    object_store: StoreAccess,
    wrapper_image: str,
    wait_for: Callable[..., Any],
) -> None:
    base = f"e2e/{namespace}/{uuid.uuid4().hex[:8]}/"
    produce = base + "produce/1/"
    produce_spec = {
        "workDir": "/overture/work",
        "outputs": {"file": "/overture/outputs.json", "putURL": object_store.put_url(produce + "outputs.json")},
        "outputFiles": {
            "globs": ["out/*.csv"],
            "slots": ArtifactStore(object_store.settings()).put_slots(produce + "files/", 10),
            "listPutURL": object_store.put_url(produce + "files.json"),
        },
        "log": {"putURL": object_store.put_url(produce + "log")},
    }
    script = (
        "mkdir out; for i in 1 2 3; do echo $i,row$i >> out/data.csv; done; echo produced; "
        "echo '{\"rows\": 3}' > /overture/outputs.json"
    )
    pod = wrapped_pod("produce", "busybox:1.36", wrapper_image, produce_spec, ["sh", "-c", script])
    state = run_pod(core_v1, namespace, pod, wait_for)
    manifest = json.loads(state.message)
    assert state.exit_code == 0, manifest
    assert manifest["outputs"] == {"rows": 3} and manifest["files"] == {"out/data.csv": 21}, manifest
    assert object_store.read(produce + "files/0") == b"1,row1\n2,row2\n3,row3\n"
    assert b"produced\n" in object_store.read(produce + "log")

    consume = base + "consume/1/"
    consume_spec = {
        "workDir": "/overture/work",
        "inputFiles": [{"path": "data.csv", "url": object_store.get_url(produce + "files/0")}],
        "outputs": {},
        "log": {"putURL": object_store.put_url(consume + "log")},
    }
    program = "print('::' + __import__('json').dumps({'outputs': {'lines': len(open('data.csv').readlines())}}) + '::')"
    state = run_pod(
        core_v1,
        namespace,
        wrapped_pod("consume", "python:3.12-slim", wrapper_image, consume_spec, ["python", "-c", program]),
        wait_for,
    )
    manifest = json.loads(state.message)
    assert state.exit_code == 0 and manifest["outputs"] == {"lines": 3}, manifest
    assert set(object_store.keys(base)) == {
        produce + "files/0",
        produce + "log",
        consume + "log",
    }


def test_an_archived_log_is_read_from_its_tail(object_store: StoreAccess) -> None:
    """`overture logs` and the UI read at most the last 10 MiB of a log (here 1,000 bytes): a pod
    that wrote gigabytes to its log URL cannot fill their memory."""
    key = f"e2e/{uuid.uuid4().hex}/job/log"
    lines = b"".join(b"line %04d\n" % i for i in range(300))  # 3,000 bytes
    object_store.write(key, lines)
    store = ArtifactStore(object_store.settings())
    assert store.read_log(key) == lines.decode()
    tail = asyncio.run(store.read_log_async(key, max_bytes=1000))
    assert tail.startswith("[overture] the archived log is 3000 bytes; its last 1000 follow\nline 0200\n"), tail[:120]
    assert tail.endswith("line 0299\n")
    with pytest.raises(FileNotFoundError):
        store.read_log(key + "-none")
