"""What the cluster shows for one execution, read from the cache as the engine's ``Observed``.

Its Jobs (with their pods; a ``managed-job`` Job seen from its pod) or, in the ``pod`` task
runtime, its attempts' own pods; the Jobs the API server refused (seen as failed attempts), its
child executions (only those it created: one that someone else made under a child's name is a
failure), how busy its flow is (for ``concurrency``) and the execution a replay copies from.
Pure reads of the ``Store``: no API call.
"""

from __future__ import annotations

from collections.abc import Mapping

from overture.api import Execution, FlowSpec, State, parse_execution, published_outputs
from overture.api.times import iso
from overture.engine import ChildObservation, JobObservation, JobPhase, Observed
from overture.kube.jobs import observe_job
from overture.kube.managed_jobs import is_managed, observe_managed_job
from overture.kube.pods import observe_pod
from overture.kube.store import Body, Store, job_of_pod

ACTIVE = frozenset({State.RUNNING, State.PAUSED, State.RETRYING, State.KILLING})  # hold a concurrency slot


def observe(
    store: Store,
    execution: Execution,
    rejected_jobs: Mapping[str, str],
    flow: FlowSpec | None = None,
    readable: set[str] | None = None,
) -> Observed:
    """``rejected_jobs``: the execution's Jobs the API server refused as invalid, with its reason;
    ``flow``: the Flow it would start with (its snapshot, once started, is in its status);
    ``readable``: its ``readable_jobs``, when the caller has them already (a scan of its task runs)."""
    namespace = execution.metadata.namespace or ""
    name = execution.metadata.name
    jobs = {}
    readable = readable_jobs(execution) if readable is None else readable
    for job in store.jobs_of(namespace, name):
        job_name = job["metadata"]["name"]
        if job_name in readable:
            seen = observe_task_job(job, store.pod_of(namespace, job_name))
            if seen is not None:
                jobs[job_name] = seen
    for job_name in readable - jobs.keys():  # the pod task runtime: the attempt's own pod, no Job
        pod = store.pods.get((namespace, job_name))
        if pod is not None and job_of_pod(pod) == job_name:
            jobs[job_name] = observe_pod(pod)
    for job_name, message in rejected_jobs.items():
        jobs.setdefault(job_name, JobObservation(job_name, JobPhase.FAILED, reason="JobRejected", message=message))
    children = {}
    for child in store.children_of(namespace, name):
        if is_owned_by(child, execution):
            children[child["metadata"]["name"]] = _child(child)
    for run in execution.status.task_runs if execution.status else ():
        found = store.executions.get((namespace, run.child_execution)) if run.child_execution else None
        if found is not None and not is_owned_by(found, execution):
            children[found["metadata"]["name"]] = _not_adopted(found, execution)
    active, ahead = 0, 0
    state = execution.status.state if execution.status else State.CREATED
    if state in (State.CREATED, State.QUEUED) and _has_limit(execution, flow):  # else nothing reads the counts
        created = execution.metadata.creation_timestamp
        mine = (iso(created) if created else "", name)  # RFC 3339 in UTC sorts as time does
        for other in store.unfinished_executions_of(namespace, execution.spec.flow_ref.name):
            other_name = other["metadata"]["name"]
            if other_name == name:
                continue
            other_state = State((other.get("status") or {}).get("state") or "CREATED")
            if other_state in ACTIVE:
                active += 1
            elif other_state == State.QUEUED and (other["metadata"].get("creationTimestamp") or "", other_name) < mine:
                ahead += 1
    replay = None
    if execution.spec.replay is not None:
        source = store.executions.get((namespace, execution.spec.replay.execution))
        if source is not None:
            replay = parse_execution(dict(source)).status
    return Observed(jobs=jobs, children=children, active_others=active, queued_ahead=ahead, replay_source=replay)


def job_observation(store: Store, namespace: str, job: str) -> JobObservation | None:
    """What ``observe`` reads of one Job and its pod (None if the Job is not cached).

    The watch handlers compare it before and after a Job's or pod's event: an event that leaves
    it the same changes no decision, and queues no reconcile, unless the Job has waited for its pod
    long enough for its reconciles to read the Job controller's Events (``unstarted.is_waiting_long``).
    """
    body = store.jobs.get((namespace, job))
    if body is None:
        pod = store.pods.get((namespace, job))
        return observe_pod(pod) if pod is not None and job_of_pod(pod) == job else None
    return observe_task_job(body, store.pod_of(namespace, job))


def observe_task_job(job: Body, pod: Body | None) -> JobObservation | None:
    """An attempt's Job with its pod: the built-in Job controller's, or (``spec.managedBy``, the
    ``managed-job`` runtime) the operator's own, seen from its pod alone."""
    return observe_managed_job(job, pod) if is_managed(job) else observe_job(job, pod)


def _has_limit(execution: Execution, flow: FlowSpec | None) -> bool:
    """Whether the flow it starts with limits how many of its executions run at once.

    Counting running siblings reads every unfinished execution of the flow: 1,000 executions
    created at once cost a million reads (benchmarks/README.md, throughput), for counts that only
    a concurrency limit looks at.
    """
    spec = execution.status.flow_spec if execution.status and execution.status.flow_spec else flow
    return spec is not None and spec.concurrency is not None and bool(spec.concurrency.limit)


def readable_jobs(execution: Execution) -> set[str]:
    """The Jobs ``step`` reads: each task run's last attempt that has not ended, or was killed (its
    Job may still run, and is deleted again). The Job of an attempt that ended is never read again;
    observing it would cost every reconcile of a 10,000-run execution its 10,000 Jobs and pods."""
    runs = execution.status.task_runs if execution.status else ()
    return {
        run.attempts[-1].job
        for run in runs
        if run.attempts and (not run.attempts[-1].state.is_terminal or run.attempts[-1].state == State.KILLED)
    }


def is_owned_by(child: Body, parent: Execution) -> bool:
    """Whether ``parent`` created ``child``: its controller owner reference names the parent's uid.
    Anyone who may create Executions can pre-create one under the name a subflow will use (the
    shape of Tekton's CVE-2023-37264); a parent never adopts it."""
    return any(
        ref.get("controller") and ref.get("kind") == "Execution" and ref.get("uid") == parent.metadata.uid
        for ref in child["metadata"].get("ownerReferences") or []
    )


def _not_adopted(child: Body, parent: Execution) -> ChildObservation:
    name = child["metadata"]["name"]
    message = (
        f"Execution {name} exists but was not created by execution {parent.metadata.name} (no owner reference "
        "to it), so it is not adopted; delete it and restart this execution"
    )
    return ChildObservation(name=name, state=State.FAILED, message=message)


def _child(body: Body) -> ChildObservation:
    status = body.get("status") or {}
    outputs = published_outputs(status)
    return ChildObservation(
        name=body["metadata"]["name"],
        state=State(status.get("state") or "CREATED"),
        outputs=outputs,
        message=status.get("message"),
    )
