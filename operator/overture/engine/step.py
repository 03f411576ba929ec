"""``step``: one reconcile of one execution, as a pure function.

    step(flow, execution, observed, now) -> Decision(status, actions, requeue_after)

Same inputs, same decision. Re-running ``step`` on its own output status and the same
observation creates nothing new: every creation is recorded in the status it returns, under a
deterministic name.

The life of an execution: CREATED -> (QUEUED) -> RUNNING <-> PAUSED -> SUCCESS | WARNING |
FAILED, or KILLING -> KILLED when killed (KILLING while any of its Jobs is still seen running;
KILLED at once if it had not started or was QUEUED), or CANCELLED/FAILED at once when the
flow's concurrency says so. The flow's ``tasks`` run first; once they settle FAILED the ``errors``
tasks run (with ``{{ error.taskId }}`` and ``{{ error.message }}``; both sections read how the
tasks ended as ``{{ execution.state }}``, ``execution.failures``, ``execution.duration``); ``finally`` tasks run last
in every case but a kill. The run ends FAILED if any of the three failed, WARNING if a task
ended WARNING (``allowFailure``), SUCCESS otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from overture.api import (
    CONDITION_SUCCEEDED,
    ConcurrencyBehavior,
    Condition,
    ConditionStatus,
    Execution,
    ExecutionStatus,
    FlowSpec,
    State,
    coerce_inputs,
    format_duration,
    with_condition,
)
from overture.api.times import millis
from overture.engine.clock import after
from overture.engine.context import Frame
from overture.engine.model import Decision, EmitEvent, EventType, Observed
from overture.engine.overrides import copy_replayed_runs, restart_runs
from overture.engine.runs import Gate, Outcome
from overture.engine.scope import run_scope
from overture.engine.work import Work
from overture.templating import TemplateError, render_value

QUEUE_RECHECK_SECONDS = 15.0
KILL_RECHECK_SECONDS = 2.0


def step(flow: FlowSpec | None, execution: Execution, observed: Observed, now: datetime) -> Decision:
    """Decide what to do next for ``execution``.

    ``flow`` is the Flow's current spec; it is used only when the execution starts (it is
    snapshotted into ``status.flowSpec``) and may be None when the Flow is missing or invalid,
    in which case ``observed`` carries no jobs and the execution fails with ``flow_error``.
    """
    status = execution.status or ExecutionStatus()
    generation = execution.metadata.generation
    if status.flow_spec is not None and generation is not None and generation != status.observed_generation:
        status = status.model_copy(update={"observed_generation": generation})  # a spec change, read now
    if execution.spec.restarts > status.restarts:
        status = restart_runs(status, execution.spec.restarts, millis(now))
    if status.state.is_terminal:
        return Decision(status)
    if status.flow_spec is None:
        return _begin(flow, execution, status, observed, now)
    if status.state == State.QUEUED:
        return _admit(execution, status, observed, now)
    return _advance(execution, status, observed, now)


def start_failure(execution: Execution, now: datetime, message: str) -> Decision:
    """An execution that cannot start (missing or invalid flow, bad inputs) ends FAILED at once."""
    status = (execution.status or ExecutionStatus()).model_copy(update={"start_date": millis(now)})
    return _finish(status, State.FAILED, now, message, [("ExecutionFailed", message)])


def _begin(
    flow: FlowSpec | None, execution: Execution, status: ExecutionStatus, observed: Observed, now: datetime
) -> Decision:
    if flow is None:
        return start_failure(execution, now, f"flow {execution.spec.flow_ref.name!r} cannot run")
    values, problems = coerce_inputs(flow.inputs, dict(execution.spec.inputs))
    status = status.model_copy(
        update={"flow_spec": flow, "inputs": values, "observed_generation": execution.metadata.generation}
    )
    if problems:
        return start_failure(execution.model_copy(update={"status": status}), now, "; ".join(problems))
    if execution.spec.replay is not None:
        if observed.replay_source is None:
            message = f"spec.replay.execution: execution {execution.spec.replay.execution!r} was not found"
            return start_failure(execution.model_copy(update={"status": status}), now, message)
        runs = copy_replayed_runs(flow, observed.replay_source, execution.spec.replay.from_task)
        status = status.model_copy(update={"task_runs": runs})
    return _admit(execution, status, observed, now)


def _admit(execution: Execution, status: ExecutionStatus, observed: Observed, now: datetime) -> Decision:
    flow = status.flow_spec
    assert flow is not None
    if execution.spec.kill:  # killed before it started, or while queued: nothing runs to delete
        return _finish(status, State.KILLED, now, "killed", [])
    limit = flow.concurrency.limit if flow.concurrency else 0
    if limit and observed.active_others + observed.queued_ahead >= limit:
        assert flow.concurrency is not None
        busy = f"{observed.active_others} execution(s) of this flow running, limit {limit}"
        if flow.concurrency.behavior == ConcurrencyBehavior.CANCEL:
            return _finish(status, State.CANCELLED, now, f"cancelled: {busy}", [("Cancelled", busy)])
        if flow.concurrency.behavior == ConcurrencyBehavior.FAIL:
            return _finish(status, State.FAILED, now, f"failed: {busy}", [("ConcurrencyLimit", busy)])
        if status.state == State.QUEUED:
            return Decision(status, requeue_after=QUEUE_RECHECK_SECONDS)
        queued = status.model_copy(update={"state": State.QUEUED, "message": f"queued: {busy}"})
        queued = _with_succeeded(queued, ConditionStatus.UNKNOWN, "Queued", busy, now)
        return Decision(queued, (_event("Queued", f"Queued: {busy}"),), QUEUE_RECHECK_SECONDS)
    started = status.model_copy(update={"state": State.RUNNING, "start_date": millis(now), "message": None})
    decision = _advance(execution, started, observed, now)
    return Decision(
        decision.status, (_event("Started", "Started the execution"), *decision.actions), decision.requeue_after
    )


def _advance(execution: Execution, status: ExecutionStatus, observed: Observed, now: datetime) -> Decision:
    flow = status.flow_spec
    assert flow is not None
    spec = execution.spec
    work = Work(
        execution=execution.metadata.name,
        namespace=execution.metadata.namespace or "",
        flow_name=spec.flow_ref.name,
        flow=flow,
        spec=spec,
        inputs=status.inputs or {},
        start_date=status.start_date,
        observed=observed,
        now=now,
        runs={r.id: r for r in status.task_runs},
    )
    deadline = _deadline(flow, status)
    if spec.kill or status.state == State.KILLING or (deadline is not None and now >= deadline):
        return _kill(work, status, timed_out=not spec.kill and status.state != State.KILLING)
    if deadline is not None:
        work.wake(deadline)
    outcome = _run_sections(work, flow, spec.suspend)
    runs = tuple(work.runs.values())
    status = status.model_copy(update={"task_runs": runs})
    requeue = _requeue_after(work)
    if outcome == Outcome.RUNNING:
        paused = spec.suspend or any(r.state == State.PAUSED for r in runs)
        state = State.PAUSED if paused else State.RUNNING
        if state != status.state:
            work.event("Paused" if paused else "Running", "Paused the execution" if paused else "Resumed the execution")
        status = status.model_copy(update={"state": state})
        status = _with_succeeded(status, ConditionStatus.UNKNOWN, state.value.capitalize(), "", now)
        return Decision(status, tuple(work.actions), requeue)
    failure = work.first_failure()
    message = f"task {failure.id} failed: {failure.message}" if failure else None
    final = State(outcome.value)
    if final in (State.SUCCESS, State.WARNING) and flow.outputs:
        outputs, problem = _flow_outputs(work, flow)
        if problem is not None:
            final, message = State.FAILED, problem
        status = status.model_copy(update={"outputs": outputs})
    decision = _finish(status, final, now, message, [])
    return Decision(decision.status, (*work.actions, *decision.actions), None)


def _flow_outputs(work: Work, flow: FlowSpec) -> tuple[dict[str, Any] | None, str | None]:
    """The flow's rendered ``outputs``, or the first that does not render (which fails the run)."""
    context = work.template_context(Frame(), "")
    outputs: dict[str, Any] = {}
    for index, output in enumerate(flow.outputs):
        try:
            outputs[output.id] = render_value(output.value, context)
        except TemplateError as exc:
            return None, f"spec.outputs[{index}].value: {exc}"
    return outputs, None


def _run_sections(work: Work, flow: FlowSpec, suspended: bool) -> Outcome:
    main = run_scope(work, flow.tasks, Frame(), Gate(suspended), None)
    if main == Outcome.RUNNING:
        return main
    outcomes = [main]
    work.tasks_outcome = main.value
    if main == Outcome.FAILED and flow.errors:
        failure = work.first_failure()
        error = {
            "taskId": failure.task_id if failure else None,
            "taskRunId": failure.id if failure else None,
            "message": failure.message if failure else None,
        }
        errors = run_scope(work, flow.errors, Frame(error=error), Gate(suspended), None)
        if errors == Outcome.RUNNING:
            return errors
        outcomes.append(errors)
    if flow.finally_:
        final = run_scope(work, flow.finally_, Frame(), Gate(suspended), None)
        if final == Outcome.RUNNING:
            return final
        outcomes.append(final)
    if Outcome.FAILED in outcomes:
        return Outcome.FAILED
    return Outcome.WARNING if Outcome.WARNING in outcomes else Outcome.SUCCESS


def _kill(work: Work, status: ExecutionStatus, timed_out: bool) -> Decision:
    """Delete running Jobs, kill children; KILLING until no Job of this execution still runs."""
    still_running = False
    first = status.state != State.KILLING
    for run in list(work.runs.values()):
        if work.stop(run, "execution killed"):
            still_running = True
    status = status.model_copy(update={"task_runs": tuple(work.runs.values())})
    flow = status.flow_spec
    reason = f"timed out after {flow.timeout}" if timed_out and flow and flow.timeout else "killed"
    if first:
        work.event("Killing", f"Killing the execution: {reason}", warning=True)
    if still_running and not timed_out:
        status = status.model_copy(update={"state": State.KILLING, "message": reason})
        return Decision(status, tuple(work.actions), KILL_RECHECK_SECONDS)
    final = State.FAILED if timed_out else State.KILLED
    decision = _finish(status, final, work.now, reason, [])
    return Decision(decision.status, (*work.actions, *decision.actions))


def _finish(
    status: ExecutionStatus, state: State, now: datetime, message: str | None, events: list[tuple[str, str]]
) -> Decision:
    start = status.start_date or now
    duration = format_duration(now - start)
    changes = {"state": state, "end_date": millis(now), "duration": duration, "message": message}
    status = status.model_copy(update=changes)
    ok = state in (State.SUCCESS, State.WARNING)
    reason = {"SUCCESS": "Succeeded", "WARNING": "SucceededWithWarnings"}.get(state.value, state.value.capitalize())
    status = _with_succeeded(status, ConditionStatus.TRUE if ok else ConditionStatus.FALSE, reason, message or "", now)
    actions = [_event(r, m, warning=True) for r, m in events]
    text = f"Execution ended {state.value} after {duration}" + (f": {message}" if message else "")
    actions.append(_event("Ended" if ok else "EndedBadly", text, warning=not ok))
    return Decision(status, tuple(actions))


def _with_succeeded(
    status: ExecutionStatus, value: ConditionStatus, reason: str, message: str, now: datetime
) -> ExecutionStatus:
    condition = Condition(
        type=CONDITION_SUCCEEDED,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=millis(now),
        observed_generation=status.observed_generation,
    )
    return status.model_copy(update={"conditions": with_condition(status.conditions, condition)})


def _deadline(flow: FlowSpec, status: ExecutionStatus) -> datetime | None:
    start = status.start_date
    if flow.timeout is None or start is None:
        return None
    return after(start, flow.timeout)


def _requeue_after(work: Work) -> float | None:
    if not work.wake_at:
        return None
    soonest = min(work.wake_at)
    return max(0.0, (soonest - work.now).total_seconds())


def _event(reason: str, message: str, warning: bool = False) -> EmitEvent:
    return EmitEvent(EventType.WARNING if warning else EventType.NORMAL, reason, message)
