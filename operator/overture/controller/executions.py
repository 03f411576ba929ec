"""The Execution reconcile: from the cache to ``engine.step`` and back to the API.

``ExecutionReconciler.reconcile(key)`` reads everything from the ``Store``, calls ``step`` and
applies the ``Decision`` in a fixed order:

1. creations and deletions (Jobs, child executions): idempotent, deterministic names; a run of
   Job creations ``JOB_CREATES_AT_ONCE`` at a time; calls (http, sql, notify attempts) handed to ``calls.CallRunner``,
   which makes them in the background;
2. one status write (a merge patch of what changed, at the resourceVersion we read: a stale
   copy gets 409 and is reconciled again from the fresh one, so two operators can never both
   advance a run), unless the change is routine and may be held (``held.py``);
3. Events, in the background (``events.py``).

An execution that starts snapshots its Flow's spec with every template task expanded into the
container task it stands for (``template_tasks.expand_flow``, against the templates in the cache),
and records which template object each one ran in ``status.templates``.

It returns its wish (``queue.Result``): when to be called again, and which other executions to
wake (queued siblings and a parent, when it ended); it never calls the queue.

A crash between 1 and 2 is safe: the next reconcile decides the same creations under the same
names and gets AlreadyExists. Losing a held status is the same crash between 1 and 2.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from overture.api import (
    GROUP_VERSION,
    Execution,
    ExecutionSpec,
    ExecutionStatus,
    FlowSpec,
    ObjectRef,
    ParentRef,
    ResolvedTemplate,
    SpecError,
    State,
    TriggerInfo,
    TriggerKind,
    new_execution,
    parse_execution,
)
from overture.api.times import iso, millis
from overture.controller.calls import CallRunner
from overture.controller.events import EventPoster, is_routine
from overture.controller.held import HeldStatuses
from overture.controller.housekeeping import Housekeeping
from overture.controller.job_statuses import JobStatuses, recorded_attempts
from overture.controller.observe import observe, readable_jobs
from overture.controller.own_writes import OwnWrites
from overture.controller.queue import Result
from overture.controller.settings import ControllerSettings
from overture.controller.stored import StoredOutputs
from overture.controller.unstarted import RETRY_SECONDS, CreationFailures, RefusedPods
from overture.engine import (
    CreateExecution,
    CreateJob,
    Decision,
    DeleteJob,
    EmitEvent,
    JobPhase,
    KillExecution,
    StartCall,
    start_failure,
    step,
)
from overture.isolation import TenantWork
from overture.kube import merge_patch
from overture.kube.artifacts import ArtifactError, ArtifactStore
from overture.kube.client import Kube
from overture.kube.errors import ApiError, RejectedError
from overture.kube.flow_cache import FlowCache
from overture.kube.jobs import ExecLimitError, build_job
from overture.kube.managed_jobs import MANAGED_BY, is_managed, job_pod
from overture.kube.namespaces import NamespacePolicies
from overture.kube.pods import MANAGED_JOB, POD, build_pod
from overture.kube.policy import PolicyError, TaskPolicy
from overture.kube.store import Body, Key, Store
from overture.template_tasks import expand_flow
from overture.triggers.chain import chain_in, followed_by, with_chain

log = logging.getLogger("overture.controller")

MISSING_FLOW_GRACE_SECONDS = 30.0
MISSING_FLOW_RECHECK_SECONDS = 5.0
MIN_REQUEUE_SECONDS = 0.05
STORE_RETRY_SECONDS = 5.0
INVALID_REQUEST = frozenset({400, 413, 422})  # the object itself is wrong: sending it again cannot help
# A decision's Job creations in flight at once (_act). 1: measured, 16 moved a fan-out's wait
# from the operator to the Job controller and was no faster (benchmarks/README.md, fan-out trace).
JOB_CREATES_AT_ONCE = 1


class ExecutionReconciler:
    def __init__(
        self,
        kube: Kube,
        store: Store,
        settings: ControllerSettings,
        clock: Callable[[], datetime] | None = None,
        events: EventPoster | None = None,
        housekeeping: Housekeeping | None = None,
        flows: FlowCache | None = None,
        work: TenantWork | None = None,
        artifacts: ArtifactStore | None = None,
        calls: CallRunner | None = None,
    ) -> None:
        self.kube = kube
        self.store = store
        self.settings = settings
        self.flows = flows or FlowCache(store)  # the operator's, shared with triggers
        self.clock = clock or (lambda: datetime.now(UTC))
        self.events = events or EventPoster(kube)
        self.housekeeping = housekeeping or Housekeeping(kube, store, self.clock)
        self.held = HeldStatuses(settings.status_debounce, settings.observed_debounce)
        self.work = work or TenantWork(settings.tenant_threads, settings.template_cpu_seconds)
        self.on_finished: list[Callable[[Body], Awaitable[Any]]] = []
        # Jobs the API server refused as invalid (400/413/422), by execution: seen as failed attempts,
        # so the task fails (or retries) with the reason instead of the run hanging. Lost on a restart:
        # the engine then asks for the Job again (after 15 s unseen) and gets the same answer.
        self.rejected_jobs: dict[Key, dict[str, str]] = {}
        self.artifacts = artifacts or (ArtifactStore(settings.artifacts) if settings.artifacts else None)
        self.stored = StoredOutputs(self.artifacts) if self.artifacts else None
        self.calls = calls or CallRunner(kube, settings.calls, self.artifacts)
        self.policies = NamespacePolicies(kube)
        self.unstarted = CreationFailures(kube, store)
        self.refused_pods = RefusedPods()  # the pod runtime's pods refused (403), waiting as FailedCreate
        self.own_writes = OwnWrites()  # the watch handler sets aside the echoes of writes in flight
        self.job_statuses = JobStatuses(kube, store)  # the managed-job runtime's Jobs' ended status
        self._unmanaged_logged = False

    async def reconcile(self, key: Key) -> Result:
        body = self.store.executions.get(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.rejected_jobs.pop(key, None)
            self.refused_pods.forget(key)
            self.calls.forget(key)
            if body is None and self.stored is not None:  # gone: its files, outputs and logs go too
                self.stored.forget(*key)
                self.housekeeping.execution_deleted(*key)
            return Result()
        now = self.clock()
        try:
            execution = parse_execution(dict(body))
        except SpecError as exc:
            await self._reject(body, now, "; ".join(exc.problems))
            return Result()
        status = execution.status
        if status is not None and status.state.is_terminal and execution.spec.restarts <= status.restarts:
            self.held.forget(key)
            return Result()
        execution = self.held.resume(key, execution)
        flow: FlowSpec | None = None
        resolved: tuple[ResolvedTemplate, ...] = ()
        if status is None or status.flow_spec is None:
            flow_or_problem = self._flow_for(execution, now)
            if isinstance(flow_or_problem, float):
                return Result(requeue_after=flow_or_problem)
            if isinstance(flow_or_problem, str):
                return await self._apply(body, execution, start_failure(execution, now, flow_or_problem))
            flow, resolved = flow_or_problem
        if self.refused_pods.waiting(key):
            await self.refused_pods.retry(key, self._create_task_object, self._refused)
        readable = readable_jobs(execution)  # the Jobs observed: each task run's last attempt, unended
        observed = observe(self.store, execution, self.rejected_jobs.get(key, {}), flow, readable)
        observed = self.refused_pods.observed(key, observed)
        observed = replace(observed, calls=self.calls.answers(key))
        observed = await self.unstarted.observed(key[0], observed, now)
        if self.stored is not None:
            stored = await self.stored.read(key[0], key[1], execution.status, observed)
            if stored is None:
                return Result(requeue_after=STORE_RETRY_SECONDS)  # outputs a template may need: not now
            observed = replace(observed, stored_outputs=stored)
        decision = await self.work.run(key[0], step, flow, execution, observed, now)  # templates: tenant code
        if resolved and decision.status.flow_spec is flow:  # snapshotted: say which templates it holds
            decision = replace(decision, status=decision.status.model_copy(update={"templates": resolved}))
        result = await self._apply(body, execution, decision)
        ended = [job for job, seen in observed.jobs.items() if seen.phase in (JobPhase.SUCCEEDED, JobPhase.FAILED)]
        deleted = {action.name for action in decision.actions if isinstance(action, DeleteJob)}
        podless = self.job_statuses.podless(key[0], readable - observed.jobs.keys() - deleted)
        recorded = recorded_attempts(decision.status.task_runs, podless)  # their pods went: the engine's word
        # after the Execution's status: off its critical path
        self.job_statuses.after_reconcile(key[0], ended, recorded)
        return result.sooner(RETRY_SECONDS) if self.refused_pods.waiting(key) else result

    def _flow_for(
        self, execution: Execution, now: datetime
    ) -> tuple[FlowSpec, tuple[ResolvedTemplate, ...]] | str | float:
        """The Flow to start with, its template tasks expanded (and what they were resolved to); a
        message if it cannot run; seconds to wait if it may yet appear."""
        namespace = execution.metadata.namespace or ""
        name = execution.spec.flow_ref.name
        if execution.spec.flow_ref.namespace not in (None, namespace):
            return "spec.flowRef.namespace: an execution runs a flow of its own namespace"
        reading = self.flows.reading((namespace, name))
        if reading is None:
            created = execution.metadata.creation_timestamp or now
            if (now - created).total_seconds() < MISSING_FLOW_GRACE_SECONDS:
                return MISSING_FLOW_RECHECK_SECONDS
            return f"spec.flowRef.name: no Flow {name!r} in namespace {namespace!r}; apply it, then run again"
        if reading.flow is None:
            return f"flow {name!r} is invalid: " + "; ".join(reading.problems)
        try:
            return expand_flow(reading.flow.spec, namespace, self.flows.catalog())
        except SpecError as exc:  # a template deleted, or its versions changed, since the Flow was read
            return f"flow {name!r} cannot run: " + "; ".join(exc.problems)

    async def _apply(self, body: Body, execution: Execution, decision: Decision) -> Result:
        namespace = execution.metadata.namespace or ""
        name = execution.metadata.name
        key = (namespace, name)
        result = Result()
        if await self._act(execution, decision):
            result = result.sooner(0.0)  # a Job was refused: observe it as a failed attempt at once
        before = execution.status
        written = self.held.written(key, before)
        if decision.status == written:
            self.held.forget(key)
        else:
            hold = self.held.hold(key, written, decision)
            if hold is not None:
                result = result.sooner(hold)  # written with the next change, or when its hold is up
            else:
                await self._write_status(body, decision)
                self.held.forget(key)
        for action in decision.actions:
            if isinstance(action, EmitEvent) and (self.settings.task_events or not is_routine(action)):
                self.events.post(body, action.type.value, action.reason, action.message)
        if decision.requeue_after is not None:
            result = result.sooner(max(decision.requeue_after, MIN_REQUEUE_SECONDS))
        was_terminal = before is not None and before.state.is_terminal
        if decision.status.state.is_terminal:
            self.rejected_jobs.pop(key, None)
            self.refused_pods.forget(key)
            self.calls.forget(key)
        if decision.status.state.is_terminal and not was_terminal:
            log.info("Execution ended: execution=%s/%s state=%s", namespace, name, decision.status.state.value)
            result = Result(result.requeue_after, self._ended(execution, decision))
            for callback in self.on_finished:
                await callback(self.store.executions.get(key, body))
        return result

    async def _act(self, execution: Execution, decision: Decision) -> bool:
        """Create and delete what ``decision`` asks for, in its order; whether the API server refused a Job.

        A run of Job creations goes out ``JOB_CREATES_AT_ONCE`` at a time, each attempted even if
        another fails. One by one, a fan-out reconcile that starts 50 iterations waits 50 round
        trips (0.3 s each on a busy API server) before the next slot can be filled; 16 at a time
        cut that wait, but the Job controller then made the pods seconds later and the fan-out
        was no faster on the benchmark machine (benchmarks/README.md, fan-out trace), so 1 it is,
        until a cluster whose Job controller keeps up shows otherwise. Their order does not
        matter: each Job stands alone under a deterministic name, and a failure leaves the status
        unwritten, so the next reconcile asks for the same Jobs again and gets AlreadyExists for
        those that were made (a crash between steps 1 and 2).
        """
        namespace = execution.metadata.namespace or ""
        name = execution.metadata.name
        refused = False
        creations: list[CreateJob] = []
        for action in decision.actions:
            if isinstance(action, CreateJob):
                creations.append(action)
                continue
            if isinstance(action, DeleteJob | CreateExecution | KillExecution):  # after the creations before it
                refused |= await self._create_jobs(execution, decision, creations)
                creations = []
            if isinstance(action, DeleteJob):
                await self._delete_attempt(namespace, name, action)
            elif isinstance(action, CreateExecution):
                await self.kube.create_execution(namespace, child_manifest(execution, action))
            elif isinstance(action, KillExecution):
                await self.kube.patch_execution_spec(namespace, action.name, {"kill": True})
            elif isinstance(action, StartCall):
                self.calls.start((namespace, name), action)
        refused |= await self._create_jobs(execution, decision, creations)
        return refused

    async def _delete_attempt(self, namespace: str, execution: str, action: DeleteJob) -> None:
        """Delete an attempt's Job, or its own pod: as it was made, whatever the runtime is now
        (runs started before the operator's runtime changed end as they started)."""
        self.refused_pods.forget((namespace, execution), action.name)
        if (namespace, action.name) in self.store.jobs or self.settings.task_runtime != POD:
            await self.kube.delete_job(namespace, action.name)
            log.info("Deleted Job: job=%s/%s reason=%s", namespace, action.name, action.reason)
        else:
            await self.kube.delete_pod(namespace, action.name)
            log.info("Deleted pod: pod=%s/%s reason=%s", namespace, action.name, action.reason)

    async def _create_jobs(self, execution: Execution, decision: Decision, creations: list[CreateJob]) -> bool:
        """Create ``creations``, ``JOB_CREATES_AT_ONCE`` at a time; whether the API server refused
        one. Every creation is attempted, and waited for, before the first error (if any) is raised."""
        if not creations:
            return False
        policy = await self.policies.get(execution.metadata.namespace or "")
        at_once = asyncio.Semaphore(JOB_CREATES_AT_ONCE)

        async def create(action: CreateJob) -> bool:
            async with at_once:
                return await self._create_job(execution, decision, action, policy)

        outcomes = await asyncio.gather(*(create(a) for a in creations), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return any(outcomes)

    async def _create_job(
        self, execution: Execution, decision: Decision, action: CreateJob, policy: TaskPolicy
    ) -> bool:
        """Create one attempt's Job (or its pod, in the pod runtime); whether the API server (or the
        namespace's policy) refused it. A pod refused with 403 (a quota) waits (``RefusedPods``)."""
        namespace = execution.metadata.namespace or ""
        name = execution.metadata.name
        flow_spec = decision.status.flow_spec
        pods = self.settings.task_runtime == POD
        managed_by = MANAGED_BY if self.settings.task_runtime == MANAGED_JOB else None
        kind = "pod" if pods else "Job"
        common: dict[str, Any] = {
            "namespace": namespace,
            "flow": execution.spec.flow_ref.name,
            "execution": name,
            "execution_uid": execution.metadata.uid or "",
            "service_account": flow_spec.service_account_name if flow_spec else None,
            "signer": self.artifacts,
            "policy": policy,
        }
        try:
            if pods:
                manifest = build_pod(action, **common)
            else:
                manifest = build_job(action, ttl_seconds=self.settings.job_ttl_seconds, managed_by=managed_by, **common)
        except (ArtifactError, PolicyError, ExecLimitError) as exc:  # a failed attempt, as a Job the API server refused
            self.rejected_jobs.setdefault((namespace, name), {})[action.name] = str(exc)[:1000]
            return True
        try:
            created = await self._create_task_object(manifest)
            if managed_by is not None:
                pod = self._pod_of_managed_job(manifest, created)
                if pod is not None:
                    manifest = pod  # what a refusal below is about
                    await self._create_task_object(pod)
        except ApiError as exc:
            if not self._refused((namespace, name), manifest, exc):
                raise
            return True  # observed at once: its attempt shows why it waits, or why it failed
        if created is not None:
            log.info(
                "Created %s: %s=%s/%s task=%s attempt=%d",
                kind,
                kind.lower(),
                namespace,
                action.name,
                action.task_run,
                action.attempt,
            )
        return False

    def _pod_of_managed_job(self, manifest: dict[str, Any], created: dict[str, Any] | None) -> dict[str, Any] | None:
        """The pod the operator makes for its managed Job (``manifest``; ``created``: the create's
        answer, None if it existed: a restart, or a pod not made yet), or None: the Job is not
        managed by the operator (a cluster without JobManagedBy dropped ``spec.managedBy``, and the
        built-in Job controller runs it), or it is not cached yet (the engine asks again)."""
        meta = manifest["metadata"]
        job = created if created is not None else self.store.jobs.get((meta["namespace"], meta["name"]))
        if job is None:
            return None
        if not is_managed(job):
            if not self._unmanaged_logged:
                self._unmanaged_logged = True
                log.warning(
                    "The API server dropped the Job's spec.managedBy (JobManagedBy is off): the built-in Job "
                    "controller runs the managed-job runtime's Jobs; job=%s/%s",
                    meta["namespace"],
                    meta["name"],
                )
            return None
        return job_pod(manifest, job["metadata"]["uid"])

    def _refused(self, key: Key, manifest: dict[str, Any], error: ApiError) -> bool:
        """Whether ``error`` (creating ``manifest``, an attempt's Job or pod) is the API server
        refusing it, which is then kept for the attempt's observation: a pod refused with 403 (a
        quota) waits (``RefusedPods``); a Job or pod refused as invalid (400/413/422) is a failed
        attempt, at its first create as when a waiting pod is asked for again (a LimitRange added
        meanwhile, say). Other errors (a busy API server) are not: the reconcile is tried again."""
        namespace = key[0]
        job = manifest["metadata"]["name"]
        kind = "pod" if manifest["kind"] == "Pod" else "Job"
        if kind == "pod" and self.refused_pods.refused(key, manifest, error, self.clock()):
            log.warning("The API server refused a pod, which waits: pod=%s/%s error=%s", namespace, job, error)
            return True
        if not isinstance(error, RejectedError) or error.status not in INVALID_REQUEST:
            return False
        log.warning("The API server rejected a %s: %s=%s/%s error=%s", kind, kind.lower(), namespace, job, error)
        self.refused_pods.forget(key, job)  # if it waited on a quota: asked for no more, its attempt failed
        self.rejected_jobs.setdefault(key, {})[job] = f"the API server rejected the {kind}: {error}"[:1000]
        return True

    async def _create_task_object(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Create an attempt's Job or pod (``manifest``'s kind); the answer (None: it existed) is
        cached at once, so a watch that lags does not make the engine ask for it again."""
        namespace = manifest["metadata"]["namespace"]
        if manifest["kind"] == "Pod":
            created = await self.kube.create_pod(namespace, manifest)
        else:
            created = await self.kube.create_job(namespace, manifest)
        if created is not None:
            self.store.put_created(manifest["kind"].lower(), created)
        return created

    async def _write_status(self, body: Body, decision: Decision) -> None:
        """Send what changed since ``body`` (a merge patch at its resourceVersion), or the whole status.

        The resourceVersion makes both forms conditional: a stale copy gets 409 and is
        reconciled again from the fresh one. The patch applied to ``body``'s status gives exactly
        the status decided (``merge_patch.diff`` checks it), so the API server ends with the same
        object a PUT would have left; only fewer bytes travel (the flow's snapshot, unchanged
        after the first write, is the bulk of a status).
        """
        meta = body["metadata"]
        status = decision.status.to_wire()
        patch = merge_patch.diff(body.get("status") or {}, status)
        if patch == {}:
            return  # the API server has this status already
        key = (meta["namespace"], meta["name"])
        written: str | None = None
        self.own_writes.begin(key)
        try:
            if patch is not None:
                stored = await self.kube.patch_status(
                    "executions", meta["namespace"], meta["name"], patch, resource_version=meta["resourceVersion"]
                )
            else:  # a null in the status, which a merge patch would take for "remove": the whole of it
                new_body = {
                    "apiVersion": GROUP_VERSION,
                    "kind": "Execution",
                    "metadata": dict(meta),
                    "spec": dict(body["spec"]),
                    "status": status,
                }
                stored = await self.kube.replace_status("executions", new_body)
            self.store.put("execution", stored)
            written = stored["metadata"].get("resourceVersion")
        finally:
            self.own_writes.end(key, written)

    def _ended(self, execution: Execution, decision: Decision) -> tuple[Key, ...]:
        """Tell housekeeping; the executions that wait on this one: queued siblings and a parent."""
        namespace = execution.metadata.namespace or ""
        flow = execution.spec.flow_ref.name
        last_run = {
            "name": execution.metadata.name,
            "state": decision.status.state.value,
            "startDate": iso(decision.status.start_date) if decision.status.start_date else None,
        }
        self.housekeeping.execution_ended(namespace, flow, last_run)
        wake = [(namespace, other) for other in self.store.queued_executions_of(namespace, flow)]
        if execution.spec.parent is not None:
            wake.append((namespace, execution.spec.parent.execution))
        return tuple(wake)

    async def _reject(self, body: Body, now: datetime, message: str) -> None:
        status = body.get("status") or {}
        if status.get("state") == State.FAILED.value:
            return
        new_body = dict(body)
        new_body["status"] = ExecutionStatus(state=State.FAILED, message=message, end_date=millis(now)).to_wire()
        stored = await self.kube.replace_status("executions", new_body)
        self.store.put("execution", stored)
        await self.kube.emit_event(dict(body), "Warning", "Invalid", message)


def child_manifest(parent: Execution, action: CreateExecution) -> dict[str, Any]:
    """The child execution a subflow task starts."""
    spec = ExecutionSpec(
        flow_ref=ObjectRef(name=action.flow),
        inputs=dict(action.inputs),
        trigger=TriggerInfo(type=TriggerKind.SUBFLOW, id=action.task_run),
        parent=ParentRef(execution=parent.metadata.name, task_run=action.task_run),
    )
    namespace = parent.metadata.namespace or ""
    manifest = new_execution(action.name, namespace, spec).to_manifest()
    # the child's end may fire flow triggers: it carries the parent's chain, so they cannot loop back
    with_chain(manifest, followed_by(chain_in(parent.metadata.annotations), namespace, parent.spec.flow_ref.name))
    # a parent adopts only a child that names it as its controller (controller/observe.py)
    owner = {"apiVersion": GROUP_VERSION, "kind": "Execution", "controller": True}
    owner |= {"name": parent.metadata.name, "uid": parent.metadata.uid or ""}
    manifest["metadata"]["ownerReferences"] = [owner]
    return manifest
