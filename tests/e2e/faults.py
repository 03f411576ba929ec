"""Helpers of the reliability and security tests (test_chaos, test_fuzz, test_tenants, test_secrets,
test_limits, test_store): soak scaling, kwok namespaces, operator swaps, apiserver and store
restarts, and the checks that no task attempt has two Jobs and no Job is orphaned.

Soak mode: ``OVERTURE_SOAK=1`` (or ``make soak``) runs the same tests longer and bigger; CI runs
them at their CI size. ``scale(ci, soak)`` picks the number.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import CLUSTER_DIR, HACK, KWOK_TAINT
from harness import GROUP, VERSION, Cluster, OperatorProcess, poll
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from overture.api import task_runs_of

SOAK = os.environ.get("OVERTURE_SOAK", "").lower() in {"1", "true", "yes"}

NODE_SELECTOR_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector"
TOLERATIONS_ANNOTATION = "scheduler.alpha.kubernetes.io/defaultTolerations"
LABEL_EXECUTION = "overture.dev/execution"
LABEL_ATTEMPT = "overture.dev/attempt"
ANNOTATION_TASK_RUN = "overture.dev/task-run"


def scale(ci: int, soak: int) -> int:
    return soak if SOAK else ci


# ---------------------------------------------------------------- namespaces


def new_namespace(kubeconfig: str, prefix: str, kwok: bool = False) -> Cluster:
    """A fresh namespace (and a Cluster helper for it); ``kwok``: every pod in it lands on the kwok node.

    A Flow has no nodeSelector: the namespace places its pods, through the apiserver's
    PodNodeSelector and PodTolerationRestriction admission plugins (hack/cluster/up.sh). A cluster
    without them (started before they were added) skips the test.
    """
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    helper = Cluster(kubeconfig, name)
    annotations = {}
    if kwok:
        annotations = {
            NODE_SELECTOR_ANNOTATION: "type=kwok",
            TOLERATIONS_ANNOTATION: json.dumps([{**KWOK_TAINT}]),
        }
    helper.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, annotations=annotations)))
    poll(lambda: _has_default_sa(helper), 30, f"default ServiceAccount in {name}")
    if kwok and not _placed_on_kwok(helper):
        delete_namespace(helper)
        pytest.skip(
            "the apiserver does not place pods by namespace annotations (PodNodeSelector, "
            "PodTolerationRestriction): restart the local cluster with the current hack/cluster/up.sh --both"
        )
    return helper


def _has_default_sa(helper: Cluster) -> bool:
    try:
        helper.core.read_namespaced_service_account("default", helper.namespace)
    except ApiException:
        return False
    return True


def _placed_on_kwok(helper: Cluster) -> bool:
    """A dry-run pod in the namespace comes back with the kwok nodeSelector and toleration."""
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="placement-probe"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]),
    )

    def placed() -> bool:
        made = helper.core.create_namespaced_pod(helper.namespace, pod, dry_run="All")
        tolerations = [t.key for t in made.spec.tolerations or []]
        return (made.spec.node_selector or {}).get("type") == "kwok" and KWOK_TAINT["key"] in tolerations

    try:
        return bool(poll(placed, 10, "namespace placement on the kwok node"))
    except AssertionError:
        return False


def delete_namespace(helper: Cluster) -> None:
    try:
        helper.core.delete_namespace(helper.namespace, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise


# ---------------------------------------------------------------- the operator and the apiserver


@contextmanager
def operator_with_env(session: OperatorProcess, log_path: Path, env: dict[str, str]) -> Iterator[OperatorProcess]:
    """Swap the session's operator for one with ``env`` for a while; the session's comes back after."""
    session.stop()  # graceful: it releases the Lease, so the other one leads at once
    custom = OperatorProcess(session.kubeconfig, log_path, env)
    try:
        custom.start()
        yield custom
    finally:
        custom.stop()
        session.start()


def is_local_cluster(kubeconfig: str) -> bool:
    return kubeconfig == str(CLUSTER_DIR / "admin.kubeconfig")


def restart_apiserver(down_seconds: float = 0) -> float:
    """Restart the local cluster's kube-apiserver (hack/cluster/restart-apiserver.sh); its downtime in s."""
    return _restart("restart-apiserver.sh", down_seconds)


def restart_store(down_seconds: float = 0) -> float:
    """Restart the local cluster's S3 server (hack/cluster/restart-s3.sh); its downtime in s."""
    return _restart("restart-s3.sh", down_seconds)


def _restart(script: str, down_seconds: float) -> float:
    args = ["bash", str(HACK / script)]
    if down_seconds:
        args += ["--down", str(down_seconds)]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, f"{script} failed:\n{done.stderr}"
    return float(done.stdout.strip().splitlines()[-1])


def post_webhook(port: int, path: str, headers: dict[str, str], body: bytes) -> int:
    """POST to the operator's HTTP port; the reply's status.

    A server may answer a large upload early (413, 404, 401) and close the connection before
    reading it all: the client then sees a broken pipe, and the answer is read anyway.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        try:
            connection.request("POST", path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            if len(body) < 64 * 1024:
                raise  # a small body was refused: not an early answer
        return connection.getresponse().status
    finally:
        connection.close()


def healthz(process: OperatorProcess) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{process.port}/healthz", timeout=5) as reply:
        return int(reply.status)


def alive(process: OperatorProcess) -> bool:
    return process.proc is not None and process.proc.poll() is None


# ---------------------------------------------------------------- listing and invariants


def list_executions(helper: Cluster, selector: str = "") -> list[dict[str, Any]]:
    listing = helper.custom.list_namespaced_custom_object(
        GROUP, VERSION, helper.namespace, "executions", label_selector=selector
    )
    return list(listing["items"])


def state_of(execution: dict[str, Any]) -> str | None:
    return (execution.get("status") or {}).get("state")


TERMINAL = frozenset({"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"})


@dataclass
class JobAudit:
    """What the Jobs of some namespaces say about their executions."""

    jobs: int = 0
    pods: int = 0
    attempts: int = 0
    duplicates: list[str] = field(default_factory=list)  # task attempts with more than one Job
    orphans: list[str] = field(default_factory=list)  # Jobs with no owner, or whose owner is gone
    unrecorded: list[str] = field(default_factory=list)  # Jobs no attempt of their execution names
    missing: list[str] = field(default_factory=list)  # attempts whose Job does not exist
    extra_pods: list[str] = field(default_factory=list)  # Jobs with more than one pod

    def problems(self) -> dict[str, list[str]]:
        found = {
            "task attempts with two Jobs": self.duplicates,
            "orphaned Jobs": self.orphans,
            "Jobs no attempt records": self.unrecorded,
            "attempts without their Job": self.missing,
            "Jobs with more than one pod": self.extra_pods,
        }
        return {k: v[:20] for k, v in found.items() if v}


def audit_jobs(helper: Cluster) -> JobAudit:
    """Every Job of the namespace against the executions' status, and every attempt against the Jobs."""
    audit = JobAudit()
    executions = {e["metadata"]["name"]: e for e in list_executions(helper)}
    jobs = helper.batch.list_namespaced_job(helper.namespace, label_selector=LABEL_EXECUTION).items
    pods = helper.core.list_namespaced_pod(helper.namespace, label_selector=LABEL_EXECUTION).items
    audit.jobs, audit.pods = len(jobs), len(pods)
    recorded: dict[str, str] = {}  # job name -> execution
    for name, execution in executions.items():
        for run in task_runs_of(execution.get("status") or {}):
            for attempt in run.get("attempts") or []:
                audit.attempts += 1
                recorded[attempt["job"]] = name
    by_attempt: Counter[tuple[str, str, str]] = Counter()
    names = set()
    for job in jobs:
        meta = job.metadata
        names.add(meta.name)
        labels, annotations = meta.labels or {}, meta.annotations or {}
        key = (labels.get(LABEL_EXECUTION, ""), annotations.get(ANNOTATION_TASK_RUN, ""), labels.get(LABEL_ATTEMPT, ""))
        by_attempt[key] += 1
        owners = [o for o in meta.owner_references or [] if o.kind == "Execution" and o.controller]
        owner = executions.get(owners[0].name) if owners else None
        if owner is None or owner["metadata"]["uid"] != owners[0].uid:
            audit.orphans.append(meta.name)
        elif recorded.get(meta.name) != owners[0].name:
            audit.unrecorded.append(meta.name)
    audit.duplicates = [f"{e}/{r}#{a}" for (e, r, a), n in by_attempt.items() if n > 1]
    audit.missing = sorted(set(recorded) - names)
    per_job = Counter((p.metadata.labels or {}).get("job-name") for p in pods)
    audit.extra_pods = [j for j, n in per_job.items() if n > 1]
    return audit
