"""The Job completer: marks every task Job done the moment it is seen, through the status subresource.

    python -m benchmarks.completer

It watches Jobs labelled ``overture.dev/execution`` in all namespaces and merge-patches each new
one's status to ``Complete`` (``succeeded: 1``, ``SuccessCriteriaMet`` and ``Complete``), the
way a Job controller would once its pod succeeded; and it marks each pod the Job controller
makes for them ``Succeeded`` (container ``task`` terminated with exit code 0), as a kubelet
would: the operator waits for a pod it has seen to end before it trusts the Job's Complete.
No pod has to run, no kubelet or kwok is in the loop: what is left is the orchestrator and the
API server (and the Job controller's pod creations, in the background). The bare-script limit in the
throughput benchmark uses the same completer, so both sides pay the same for completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from benchmarks.common import LABEL_EXECUTION, Api, job_finished, watch_raw

MERGE_PATCH = "application/merge-patch+json"


def completion(now: str, start: str | None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "active": 0,
        "ready": 0,
        "succeeded": 1,
        "completionTime": max(now, start or now),
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now, "reason": "Completer"},
            {"type": "Complete", "status": "True", "lastTransitionTime": now, "reason": "Completer"},
        ],
    }
    if start is not None:
        status["startTime"] = start
    return {"status": status}


async def complete(api: Api, namespace: str, name: str, created: str) -> bool:
    """Complete one Job. A finished Job needs a startTime, which the Job controller may have set
    (it may not be changed then) or not yet (we set the Job's creation time)."""
    start: str | None = created
    for attempt in range(6):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            await api.batch.patch_namespaced_job_status(
                name, namespace, completion(now, start), _content_type=MERGE_PATCH
            )
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            if attempt == 5:
                print(f"could not complete {namespace}/{name}: {exc.status} {exc.body}", flush=True)
                return False
            if exc.status == 422:  # startTime: read what the Job controller wrote
                current = await api.batch.read_namespaced_job_status(name, namespace)
                if job_finished(api.api.sanitize_for_serialization(current)):
                    return True
                start = (
                    current.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ") if current.status.start_time else created
                )
            else:
                await asyncio.sleep(0.1 * (attempt + 1))
    return False


def pod_done(now: str, pod: dict[str, Any]) -> dict[str, Any]:
    containers = (pod.get("spec") or {}).get("containers") or [{"name": "task", "image": ""}]
    return {
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}
                    },
                }
                for c in containers
            ],
        }
    }


async def complete_pod(api: Api, namespace: str, pod: dict[str, Any]) -> bool:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    name = pod["metadata"]["name"]
    for attempt in range(5):
        try:
            await api.core.patch_namespaced_pod_status(name, namespace, pod_done(now, pod), _content_type=MERGE_PATCH)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            if attempt == 4:
                print(f"could not complete pod {namespace}/{name}: {exc.status} {exc.body}", flush=True)
                return False
            await asyncio.sleep(0.1 * (attempt + 1))
    return False


async def main() -> int:
    api = await Api.connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    seen: set[tuple[str, str]] = set()
    running: set[asyncio.Task[bool]] = set()
    semaphore = asyncio.Semaphore(64)
    done = 0

    async def one(namespace: str, name: str, created: str) -> bool:
        nonlocal done
        async with semaphore:
            ok = await complete(api, namespace, name, created)
        done += ok
        return ok

    async def follow() -> None:
        print("ready", flush=True)
        async for _, type_, job in watch_raw(
            api.batch.list_job_for_all_namespaces, label_selector=LABEL_EXECUTION, stop=stop
        ):
            meta = job["metadata"]
            key = (meta["namespace"], meta["name"])
            if type_ == "DELETED" or key in seen or job_finished(job):
                continue
            seen.add(key)
            task = asyncio.create_task(one(*key, meta["creationTimestamp"]))
            running.add(task)
            task.add_done_callback(running.discard)

    pods_seen: set[tuple[str, str]] = set()

    async def one_pod(namespace: str, pod: dict[str, Any]) -> None:
        async with semaphore:
            await complete_pod(api, namespace, pod)

    async def follow_pods() -> None:
        async for _, type_, pod in watch_raw(
            api.core.list_pod_for_all_namespaces, label_selector=LABEL_EXECUTION, stop=stop
        ):
            meta = pod["metadata"]
            key = (meta["namespace"], meta["name"])
            phase = (pod.get("status") or {}).get("phase")
            if type_ == "DELETED" or key in pods_seen or phase in ("Succeeded", "Failed"):
                continue
            pods_seen.add(key)
            task = asyncio.create_task(one_pod(meta["namespace"], pod))
            running.add(task)  # type: ignore[arg-type]
            task.add_done_callback(running.discard)  # type: ignore[arg-type]

    follower = asyncio.create_task(follow())
    pod_follower = asyncio.create_task(follow_pods())
    await stop.wait()
    for task in (follower, pod_follower):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    print(f"completed {done} Jobs", flush=True)
    await api.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
