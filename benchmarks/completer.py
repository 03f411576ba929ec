"""The Job completer: marks every task Job done the moment it is seen, through the status subresource.

    python -m benchmarks.completer

It watches Jobs labelled ``overture.dev/execution`` in all namespaces and merge-patches each new
one's status to ``Complete`` (``succeeded: 1``, ``SuccessCriteriaMet`` and ``Complete``), the
way a Job controller would once its pod succeeded. No pod has to run, no kubelet or kwok is in the
loop: what is left is the orchestrator and the API server. The bare-script limit in the
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

    follower = asyncio.create_task(follow())
    await stop.wait()
    follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower
    print(f"completed {done} Jobs", flush=True)
    await api.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
