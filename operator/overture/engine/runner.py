"""Advancing task runs: which task starts now, and what each started run does next.

``run_scope`` walks one list of tasks (the flow's tasks, a branch, an iteration) and returns the
list's outcome: still ``RUNNING``, or settled as ``SUCCESS``, ``WARNING`` or ``FAILED``.

Ordering rules:
- a list runs in order, one task after the other, unless a task in it has ``dependsOn``; then it
  is a DAG and a task starts once every dependency ended in SUCCESS, WARNING or SKIPPED;
- ``parallel`` starts every child at once (at most ``concurrency`` running);
- once a task fails in a section (``Gate.halted``), no new task of that section starts, wherever
  it sits in the list; running ones finish; the section then settles FAILED. Retries of a failed
  attempt are not new tasks. A flowable task with ``allowFailure`` halts only its own children
  and ends WARNING, as a runnable task with ``allowFailure`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from overture.api import (
    AnyTask,
    Attempt,
    EachTask,
    FailTask,
    IfTask,
    ParallelTask,
    PauseTask,
    RunnableAnyTask,
    SequentialTask,
    State,
    StoredOutputs,
    SubflowTask,
    SwitchTask,
    TaskRun,
    coerce_inputs,
)
from overture.engine.attempts import job_request, observe_attempt
from overture.engine.clock import after, iso, parse_time
from overture.engine.context import Frame
from overture.engine.model import CreateExecution, DeleteJob
from overture.engine.naming import child_execution_name, task_run_id
from overture.engine.retry import next_attempt_time
from overture.engine.work import Work
from overture.templating import TemplateError, is_truthy, render, render_value

# A Job created but not seen after this long is created again (same name: AlreadyExists if it was).
UNSEEN_JOB_GRACE = timedelta(seconds=15)


class Outcome(StrEnum):
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"


@dataclass
class Gate:
    """Whether new tasks may start in a section (main, errors, finally)."""

    suspended: bool
    halted: bool = False

    @property
    def open(self) -> bool:
        return not (self.suspended or self.halted)


def run_scope(
    work: Work, tasks: Sequence[AnyTask], frame: Frame, gate: Gate, parent: str | None, limit: int = 1
) -> Outcome:
    """Start what may start in ``tasks`` and advance what runs; ``limit`` 0 means no limit.

    ``limit`` 1 with no ``dependsOn`` is sequential order; a DAG ignores ``limit``.
    """
    dag = any(t.depends_on for t in tasks)
    if dag:
        tasks = topological(tasks)
    if any(task_run_id(t.id, frame.iterations) in work.failed for t in tasks):
        gate.halted = True  # a failure seen in an earlier step: no task of this list starts, whatever its order
    states: dict[str, State | None] = {}
    blocked = False
    active = 0
    for task in tasks:
        run = work.started(task_run_id(task.id, frame.iterations))
        if run is not None and not run.state.is_terminal:
            run = advance(work, task, run, frame, gate)
        if run is None:
            if dag:
                deps = [states.get(d) for d in task.depends_on]
                if any(s is not None and s.is_terminal and not s.is_successful for s in deps):
                    blocked = True  # a dependency failed: this task will never run
                    states[task.id] = None
                    continue
                ready = all(s is not None and s.is_successful for s in deps)
            else:
                earlier = list(states.values())
                if limit == 1:
                    ready = all(s is not None and s.is_successful for s in earlier)
                    if any(s is not None and s.is_terminal and not s.is_successful for s in earlier):
                        blocked = True
                else:
                    ready = limit == 0 or active < limit
            if ready and gate.open:
                run = start(work, task, frame, gate, parent)
        state = run.state if run is not None else None
        states[task.id] = state
        if state is not None and not state.is_terminal:
            active += 1
        if state == State.FAILED:
            gate.halted = True
    return _settle(states, blocked or gate.halted)


def topological(tasks: Sequence[AnyTask]) -> list[AnyTask]:
    """Dependencies first, otherwise list order (the flow was checked to be acyclic)."""
    done: set[str] = set()
    ordered: list[AnyTask] = []
    pending = list(tasks)
    while pending:
        progressed = False
        for task in list(pending):
            if all(d in done or d not in {t.id for t in tasks} for d in task.depends_on):
                ordered.append(task)
                done.add(task.id)
                pending.remove(task)
                progressed = True
        if not progressed:  # a cycle slipped through validation: keep list order, nothing will start
            ordered.extend(pending)
            break
    return ordered


def _settle(states: dict[str, State | None], blocked: bool) -> Outcome:
    """``blocked``: tasks that have not started never will (a dependency or sibling failed)."""
    values = list(states.values())
    if any(s is not None and not s.is_terminal for s in values):
        return Outcome.RUNNING
    if any(s is not None and not s.is_successful for s in values):
        return Outcome.FAILED
    if any(s is None for s in values):
        return Outcome.FAILED if blocked else Outcome.RUNNING
    if any(s == State.WARNING for s in values):
        return Outcome.WARNING
    return Outcome.SUCCESS


def start(work: Work, task: AnyTask, frame: Frame, gate: Gate, parent: str | None) -> TaskRun:
    run_id = task_run_id(task.id, frame.iterations)
    earlier = work.runs.get(run_id)  # a placeholder left by a restart: its attempts stay, numbering goes on
    base: dict[str, Any] = {
        "attempts": earlier.attempts if earlier is not None else (),
        "id": run_id,
        "task_id": task.id,
        "parent": parent,
        "iteration": frame.iterations[-1] if frame.iterations else None,
        "value": frame.values[-1] if frame.values else None,
        "start_date": work.stamp,
    }
    if task.disabled:
        return _end(work, TaskRun(state=State.SKIPPED, message="disabled", end_date=work.stamp, **base))
    context = work.template_context(frame, run_id)
    if task.run_if is not None:
        try:
            if not is_truthy(render(task.run_if, context)):
                return _end(work, TaskRun(state=State.SKIPPED, message="runIf was false", end_date=work.stamp, **base))
        except TemplateError as exc:
            return _fail(work, task, TaskRun(state=State.RUNNING, **base), f"runIf: {exc}")
    run = work.set_run(TaskRun(state=State.RUNNING, **base))
    if isinstance(task, RunnableAnyTask):
        return _start_attempt(work, task, run, frame, len(run.attempts) + 1)
    work.event("TaskStarted", f"Started {task.type} task {run_id}")
    if isinstance(task, FailTask):
        try:
            message = render(task.message, context)
        except TemplateError as exc:
            message = f"message: {exc}"
        return _fail(work, task, run, message)
    if isinstance(task, PauseTask) and task.delay is None:
        work.event("Paused", f"Task {run_id} waits to be resumed (overture resume {work.execution})")
        run = work.update(run, state=State.PAUSED, resumed_at=work.spec.resumes)
        return advance(work, task, run, frame, gate)  # for its timeout: wake at the deadline
    if isinstance(task, SubflowTask):
        run = _start_subflow(work, task, run, context, earlier.child_execution if earlier is not None else None)
        return run if run.state.is_terminal else advance(work, task, run, frame, gate)
    if isinstance(task, EachTask):
        try:
            items = _each_items(task, context)
        except (TemplateError, ValueError) as exc:
            return _fail(work, task, run, f"items: {exc}")
        run = work.update(run, value=items)
    elif isinstance(task, IfTask | SwitchTask):
        try:
            chosen = render(task.condition if isinstance(task, IfTask) else task.value, context)
        except TemplateError as exc:
            return _fail(work, task, run, f"{'condition' if isinstance(task, IfTask) else 'value'}: {exc}")
        branch = ("then" if is_truthy(chosen) else "else") if isinstance(task, IfTask) else chosen
        run = work.update(run, outputs={"value": branch})
    return advance(work, task, run, frame, gate)


def advance(work: Work, task: AnyTask, run: TaskRun, frame: Frame, gate: Gate) -> TaskRun:
    """Move a started, unfinished task run forward from what is observed now.

    ``timeout`` on a pause, subflow or flowable counts from the run's ``start_date``. Past it,
    what is observed still counts first (a child that ended, a resume, a Job that finished), but
    no new task starts inside; a run still unfinished then ends FAILED "timed out after X" (or
    WARNING with ``allowFailure``), every unfinished run inside it is stopped as a kill stops it
    (Jobs deleted, child executions killed, runs KILLED), and a subflow's child is killed.
    ``retry`` does not apply: only runnable tasks have attempts to retry.
    """
    if isinstance(task, RunnableAnyTask):
        return _advance_runnable(work, task, run, frame, gate)
    if isinstance(task, FailTask):
        return run
    late = _is_late(work, task, run)
    if isinstance(task, PauseTask):
        run = _advance_pause(work, task, run)
    elif isinstance(task, SubflowTask):
        run = _advance_subflow(work, task, run)
    else:
        run = _advance_flowable(work, task, run, frame, gate, late)
    return _time_out(work, task, run) if late and not run.state.is_terminal else run


def _advance_flowable(work: Work, task: AnyTask, run: TaskRun, frame: Frame, gate: Gate, late: bool) -> TaskRun:
    # A failure inside a task that allows it halts only that task's children, not its section;
    # past the deadline nothing new starts inside (the run is about to time out).
    inner = Gate(suspended=True) if late else Gate(gate.suspended) if task.allow_failure else gate
    outcome = _advance_children(work, task, run, frame, inner)
    if outcome == Outcome.RUNNING:
        return run
    state, message = State(outcome.value), None
    if state == State.FAILED:
        message = "a task inside failed"
        if task.allow_failure:
            state, message = State.WARNING, f"failed (allowFailure): {message}"
    return _end(work, run.model_copy(update={"state": state, "end_date": work.stamp, "message": message}))


def _is_late(work: Work, task: AnyTask, run: TaskRun) -> bool:
    """Whether ``run`` is past its task's timeout; if not yet, wake at the deadline."""
    start = parse_time(run.start_date)
    if task.timeout is None or start is None:
        return False
    deadline = after(start, task.timeout)
    if work.now >= deadline:
        return True
    work.wake(deadline)
    return False


def _time_out(work: Work, task: AnyTask, run: TaskRun) -> TaskRun:
    """Stop everything inside ``run`` (and its child execution), then fail it."""
    message = f"timed out after {task.timeout}"
    for inner in (*work.descendants(run.id), run):
        work.stop(inner, message)
    return _fail(work, task, work.runs[run.id], message)


def _advance_children(work: Work, task: AnyTask, run: TaskRun, frame: Frame, gate: Gate) -> Outcome:
    if isinstance(task, SequentialTask):
        return run_scope(work, task.tasks, frame, gate, run.id)
    if isinstance(task, ParallelTask):
        return run_scope(work, task.tasks, frame, gate, run.id, limit=task.concurrency)
    if isinstance(task, IfTask):
        branch = task.then if (run.outputs or {}).get("value") == "then" else task.else_
        return run_scope(work, branch, frame, gate, run.id) if branch else Outcome.SUCCESS
    if isinstance(task, SwitchTask):
        chosen = (run.outputs or {}).get("value")
        case = next((c for c in task.cases if c.value == chosen), None)
        tasks = case.tasks if case is not None else task.defaults
        return run_scope(work, tasks, frame, gate, run.id) if tasks else Outcome.SUCCESS
    assert isinstance(task, EachTask)
    return _advance_each(work, task, run, frame, gate)


def _advance_each(work: Work, task: EachTask, run: TaskRun, frame: Frame, gate: Gate) -> Outcome:
    items = run.value if isinstance(run.value, list) else []
    outcomes: list[Outcome] = []
    running = 0
    for index, item in enumerate(items):
        inner = frame.inside(index, item)
        started = any(work.started(task_run_id(t.id, inner.iterations)) for t in task.tasks)
        if not started and (not gate.open or (task.concurrency_limit and running >= task.concurrency_limit)):
            outcomes.append(Outcome.RUNNING)
            continue
        outcome = run_scope(work, task.tasks, inner, gate, run.id)
        outcomes.append(outcome)
        if outcome == Outcome.RUNNING:
            running += 1
    if Outcome.RUNNING in outcomes:
        if gate.halted and running == 0:
            return Outcome.FAILED
        return Outcome.RUNNING
    if Outcome.FAILED in outcomes:
        return Outcome.FAILED
    return Outcome.WARNING if Outcome.WARNING in outcomes else Outcome.SUCCESS


def _each_items(task: EachTask, context: dict[str, Any]) -> list[Any]:
    if not isinstance(task.items, str):
        return list(task.items)
    rendered = render(task.items, context)
    try:
        value = json.loads(rendered)
    except json.JSONDecodeError:
        raise ValueError(f"rendered {rendered[:200]!r}, which is not a JSON array; use the json filter") from None
    if not isinstance(value, list):
        raise ValueError(f"rendered a JSON {type(value).__name__}, not an array")
    return value


# --- runnable tasks ----------------------------------------------------------------------


def _start_attempt(work: Work, task: RunnableAnyTask, run: TaskRun, frame: Frame, number: int) -> TaskRun:
    context = work.template_context(frame, run.id, number)
    try:
        request = job_request(task, work.execution, run.id, number, context)
    except TemplateError as exc:
        return _fail(work, task, run, str(exc))
    work.actions.append(request)
    attempt = Attempt(attempt=number, job=request.name, state=State.CREATED, start_date=work.stamp)
    verb = "Started" if number == 1 else "Retried"
    work.event(f"Task{verb}", f"{verb} task {run.id} (attempt {number}) as Job {request.name}")
    if task.timeout:
        work.wake(after(work.now, task.timeout))
    return work.update(run, state=State.RUNNING, attempts=(*run.attempts, attempt), next_attempt_at=None)


def _advance_runnable(work: Work, task: RunnableAnyTask, run: TaskRun, frame: Frame, gate: Gate) -> TaskRun:
    if run.state == State.RETRYING:
        due = parse_time(run.next_attempt_at)
        if due is not None and due > work.now:
            work.wake(due)
            return run
        if gate.suspended:
            return run
        return _start_attempt(work, task, run, frame, len(run.attempts) + 1)
    if not run.attempts:
        return _start_attempt(work, task, run, frame, 1)
    attempt = run.attempts[-1]
    if attempt.state.is_terminal:
        return run
    job = work.observed.jobs.get(attempt.job)
    created = parse_time(attempt.start_date) or work.now
    if job is None:
        if attempt.pod is not None:
            attempt = attempt.model_copy(
                update={"state": State.FAILED, "end_date": work.stamp, "message": "the Job was deleted"}
            )
            return _attempt_ended(work, task, run, attempt, None)
        if work.now - created >= UNSEEN_JOB_GRACE:
            context = work.template_context(frame, run.id, attempt.attempt)
            work.actions.append(job_request(task, work.execution, run.id, attempt.attempt, context))
        work.wake(created + UNSEEN_JOB_GRACE)
        return run
    updated, outputs = observe_attempt(attempt, job)
    if not updated.state.is_terminal and task.timeout:
        deadline = after(created, task.timeout)
        if work.now >= deadline:
            work.actions.append(DeleteJob(attempt.job, f"timed out after {task.timeout}"))
            updated = updated.model_copy(
                update={"state": State.FAILED, "end_date": work.stamp, "message": f"timed out after {task.timeout}"}
            )
        else:
            work.wake(deadline)
    if updated.state.is_terminal:
        return _attempt_ended(work, task, run, updated, outputs)
    if updated != attempt:
        return work.update(run, attempts=(*run.attempts[:-1], updated))
    return run


def _attempt_ended(
    work: Work,
    task: RunnableAnyTask,
    run: TaskRun,
    attempt: Attempt,
    outputs: dict[str, Any] | StoredOutputs | None,
) -> TaskRun:
    attempts = (*run.attempts[:-1], attempt)
    if attempt.state == State.SUCCESS:
        work.event("TaskSucceeded", f"Task {run.id} succeeded (attempt {attempt.attempt})")
        if isinstance(outputs, StoredOutputs):  # too big for the status: a reference to the store
            return work.update(
                run,
                state=State.SUCCESS,
                attempts=attempts,
                outputs=None,
                outputs_stored=outputs,
                end_date=work.stamp,
                message=None,
            )
        return work.update(
            run, state=State.SUCCESS, attempts=attempts, outputs=outputs or {}, end_date=work.stamp, message=None
        )
    first_start = parse_time(run.attempts[0].start_date) or work.now
    due = next_attempt_time(task.retry, attempt.attempt, first_start, work.now, f"{work.execution}/{run.id}")
    if due is not None:
        work.event(
            "TaskRetrying",
            f"Task {run.id} attempt {attempt.attempt} failed: {attempt.message}; retrying at {due:%H:%M:%S}",
            warning=True,
        )
        work.wake(due)
        return work.update(
            run, state=State.RETRYING, attempts=attempts, next_attempt_at=iso(due), message=attempt.message
        )
    run = work.update(run, attempts=attempts)
    return _fail(work, task, run, attempt.message or "failed")


# --- pause, subflow ----------------------------------------------------------------------


def _advance_pause(work: Work, task: PauseTask, run: TaskRun) -> TaskRun:
    if task.delay is not None:
        due = after(parse_time(run.start_date) or work.now, task.delay)
        if work.now < due:
            work.wake(due)
            return run
        return _end(work, work.update(run, state=State.SUCCESS, end_date=work.stamp))
    if work.spec.resumes <= (run.resumed_at or 0):
        return run
    values, problems = coerce_inputs(task.on_resume, dict(work.spec.resume_inputs), "spec.resumeInputs")
    if problems:
        if run.message != "; ".join(problems):
            work.event("ResumeRejected", f"Task {run.id} stays paused: {'; '.join(problems)}", warning=True)
        return work.update(run, message="; ".join(problems), resumed_at=work.spec.resumes)
    work.event("Resumed", f"Task {run.id} resumed")
    return _end(work, work.update(run, state=State.SUCCESS, outputs=values, end_date=work.stamp, message=None))


def _start_subflow(
    work: Work, task: SubflowTask, run: TaskRun, context: dict[str, Any], earlier_child: str | None
) -> TaskRun:
    try:
        inputs = render_value(task.inputs, context)
    except TemplateError as exc:
        return _fail(work, task, run, f"inputs: {exc}")
    # Started again by a restart: a new child, named after the restart (the old name finds the old child).
    name = child_execution_name(work.execution, run.id, work.spec.restarts if earlier_child else 0)
    work.actions.append(CreateExecution(name=name, flow=task.flow_ref.name, inputs=inputs, task_run=run.id))
    run = work.update(run, child_execution=name)
    if not task.wait:
        return _end(work, work.update(run, state=State.SUCCESS, outputs={"execution": name}, end_date=work.stamp))
    return run


def _advance_subflow(work: Work, task: SubflowTask, run: TaskRun) -> TaskRun:
    child = work.observed.children.get(run.child_execution or "")
    if child is None or not child.state.is_terminal:
        return run
    outputs = {"execution": child.name, "state": child.state.value, "outputs": dict(child.outputs)}
    if child.state.is_successful or not task.transmit_failure:
        state = State.WARNING if child.state == State.WARNING else State.SUCCESS
        return _end(work, work.update(run, state=state, outputs=outputs, end_date=work.stamp))
    run = work.update(run, outputs=outputs)
    return _fail(
        work, task, run, f"subflow execution {child.name} ended {child.state.value}: {child.message or ''}".strip()
    )


# --- endings -----------------------------------------------------------------------------


def _fail(work: Work, task: AnyTask, run: TaskRun, message: str) -> TaskRun:
    """End ``run`` FAILED, or WARNING when its task has ``allowFailure``."""
    if task.allow_failure:
        work.event("TaskFailed", f"Task {run.id} failed (allowed, the run will end WARNING): {message}", warning=True)
        return work.update(run, state=State.WARNING, end_date=work.stamp, message=f"failed (allowFailure): {message}")
    work.event("TaskFailed", f"Task {run.id} failed: {message}", warning=True)
    return work.update(run, state=State.FAILED, end_date=work.stamp, message=message, next_attempt_at=None)


def _end(work: Work, run: TaskRun) -> TaskRun:
    return work.set_run(run)
