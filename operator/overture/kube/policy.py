"""What a platform team lets the task pods of one namespace do (issue 14, least privilege).

The policy lives on the Namespace, which a flow author (``overture-flow-author``) cannot edit:

- ``overture.dev/service-accounts: "runner,loader"``: the ServiceAccounts a Flow there may name
  in ``spec.serviceAccountName``. Without it, none: pods run as the namespace's ``default``
  account with no token mounted. A named, allowed account gets its token (that is what it is for).
- ``overture.dev/run-as-root: "true"``: task containers run as their image's user. Otherwise
  they run as uid/gid 65532 with ``runAsNonRoot``; both ways without privilege escalation,
  with every capability dropped and the runtime's default seccomp profile, which is what Pod
  Security's ``restricted`` level asks (with run-as-root: ``baseline``).

``from_namespace`` reads it, ``problem`` says why a flow may not run as it asks (``None``: it
may; ``build_job`` raises it as ``PolicyError``), ``pod_security`` is the security context. Pure; the controller reads
the Namespace (kube/namespaces.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ANNOTATION_SERVICE_ACCOUNTS = "overture.dev/service-accounts"
ANNOTATION_RUN_AS_ROOT = "overture.dev/run-as-root"
TASK_UID = 65532  # distroless's "nonroot": a uid no image's files belong to by accident


class PolicyError(ValueError):
    """A Job the namespace's policy does not allow; the message names the field and the fix."""


@dataclass(frozen=True)
class TaskPolicy:
    service_accounts: frozenset[str] = frozenset()
    run_as_root: bool = False


STRICTEST = TaskPolicy()


def from_namespace(namespace: Mapping[str, Any] | None) -> TaskPolicy:
    """The policy a Namespace object's annotations set (no annotations: the strictest)."""
    annotations = ((namespace or {}).get("metadata") or {}).get("annotations") or {}
    accounts = annotations.get(ANNOTATION_SERVICE_ACCOUNTS) or ""
    return TaskPolicy(
        service_accounts=frozenset(a.strip() for a in accounts.split(",") if a.strip()),
        run_as_root=str(annotations.get(ANNOTATION_RUN_AS_ROOT, "")).lower() == "true",
    )


def problem(policy: TaskPolicy, namespace: str, service_account: str | None) -> str | None:
    if not service_account or service_account in policy.service_accounts:
        return None
    allowed = ", ".join(sorted(policy.service_accounts)) or "none"
    return (
        f"spec.serviceAccountName: {service_account!r} is not allowed in namespace {namespace} "
        f"(allowed: {allowed}); a platform team allows it with the namespace annotation "
        f"{ANNOTATION_SERVICE_ACCOUNTS}"
    )


def pod_security(policy: TaskPolicy) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the pod's securityContext, each container's)."""
    pod: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    container: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    if not policy.run_as_root:
        pod.update(runAsNonRoot=True, runAsUser=TASK_UID, runAsGroup=TASK_UID, fsGroup=TASK_UID)
    return pod, container
