"""The reconcile loop: from watched objects to ``engine.step`` and back to the API.

A key (namespace, name) of an Execution is queued whenever the Execution, one of its Jobs or
pods, or one of its child executions changes, and when a decision asks to be woken later.
Workers take keys one at a time (a key is never reconciled twice at once), read everything from
the ``Store``, call ``step`` and apply the ``Decision`` in a fixed order:

1. creations and deletions (Jobs, child executions): idempotent, deterministic names;
2. one status write (PUT with the resourceVersion we read: a stale copy gets 409 and is
   reconciled again from the fresh one, so two operators can never both advance a run);
3. Events, in the background (after the status write, when there is one).

A crash between 1 and 2 is safe: the next reconcile decides the same creations under the same
names and gets AlreadyExists. The one thing kept in memory that the API server does not have
yet is a *held* routine status change (a task ended and the next started, a pod started),
written with the next change or within ``status_debounce`` (a task transition) or
``observed_debounce`` seconds (a pod observation), see ``_may_hold``; losing it is the same
crash between 1 and 2. Starts, ends, kills, retries and failures are written at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from overture.api import (
    GROUP_VERSION,
    LABEL_FLOW,
    Condition,
    ConditionStatus,
    Execution,
    ExecutionStatus,
    FlowSpec,
    Retention,
    SpecError,
    State,
    find_condition,
    parse_execution,
    parse_flow,
)
from overture.engine import (
    ChildObservation,
    CreateExecution,
    CreateJob,
    Decision,
    DeleteJob,
    EmitEvent,
    EventType,
    JobObservation,
    JobPhase,
    KillExecution,
    Observed,
    start_failure,
    step,
)
from overture.engine.clock import iso, parse_time
from overture.engine.retention import Finished, expired
from overture.kube.client import Kube
from overture.kube.errors import ApiError, ConflictError, RejectedError, TransientError
from overture.kube.jobs import build_job, observe_job
from overture.kube.store import Body, Key, Store
from overture.validation import validate_flow

log = logging.getLogger("overture.reconciler")

ACTIVE = frozenset({State.RUNNING, State.PAUSED, State.RETRYING, State.KILLING})
MISSING_FLOW_GRACE_SECONDS = 30.0
RESYNC_SECONDS = 60.0
EVENT_POSTERS = 4  # Events go out in the background, in order per execution
INVALID_REQUEST = frozenset({400, 413, 422})  # the object itself is wrong: sending it again cannot help
HOUSEKEEPING_SECONDS = 2.0  # retention and the Flows' lastExecution are written at most this often


@dataclass
class Settings:
    workers: int = 64  # a reconcile mostly waits on the API server (benchmarks/README.md: 16 -> 64)
    # Normal Events of progress (Started, TaskStarted, TaskSucceeded): off by default, they were
    # half of all API writes (docs/DECISIONS.md); warnings, retries, failures, Paused and the
    # execution's Ended always go out.
    task_events: bool = False
    status_debounce: float = 2.0  # seconds a task transition may wait to be written (see Reconciler._may_hold)
    observed_debounce: float = 5.0  # seconds a pod's name, start or RUNNING may wait
    job_ttl_seconds: int | None = 86400
    resync_seconds: float = RESYNC_SECONDS


class Reconciler:
    def __init__(
        self, kube: Kube, store: Store, settings: Settings, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.kube = kube
        self.store = store
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.queue: asyncio.Queue[Key] = asyncio.Queue()
        self.queued: set[Key] = set()
        self.busy: set[Key] = set()
        self.again: set[Key] = set()
        self.timers: dict[Key, tuple[float, asyncio.TimerHandle]] = {}
        self.latency: list[float] = []
        self.observers: list[Callable[[float], None]] = []
        self.on_finished: list[Callable[[Body], Any]] = []
        self.gate: asyncio.Event | None = None  # set while this replica leads; None: always act
        self.retention_due: set[Key] = set()  # flows whose finished executions to check
        # Decided but not yet written (see _may_hold): the status it was decided from (what the API
        # server has), the decided one, and when (loop time) it must be written at the latest.
        self.held: dict[Key, tuple[ExecutionStatus | None, ExecutionStatus, float]] = {}
        self.last_runs: dict[Key, dict[str, Any]] = {}  # flow -> its newest finished execution, to write
        self.event_queues: list[asyncio.Queue[tuple[dict[str, Any], str, str, str]]] = [
            asyncio.Queue() for _ in range(EVENT_POSTERS)
        ]
        # Jobs the API server refused as invalid (400/413/422), by execution: seen as failed attempts,
        # so the task fails (or retries) with the reason instead of the run hanging. Lost on a restart:
        # the engine then asks for the Job again (after 15 s unseen) and gets the same answer.
        self.rejected_jobs: dict[Key, dict[str, str]] = {}

    # --- queue --------------------------------------------------------------------------

    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        if delay > 0:
            loop = asyncio.get_running_loop()
            due = loop.time() + delay
            current = self.timers.get(key)
            if current is not None and current[0] <= due:
                return
            if current is not None:
                current[1].cancel()
            self.timers[key] = (due, loop.call_at(due, self._fire, key))
            return
        if key in self.busy:
            self.again.add(key)
        elif key not in self.queued:
            self.queued.add(key)
            self.queue.put_nowait(key)

    def _fire(self, key: Key) -> None:
        self.timers.pop(key, None)
        self.enqueue(key)

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    async def run(self) -> None:
        workers = [asyncio.create_task(self._worker()) for _ in range(self.settings.workers)]
        workers.append(asyncio.create_task(self._resync()))
        workers.append(asyncio.create_task(self._housekeeping()))
        workers += [asyncio.create_task(self._post_events(queue)) for queue in self.event_queues]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if self.gate is not None and not self.gate.is_set():
                await self.gate.wait()
            self.queued.discard(key)
            self.busy.add(key)
            started = time.perf_counter()
            try:
                await self.reconcile_execution(key)
            except ConflictError:
                self.again.add(key)
            except TransientError as exc:
                log.warning("TransientError API error, retrying: execution=%s/%s error=%s", *key, exc)
                self.enqueue(key, delay=2.0)
            except Exception:
                log.exception("Reconcile failed: execution=%s/%s", *key)
                self.enqueue(key, delay=10.0)
            finally:
                elapsed = time.perf_counter() - started
                for observe in self.observers:
                    observe(elapsed)
                self.busy.discard(key)
                if key in self.again:
                    self.again.discard(key)
                    self.enqueue(key)

    async def _housekeeping(self) -> None:
        """Batched writes off the reconcile path: retention and the Flows' LAST RUN.

        After a burst of finished executions, each flow is checked and written once per pass
        instead of once per execution (a full scan of the flow's executions, and a Flow patch
        that wakes every Flow watcher).
        """
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            if self.gate is not None and not self.gate.is_set():
                continue
            await self._retention()
            await self._write_last_runs()

    async def _post_events(self, queue: asyncio.Queue[tuple[dict[str, Any], str, str, str]]) -> None:
        while True:
            involved, type_, reason, message = await queue.get()
            await self.kube.emit_event(involved, type_, reason, message)  # never raises

    def _post_event(self, involved: Body, type_: str, reason: str, message: str) -> None:
        """Queue an Event; one poster per execution keeps an execution's Events in order."""
        meta = involved["metadata"]
        queue = self.event_queues[hash((meta.get("namespace"), meta["name"])) % len(self.event_queues)]
        queue.put_nowait((dict(involved), type_, reason, message))

    async def _retention(self) -> None:
        while self.retention_due:
            namespace, flow = self.retention_due.pop()
            try:
                await self.enforce_retention(namespace, flow)
            except Exception:  # never let housekeeping stop a worker
                log.exception("Retention failed: flow=%s/%s", namespace, flow)

    async def _resync(self) -> None:
        """A safety net: every unfinished execution is looked at again now and then."""
        while True:
            await asyncio.sleep(self.settings.resync_seconds)
            self.resync_now()

    def resync_now(self) -> None:
        for key in self.store.executions.unfinished():  # finished ones are packed, and stay finished
            self.enqueue(key)
        for namespace, flow in list(self.store.flows):
            self.retention_due.add((namespace, flow))

    async def enforce_retention(self, namespace: str, flow: str) -> None:
        """Delete the flow's finished executions past its retention (their Jobs go with them)."""
        body = self.store.flows.get((namespace, flow))
        raw = ((body or {}).get("spec") or {}).get("retention")
        try:
            policy = Retention.model_validate(raw) if raw else None
        except ValueError:
            policy = None  # the Flow is marked Invalid; the default policy still applies
        finished = []
        for name, packed in self.store.finished_executions_of(namespace, flow):
            end = parse_time(packed.end)
            if end is not None:
                finished.append(Finished(name, end))
        for name in expired(finished, policy, self.clock()):
            await self.kube.delete_execution(namespace, name)
            log.info("Deleted a finished execution past retention: execution=%s/%s", namespace, name)
            gone = self.store.executions.get((namespace, name))
            if gone is not None:  # not again at the next pass, before the watch says DELETED
                self.store.put("execution", gone, deleted=True)

    # --- executions ---------------------------------------------------------------------

    async def reconcile_execution(self, key: Key) -> None:
        body = self.store.executions.get(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.rejected_jobs.pop(key, None)
            return
        now = self.clock()
        try:
            execution = parse_execution(dict(body))
        except SpecError as exc:
            await self._reject(body, now, "; ".join(exc.problems))
            return
        status = execution.status
        if status is not None and status.state.is_terminal and execution.spec.restarts <= status.restarts:
            self.held.pop(key, None)
            return
        held = self.held.get(key)
        if held is not None and held[0] == status:
            execution = execution.model_copy(update={"status": held[1]})
        elif held is not None:  # the API server has a status we did not decide from: start from it
            self.held.pop(key, None)
        flow: FlowSpec | None = None
        if status is None or status.flow_spec is None:
            flow_or_problem = self._flow_for(execution, now)
            if isinstance(flow_or_problem, float):
                self.enqueue(key, delay=flow_or_problem)
                return
            if isinstance(flow_or_problem, str):
                await self._apply(body, execution, start_failure(execution, now, flow_or_problem))
                return
            flow = flow_or_problem
        decision = step(flow, execution, self._observe(execution), now)
        await self._apply(body, execution, decision)

    def _flow_for(self, execution: Execution, now: datetime) -> FlowSpec | str | float:
        """The Flow to start with; a message if it cannot run; seconds to wait if it may yet appear."""
        namespace = execution.metadata.namespace or ""
        name = execution.spec.flow_ref.name
        if execution.spec.flow_ref.namespace not in (None, namespace):
            return "spec.flowRef.namespace: an execution runs a flow of its own namespace"
        body = self.store.flows.get((namespace, name))
        if body is None:
            created = parse_time(execution.metadata.creation_timestamp) or now
            if (now - created).total_seconds() < MISSING_FLOW_GRACE_SECONDS:
                return 5.0
            return f"spec.flowRef.name: no Flow {name!r} in namespace {namespace!r}; apply it, then run again"
        try:
            flow = parse_flow(dict(body))
            problems = validate_flow(flow)
        except SpecError as exc:
            return f"flow {name!r} is invalid: " + "; ".join(exc.problems)
        except Exception as exc:  # a bug in reading one Flow fails its executions, never the worker
            log.exception("Could not read a flow: flow=%s/%s", namespace, name)
            return f"flow {name!r} could not be read ({type(exc).__name__}: {exc}); this is a bug in Overture"
        if problems:
            return f"flow {name!r} is invalid: " + "; ".join(problems)
        return flow.spec

    def _observe(self, execution: Execution) -> Observed:
        namespace = execution.metadata.namespace or ""
        name = execution.metadata.name
        jobs = {}
        for job in self.store.jobs_of(namespace, name):
            job_name = job["metadata"]["name"]
            jobs[job_name] = observe_job(job, self.store.pod_of(namespace, job_name))
        for job_name, message in self.rejected_jobs.get((namespace, name), {}).items():
            jobs.setdefault(job_name, JobObservation(job_name, JobPhase.FAILED, reason="JobRejected", message=message))
        children = {}
        for child in self.store.children_of(namespace, name):
            children[child["metadata"]["name"]] = _child(child)
        active, ahead = 0, 0
        state = execution.status.state if execution.status else State.CREATED
        if state in (State.CREATED, State.QUEUED):
            mine = (execution.metadata.creation_timestamp or "", name)
            for other in self.store.unfinished_executions_of(namespace, execution.spec.flow_ref.name):
                other_name = other["metadata"]["name"]
                if other_name == name:
                    continue
                other_state = State((other.get("status") or {}).get("state") or "CREATED")
                if other_state in ACTIVE:
                    active += 1
                elif (
                    other_state == State.QUEUED
                    and (other["metadata"].get("creationTimestamp") or "", other_name) < mine
                ):
                    ahead += 1
        replay = None
        if execution.spec.replay is not None:
            source = self.store.executions.get((namespace, execution.spec.replay.execution))
            if source is not None:
                replay = parse_execution(dict(source)).status
        return Observed(jobs=jobs, children=children, active_others=active, queued_ahead=ahead, replay_source=replay)

    async def _apply(self, body: Body, execution: Execution, decision: Decision) -> None:
        namespace = execution.metadata.namespace or ""
        name = execution.metadata.name
        flow_spec = decision.status.flow_spec
        for action in decision.actions:
            if isinstance(action, CreateJob):
                manifest = build_job(
                    action,
                    namespace=namespace,
                    flow=execution.spec.flow_ref.name,
                    execution=name,
                    execution_uid=execution.metadata.uid or "",
                    service_account=flow_spec.service_account_name if flow_spec else None,
                    ttl_seconds=self.settings.job_ttl_seconds,
                )
                try:
                    created = await self.kube.create_job(namespace, manifest)
                except RejectedError as exc:
                    if exc.status not in INVALID_REQUEST:
                        raise
                    log.warning("The API server rejected a Job: job=%s/%s error=%s", namespace, action.name, exc)
                    self.rejected_jobs.setdefault((namespace, name), {})[action.name] = (
                        f"the API server rejected the Job: {exc}"[:1000]
                    )
                    self.enqueue((namespace, name))
                    continue
                if created:
                    log.info(
                        "Created Job: job=%s/%s task=%s attempt=%d",
                        namespace,
                        action.name,
                        action.task_run,
                        action.attempt,
                    )
            elif isinstance(action, DeleteJob):
                await self.kube.delete_job(namespace, action.name)
                log.info("Deleted Job: job=%s/%s reason=%s", namespace, action.name, action.reason)
            elif isinstance(action, CreateExecution):
                await self.kube.create_execution(namespace, child_manifest(execution, action))
            elif isinstance(action, KillExecution):
                await self.kube.patch_execution_spec(namespace, action.name, {"kill": True})
        before = execution.status
        written = self.held[(namespace, name)][0] if (namespace, name) in self.held else before
        if decision.status == written:
            self.held.pop((namespace, name), None)
        elif self._may_hold((namespace, name), written, decision):
            pass  # written with the next change, or when its hold is up (see _may_hold)
        else:
            new_body = {
                "apiVersion": GROUP_VERSION,
                "kind": "Execution",
                "metadata": dict(body["metadata"]),
                "spec": dict(body["spec"]),
                "status": decision.status.to_wire(),
            }
            stored = await self.kube.replace_status("executions", new_body)
            self.store.put("execution", stored)
            self.held.pop((namespace, name), None)
        for action in decision.actions:
            if isinstance(action, EmitEvent) and (self.settings.task_events or not _routine(action)):
                self._post_event(body, action.type.value, action.reason, action.message)
        if decision.requeue_after is not None:
            self.enqueue((namespace, name), delay=max(decision.requeue_after, 0.05))
        was_terminal = before is not None and before.state.is_terminal
        if decision.status.state.is_terminal:
            self.rejected_jobs.pop((namespace, name), None)
        if decision.status.state.is_terminal and not was_terminal:
            log.info("Execution ended: execution=%s/%s state=%s", namespace, name, decision.status.state.value)
            self._after_end(execution)
            self._record_last_run(execution, decision)
            for callback in self.on_finished:
                await callback(self.store.executions.get((namespace, name), body))

    def _may_hold(self, key: Key, written: ExecutionStatus | None, decision: Decision) -> bool:
        """Whether a status change may wait, in memory, for the next one (batched status writes).

        A routine change may: the execution's state stays what the API server shows, and the
        decision only created Jobs and Normal Events (a task ended and the next one started), or
        nothing at all (a pod's name, start time or RUNNING). The next reconcile steps from the
        held status, and it is written with the next change that may not wait, or at the latest
        ``status_debounce`` seconds after a held Job creation, ``observed_debounce`` seconds after
        a held observation. With quick tasks a sequential flow costs about one status write per
        execution; with pods that run for seconds, about one per task (their start is written
        with their end) instead of two or three.

        A start, an end, a kill, a retry or a failure (Warning Events), children and deletions
        are written at once. Losing a held status (a crash, a new leader) loses no work: the
        next reconcile decides the same again from the API server's status and the Jobs, which
        have deterministic names (AlreadyExists is adoption), so no attempt gets a second Job;
        only a TaskStarted Event may be posted twice.
        """
        if self.settings.status_debounce <= 0 or written is None or decision.status.state != written.state:
            return False
        for action in decision.actions:
            if isinstance(action, EmitEvent) and action.type == EventType.NORMAL:
                continue
            if not isinstance(action, CreateJob):
                return False
        now = asyncio.get_running_loop().time()
        wait = self.settings.status_debounce if decision.actions else self.settings.observed_debounce
        deadline = min(self.held[key][2], now + wait) if key in self.held else now + wait
        if now >= deadline:
            return False
        self.held[key] = (written, decision.status, deadline)
        self.enqueue(key, delay=deadline - now)
        return True

    def _record_last_run(self, execution: Execution, decision: Decision) -> None:
        """The Flow's LAST RUN column: its newest finished execution (written by housekeeping)."""
        namespace = execution.metadata.namespace or ""
        flow = execution.spec.flow_ref.name
        if (namespace, flow) not in self.store.flows:
            return
        self.last_runs[(namespace, flow)] = {
            "name": execution.metadata.name,
            "state": decision.status.state.value,
            "startDate": decision.status.start_date,
        }

    async def _write_last_runs(self) -> None:
        while self.last_runs:
            (namespace, flow), last = self.last_runs.popitem()
            try:
                await self.kube.patch_status("flows", namespace, flow, {"lastExecution": last})
            except ApiError as exc:
                log.warning("Could not record the last run: flow=%s/%s error=%s", namespace, flow, exc)

    def _after_end(self, execution: Execution) -> None:
        """Wake what waits on this execution: queued siblings and a parent."""
        namespace = execution.metadata.namespace or ""
        self.retention_due.add((namespace, execution.spec.flow_ref.name))
        for other in self.store.unfinished_executions_of(namespace, execution.spec.flow_ref.name):
            if (other.get("status") or {}).get("state") == State.QUEUED.value:
                self.enqueue((namespace, other["metadata"]["name"]))
        if execution.spec.parent is not None:
            self.enqueue((namespace, execution.spec.parent.execution))

    async def _reject(self, body: Body, now: datetime, message: str) -> None:
        status = body.get("status") or {}
        if status.get("state") == State.FAILED.value:
            return
        new_body = dict(body)
        new_body["status"] = {"state": State.FAILED.value, "message": message, "endDate": iso(now)}
        stored = await self.kube.replace_status("executions", new_body)
        self.store.put("execution", stored)
        await self.kube.emit_event(dict(body), "Warning", "Invalid", message)


# Progress the status shows anyway; posted only with task_events (OVERTURE_TASK_EVENTS=true).
ROUTINE_EVENTS = frozenset({"Started", "TaskStarted", "TaskSucceeded"})


def _routine(action: EmitEvent) -> bool:
    """An execution's start, a task's start or success: all in the status too (docs/DECISIONS.md)."""
    return action.type == EventType.NORMAL and action.reason in ROUTINE_EVENTS


def child_manifest(parent: Execution, action: CreateExecution) -> dict[str, Any]:
    namespace = parent.metadata.namespace or ""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Execution",
        "metadata": {
            "name": action.name,
            "namespace": namespace,
            "labels": {LABEL_FLOW: action.flow},
        },
        "spec": {
            "flowRef": {"name": action.flow},
            "inputs": dict(action.inputs),
            "trigger": {"type": "subflow", "id": action.task_run},
            "parent": {"execution": parent.metadata.name, "taskRun": action.task_run},
        },
    }


def _child(body: Body) -> ChildObservation:
    status = body.get("status") or {}
    outputs = {
        run["taskId"]: run.get("outputs")
        for run in status.get("taskRuns") or []
        if run.get("outputs") is not None and "[" not in run["id"]
    }
    return ChildObservation(
        name=body["metadata"]["name"],
        state=State(status.get("state") or "CREATED"),
        outputs=outputs,
        message=status.get("message"),
    )


# --- flows ------------------------------------------------------------------------------------


def flow_status(body: Body, now: datetime) -> tuple[dict[str, Any], list[str]]:
    """The status a Flow should have (conditions, counts) and its problems; pure."""
    generation = body["metadata"].get("generation")
    problems: list[str]
    try:
        flow = parse_flow(dict(body))
        problems = validate_flow(flow)
        task_count: int | None = len(flow.spec.tasks)
        summary = ",".join(dict.fromkeys(t.type for t in flow.spec.triggers)) or None
    except SpecError as exc:
        problems, task_count, summary = exc.problems, None, None
    except Exception as exc:  # a bug in reading it must still mark the Flow, not fail the handler
        problems = [f"spec: could not be read ({type(exc).__name__}: {exc}); this is a bug in Overture"]
        task_count, summary = None, None
    current = body.get("status") or {}
    previous = find_condition(
        tuple(
            Condition.model_validate(c) for c in current.get("conditions") or [] if isinstance(c, dict) and "type" in c
        ),
        "Ready",
    )
    ready = ConditionStatus.FALSE if problems else ConditionStatus.TRUE
    since = previous.last_transition_time if previous is not None and previous.status == ready else iso(now)
    condition = Condition(
        type="Ready",
        status=ready,
        reason="Invalid" if problems else "Valid",
        message="; ".join(problems)[:4000] if problems else "The flow is valid",
        last_transition_time=since,
        observed_generation=generation,
    )
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": [condition.to_wire()],
        "taskCount": task_count,
        "triggerSummary": summary,
    }
    return status, problems


def flow_status_changed(body: Body, desired: dict[str, Any]) -> bool:
    current = body.get("status") or {}
    return any(current.get(k) != v for k, v in desired.items())


async def reconcile_flow(kube: Kube, body: Body, now: datetime) -> None:
    desired, problems = flow_status(body, now)
    if not flow_status_changed(body, desired):
        return
    namespace, name = body["metadata"].get("namespace") or "", body["metadata"]["name"]
    try:
        await kube.patch_status("flows", namespace, name, desired)
    except ApiError as exc:
        log.warning("Could not update Flow status: flow=%s/%s error=%s", namespace, name, exc)
        return
    if problems:
        log.info("Flow is invalid: flow=%s/%s problems=%d", namespace, name, len(problems))
        await kube.emit_event(dict(body), "Warning", "Invalid", "; ".join(problems))
    else:
        log.info("Flow is ready: flow=%s/%s", namespace, name)
