"""benchmarks/audit.py: the per-writer breakdown benchmarks/README.md quotes ("Who writes what per task")."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not of the installed package

from benchmarks.audit import Request, by_writer, namespace_writes, writer  # noqa: E402

MASTERS = ["system:masters", "system:authenticated"]


def event(
    verb: str,
    resource: str,
    *,
    user: str = "system:serviceaccount:kube-system:job-controller",
    groups: list[str] | None = None,
    agent: str = "kube-controller-manager/v1.34.4",
    namespace: str = "ns",
    name: str = "x",
    subresource: str = "",
    at: str = "2026-12-01T18:00:00.000000Z",
    code: int = 200,
    stage: str = "ResponseComplete",
) -> dict[str, Any]:
    ref = {"resource": resource, "namespace": namespace, "name": name}
    if subresource:
        ref["subresource"] = subresource
    if resource == "namespaces":
        del ref["namespace"]
    return {
        "stage": stage,
        "verb": verb,
        "user": {"username": user, "groups": groups or ["system:serviceaccounts", "system:authenticated"]},
        "userAgent": agent,
        "objectRef": ref,
        "requestReceivedTimestamp": at,
        "responseStatus": {"code": code},
    }


def test_writers_are_named_by_controller_account_user_or_admin_agent() -> None:
    assert writer(event("create", "pods")) == "job-controller"
    assert writer(event("create", "pods", user="system:kube-scheduler")) == "kube-scheduler"
    assert writer(event("create", "jobs", user="system:serviceaccount:peer-x:overture")) == "sa peer-x/overture"
    assert writer(event("patch", "pods", user="overture-admin", groups=MASTERS, agent="kwok/v0.8.0 (linux)")) == (
        "admin (kwok)"
    )


def test_counts_answered_writes_in_the_namespace_and_refusals_apart() -> None:
    events = [
        event("create", "pods"),
        event("create", "pods"),
        event("update", "jobs", subresource="status"),
        event("update", "jobs", subresource="status", code=409),
        event("get", "jobs"),  # a read
        event("create", "pods", namespace="other"),
        event("create", "pods", stage="RequestReceived"),  # the same request's first stage
    ]
    counts = namespace_writes(events, "ns")
    assert counts == {
        Request("job-controller", "create", "pods"): 2,
        Request("job-controller", "update", "jobs", "status"): 1,
        Request("job-controller", "update", "jobs", "status", refused=True): 1,
    }
    assert by_writer(counts) == {"job-controller": 4}


def test_stops_at_the_namespace_deletion_and_keeps_to_the_window() -> None:
    events = [
        event("create", "pods", at="2026-12-01T18:00:01Z"),
        event("create", "pods", at="2026-12-01T18:00:02Z"),
        event("delete", "namespaces", name="ns", user="overture-admin", groups=MASTERS, at="2026-12-01T18:00:03Z"),
        event(
            "delete", "pods", user="system:serviceaccount:kube-system:namespace-controller", at="2026-12-01T18:00:04Z"
        ),
    ]
    assert sum(namespace_writes(events, "ns").values()) == 2
    assert sum(namespace_writes(events, "ns", since="2026-12-01T18:00:02Z").values()) == 1
    assert sum(namespace_writes(events, "ns", until="2026-12-01T18:00:02Z").values()) == 1
