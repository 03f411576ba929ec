"""Data between tasks through the artifact store (issue 15): what the mechanism costs.

    python -m benchmarks.artifacts [--runs 20] [--mb 50] [--transfers 3]

Against the local cluster of OVERTURE_CLUSTER_INSTANCE (its real node and S3 server, from
cluster.env), with pods built as the operator builds them (kube.jobs.build_job with the store's
signer), so no operator is in the measurement:

1. **Time added per task.** ``--runs`` busybox pods running ``true`` as a plain task, then as many
   under the wrapper (an init container copies it in; it archives the log and reports outputs):
   each pod's time from its creation to its phase Succeeded, seen by a watch. The mechanism's cost
   is the difference of the two (p50 and p99), and the wrapper's own work inside the pod (inputs +
   results, from its manifest).
2. **Throughput.** A busybox task writes ``--mb`` MB of random bytes and stores it (outputFiles,
   a presigned PUT slot); a second task downloads it (inputFiles, a presigned GET). MB/s of each leg
   from the wrappers' manifests, and of the whole hand-over (upload + download), against copying
   the same file with ``cp`` on this machine (the ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from benchmarks.common import kubeconfig_path, print_table, summary, write_result
from overture.engine import CreateJob
from overture.kube.artifacts import ArtifactStore, StoreSettings, attempt_prefix
from overture.kube.jobs import build_job

MB = 1_000_000


def store_settings(kubeconfig: str) -> StoreSettings:
    state = Path(kubeconfig).with_name("cluster.env")
    env = dict(line.split("=", 1) for line in state.read_text().splitlines() if "=" in line)
    settings = StoreSettings.from_env(env)
    if settings is None or "OVERTURE_WRAPPER_IMAGE" not in env:
        raise SystemExit(f"{state}: no S3 store or wrapper image (a real node is needed: hack/cluster/up.sh --real)")
    return settings


class Pods:
    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
        self.namespace = namespace

    def run(self, name: str, script: str, store: ArtifactStore | None, **files: Any) -> tuple[float, dict[str, Any]]:
        """Create the pod, wait for its end; (seconds from creation to Succeeded, its termination message)."""
        request = CreateJob(
            name=name,
            task_run=name,
            task_id=name,
            attempt=1,
            image="busybox:1.36",
            command=("/bin/sh", "-ec", script),
            input_files=files.get("input_files", {}),
            output_files=files.get("output_files", ()),
        )
        job = build_job(
            request, namespace=self.namespace, flow="bench", execution="bench", execution_uid="", signer=store
        )
        pod = job["spec"]["template"]
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **pod["metadata"]}, "spec": pod["spec"]}
        stream = watch.Watch()
        t0 = time.monotonic()
        self.core.create_namespaced_pod(self.namespace, body)
        for event in stream.stream(
            self.core.list_namespaced_pod, self.namespace, field_selector=f"metadata.name={name}", timeout_seconds=300
        ):
            phase = event["object"].status.phase
            if phase in ("Succeeded", "Failed"):
                elapsed = time.monotonic() - t0
                stream.stop()
                status = next(s for s in event["object"].status.container_statuses if s.name == "task")
                if phase != "Succeeded":
                    raise SystemExit(f"pod {name} failed: {status.state.terminated.message}")
                message = status.state.terminated.message or "{}"
                return elapsed, json.loads(message) if message.startswith("{") else {}
        raise SystemExit(f"pod {name} did not end in 300 s")


def overhead(pods: Pods, store: ArtifactStore, runs: int) -> dict[str, Any]:
    plain, wrapped, inside = [], [], []
    for i in range(runs):
        seconds, _ = pods.run(f"plain-{i}", "true", None)
        plain.append(seconds)
        seconds, manifest = pods.run(f"wrapped-{i}", "true", store)
        wrapped.append(seconds)
        inside.append((manifest["ms"]["inputs"] + manifest["ms"]["results"]) / 1000)
    p, w = summary(plain), summary(wrapped)
    return {
        "plain": p,
        "wrapped": w,
        "added_p50": (w["p50"] or 0) - (p["p50"] or 0),
        "added_p99": (w["p99"] or 0) - (p["p99"] or 0),
        "wrapper_work": summary(inside),
    }


def throughput(pods: Pods, store: ArtifactStore, mb: int, transfers: int, namespace: str) -> dict[str, Any]:
    size = mb * MB
    up, down, both = [], [], []
    for i in range(transfers):
        producer = f"produce-{i}"
        _, made = pods.run(producer, f"head -c {size} /dev/urandom > data.bin", store, output_files=("data.bin",))
        key = attempt_prefix(namespace, "bench", producer) + "files/0"  # its one file, slot 0
        _, read = pods.run(
            f"consume-{i}",
            f"test $(wc -c < data.bin) -eq {size}",
            store,
            input_files={"data.bin": store.settings.uri(key)},
        )
        upload, download = made["ms"]["results"] / 1000, read["ms"]["inputs"] / 1000
        up.append(size / MB / upload)
        down.append(size / MB / download)
        both.append(size / MB / (upload + download))
    copies = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        source = Path(tmp) / "data.bin"
        source.write_bytes(os.urandom(size))
        for i in range(transfers):
            t0 = time.monotonic()
            shutil.copyfile(source, Path(tmp) / f"copy-{i}.bin")
            copies.append(size / MB / (time.monotonic() - t0))
    store_mbs, copy_mbs = summary(both)["p50"] or 0.0, summary(copies)["p50"] or 0.0
    return {
        "mb": mb,
        "upload_mb_s": summary(up),
        "download_mb_s": summary(down),
        "through_store_mb_s": summary(both),
        "local_copy_mb_s": summary(copies),
        "ratio": store_mbs / copy_mbs if copy_mbs else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="pods of each kind for the time added per task")
    parser.add_argument("--mb", type=int, default=50, help="size of the file handed over")
    parser.add_argument("--transfers", type=int, default=3)
    args = parser.parse_args()
    kubeconfig = kubeconfig_path()
    store = ArtifactStore(store_settings(kubeconfig))
    namespace = f"bench-artifacts-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    time.sleep(2)  # the ServiceAccount controller makes `default` first
    try:
        pods = Pods(kubeconfig, namespace)
        cost = overhead(pods, store, args.runs)
        moved = throughput(pods, store, args.mb, args.transfers, namespace)
    finally:
        core.delete_namespace(namespace)
    print_table(
        f"Time per task, {args.runs} busybox pods each (creation -> Succeeded)",
        ["", "p50", "p99"],
        [
            ["plain task", f"{cost['plain']['p50'] * 1000:.0f} ms", f"{cost['plain']['p99'] * 1000:.0f} ms"],
            ["under the wrapper", f"{cost['wrapped']['p50'] * 1000:.0f} ms", f"{cost['wrapped']['p99'] * 1000:.0f} ms"],
            ["added by the mechanism", f"{cost['added_p50'] * 1000:.0f} ms", f"{cost['added_p99'] * 1000:.0f} ms"],
            [
                "wrapper's own work in the pod",
                f"{cost['wrapper_work']['p50'] * 1000:.0f} ms",
                f"{cost['wrapper_work']['p99'] * 1000:.0f} ms",
            ],
        ],
    )
    print_table(
        f"A {args.mb} MB file handed between two tasks, {args.transfers} times (p50)",
        ["", "MB/s"],
        [
            ["upload (PUT, wrapper -> store)", f"{moved['upload_mb_s']['p50']:.0f}"],
            ["download (GET, store -> wrapper)", f"{moved['download_mb_s']['p50']:.0f}"],
            ["through the store (upload + download)", f"{moved['through_store_mb_s']['p50']:.0f}"],
            ["cp on this machine", f"{moved['local_copy_mb_s']['p50']:.0f}"],
            ["ratio store / cp", f"{moved['ratio']:.2f}" if moved["ratio"] else "-"],
        ],
    )
    write_result("artifacts", {"overhead": cost, "throughput": moved})


if __name__ == "__main__":
    main()
