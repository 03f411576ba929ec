"""The operator's settings, as objects: read from the environment once, then passed to what uses them.

``overture operator`` (``cli/operator.py``) builds ``OperatorSettings.from_env`` with its command
line on top and hands it to kopf's ``memo``; nothing below reads an environment variable. The
variables are the chart's interface (``charts/overture/templates/deployment.yaml``):

- ``OVERTURE_WORKERS``, ``OVERTURE_TASK_EVENTS``, ``OVERTURE_STATUS_DEBOUNCE_SECONDS``,
  ``OVERTURE_OBSERVED_DEBOUNCE_SECONDS``, ``OVERTURE_JOB_TTL_SECONDS`` ("" keeps Jobs),
  ``OVERTURE_RESYNC_SECONDS``, ``OVERTURE_TENANT_THREADS``, ``OVERTURE_TEMPLATE_CPU_SECONDS``,
  ``OVERTURE_TASK_RUNTIME`` (``managed-job``, the default, ``job`` or ``pod``; also ``overture operator
  --task-runtime``): the controller (``ControllerSettings``; the tenant settings also serve the triggers);
- ``OVERTURE_CALLS_ALLOWED_NETWORKS`` (CIDRs, comma-separated), ``OVERTURE_CALLS_ALLOW_PRIVATE``:
  where http, sql and notify tasks may connect (``calls.guard``);
- ``OVERTURE_ALLOW_SECONDS_CRON``: how every Flow is read (``kube.flow_cache.FlowCache``);
- ``OVERTURE_ALLOW_CROSS_NAMESPACE_FLOW_TRIGGERS``, ``OVERTURE_RESOURCE_TRIGGER_RATE``,
  ``OVERTURE_TRIGGER_CHAIN_LIMIT``, ``OVERTURE_WEBHOOK_TRUSTED_PROXIES`` (CIDRs, comma-separated):
  triggers (``TriggerSettings``);
- ``OVERTURE_S3_{ENDPOINT,BUCKET,REGION,ACCESS_KEY_ID,SECRET_ACCESS_KEY}``, ``OVERTURE_WRAPPER_IMAGE``,
  ``OVERTURE_MAX_FILE_BYTES``, ``OVERTURE_MAX_OUTPUTS_BYTES``, ``OVERTURE_MAX_OUTPUT_FILES``,
  ``OVERTURE_ARTIFACT_ORPHAN_SECONDS``,
  ``OVERTURE_OUTPUT_FILES_IF_NO_MATCH``
  (fail or warn): the artifact store (``kube.artifacts.StoreSettings``);
- ``OVERTURE_NAMESPACES`` (comma-separated; none: all), ``OVERTURE_HTTP_HOST``,
  ``OVERTURE_HTTP_PORT``, ``OVERTURE_LEADER_ELECTION``, ``OVERTURE_LEASE_NAMESPACE`` (else
  ``POD_NAMESPACE``, else ``default``), ``OVERTURE_IDENTITY`` (else ``POD_NAME``, else host and
  HTTP port), ``KUBECONFIG``: the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from overture.calls.guard import AddressGuard, parse_networks
from overture.isolation import THREADS
from overture.kube.artifacts import StoreSettings
from overture.kube.pods import DEFAULT_TASK_RUNTIME, TASK_RUNTIMES
from overture.templating import DEFAULT_SECONDS
from overture.triggers.chain import DEFAULT_LIMIT
from overture.triggers.service import TriggerSettings


def is_true(text: str) -> bool:
    """A switch read from the environment: 1, true, yes or on (any case)."""
    return text.lower() in {"1", "true", "yes", "on"}


CROSS_NAMESPACE = "OVERTURE_ALLOW_CROSS_NAMESPACE_FLOW_TRIGGERS"
TRUSTED_PROXIES = "OVERTURE_WEBHOOK_TRUSTED_PROXIES"


@dataclass(frozen=True)
class ControllerSettings:
    workers: int = 64  # a reconcile mostly waits on the API server (benchmarks/README.md: 16 -> 64)
    # Normal Events of progress (Started, TaskStarted, TaskSucceeded): off by default, they were
    # half of all API writes (docs/DECISIONS.md); warnings, retries, failures, Paused and the
    # execution's Ended always go out.
    task_events: bool = False
    status_debounce: float = 2.0  # seconds a task transition may wait to be written (see held.py)
    observed_debounce: float = 5.0  # seconds a pod's name, start or RUNNING may wait
    job_ttl_seconds: int | None = 86400
    # How a task attempt runs: "managed-job", the default (a Job whose spec.managedBy is the
    # operator, which makes its pod and writes its status: kube/managed_jobs.py, docs/DECISIONS.md
    # "The managed-job task runtime" and "The default task runtime"), "job" (a Job, whose built-in
    # controller makes the pod) or "pod" (the operator makes the pod itself, no Job: kube/pods.py,
    # docs/DECISIONS.md "The pod task runtime").
    task_runtime: str = DEFAULT_TASK_RUNTIME
    resync_seconds: float = 60.0
    # The artifact store (task files, big outputs, archived logs); None: tasks run without the
    # wrapper, and inputFiles/outputFiles fail with a message saying so.
    artifacts: StoreSettings | None = None
    # Where http, sql and notify tasks may connect from the operator: public addresses, plus
    # these networks (OVERTURE_CALLS_ALLOWED_NETWORKS) or every address (OVERTURE_CALLS_ALLOW_PRIVATE).
    calls: AddressGuard = field(default_factory=AddressGuard)
    # tenant code (templates, input checks) runs in these threads, each step on this CPU budget
    tenant_threads: int = THREADS
    template_cpu_seconds: float = DEFAULT_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ControllerSettings:
        ttl = env.get("OVERTURE_JOB_TTL_SECONDS", "86400")
        return cls(
            workers=int(env.get("OVERTURE_WORKERS", "64")),
            job_ttl_seconds=int(ttl) if ttl else None,
            task_runtime=task_runtime(env.get("OVERTURE_TASK_RUNTIME", DEFAULT_TASK_RUNTIME)),
            resync_seconds=float(env.get("OVERTURE_RESYNC_SECONDS", "60")),
            task_events=is_true(env.get("OVERTURE_TASK_EVENTS", "false")),
            status_debounce=float(env.get("OVERTURE_STATUS_DEBOUNCE_SECONDS", "2")),
            observed_debounce=float(env.get("OVERTURE_OBSERVED_DEBOUNCE_SECONDS", "5")),
            artifacts=StoreSettings.from_env(env),
            calls=AddressGuard(
                allowed=parse_networks(env.get("OVERTURE_CALLS_ALLOWED_NETWORKS", "")),
                allow_private=is_true(env.get("OVERTURE_CALLS_ALLOW_PRIVATE", "false")),
            ),
            tenant_threads=int(env.get("OVERTURE_TENANT_THREADS", str(THREADS))),
            template_cpu_seconds=float(env.get("OVERTURE_TEMPLATE_CPU_SECONDS", str(DEFAULT_SECONDS))),
        )


@dataclass(frozen=True)
class OperatorSettings:
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    triggers: TriggerSettings = field(default_factory=TriggerSettings)
    allow_seconds_cron: bool = False  # 6-field crons in flows (fast schedule tests)
    namespaces: tuple[str | None, ...] = (None,)  # (None,): every namespace
    kubeconfig: str | None = None  # None: ~/.kube/config, or the in-cluster config
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    leader_election: bool = True
    lease_namespace: str = "default"
    identity: str | None = None  # this replica's name in the Lease; None: kube.lease.default_identity
    shards: int = 1  # > 1: active-active, executions split over the replicas by shard (controller/shards.py)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OperatorSettings:
        listed = tuple(n for n in env.get("OVERTURE_NAMESPACES", "").split(",") if n)
        return cls(
            controller=ControllerSettings.from_env(env),
            triggers=TriggerSettings(
                allow_cross_namespace_flow_triggers=is_true(env.get(CROSS_NAMESPACE, "")),
                resource_rate=int(env.get("OVERTURE_RESOURCE_TRIGGER_RATE", "60")),
                chain_limit=int(env.get("OVERTURE_TRIGGER_CHAIN_LIMIT", str(DEFAULT_LIMIT))),
                trusted_proxies=parse_networks(env.get(TRUSTED_PROXIES, ""), TRUSTED_PROXIES),
            ),
            allow_seconds_cron=is_true(env.get("OVERTURE_ALLOW_SECONDS_CRON", "")),
            namespaces=listed or (None,),
            kubeconfig=env.get("KUBECONFIG") or None,
            http_host=env.get("OVERTURE_HTTP_HOST", "0.0.0.0"),
            http_port=int(env.get("OVERTURE_HTTP_PORT", "8080")),
            leader_election=env.get("OVERTURE_LEADER_ELECTION", "true").lower() != "false",
            lease_namespace=env.get("OVERTURE_LEASE_NAMESPACE") or env.get("POD_NAMESPACE") or "default",
            identity=env.get("OVERTURE_IDENTITY") or env.get("POD_NAME") or None,
            shards=_shard_count(env.get("OVERTURE_SHARDS", "1")),
        )


def task_runtime(text: str) -> str:
    """``OVERTURE_TASK_RUNTIME``: managed-job (the default, also when empty), job or pod."""
    runtime = text.strip().lower() or DEFAULT_TASK_RUNTIME
    if runtime not in TASK_RUNTIMES:
        raise ValueError(
            f"OVERTURE_TASK_RUNTIME={text!r}: set managed-job (the default: a Job per task attempt whose pod "
            "and status the operator makes), job (a Job the built-in Job controller runs) or pod"
        )
    return runtime


def _shard_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= 64:
        raise ValueError(f"OVERTURE_SHARDS={text!r}: set a whole number from 1 (one leader, the default) to 64")
    return count
