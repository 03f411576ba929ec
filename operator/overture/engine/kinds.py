"""How the engine runs each kind of task that holds no nested list: one class per kind.

A kind starts a task run that has just become RUNNING and advances it at every later step.
The default (``TaskKind``) posts TaskStarted, lets the kind ``begin`` (render what it needs),
then advances it; a run past its task's ``timeout`` is stopped and failed (``runs.time_out``).

- ``Runnable`` (shell, python, container): one Job per attempt, retried as ``retry`` says; the
  Job's own deadline is the attempt's ``timeout``;
- ``Call`` (http, sql, notify): one request per attempt made by the operator (``StartCall``,
  asked again at each step until its answer is observed), retried as ``retry`` says;
- ``Pause``: waits for its ``delay``, or for a resume (``spec.resumes``) with valid inputs;
- ``Subflow``: starts a child execution and, with ``wait``, ends as it ends;
- ``Fail``: fails at once with its rendered message;
- ``Unexpanded`` (template): fails at once; the operator turns every template task into a
  container task before a run starts (``overture.template_tasks``), so only a run without a
  cluster's templates (``overture local run``) meets one.

The kinds that run nested lists (parallel, sequential, each, if, switch) are in ``scope.py``,
beside the lists they run; ``scope.KINDS`` maps every task model to its kind.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Generic, TypeVar

from overture.api import (
    AnyTask,
    Attempt,
    CallAnyTask,
    FailTask,
    LogLevel,
    LogTask,
    PauseTask,
    ReturnTask,
    RunnableAnyTask,
    State,
    StoredOutputs,
    SubflowTask,
    TaskRun,
    TemplateTask,
    coerce_inputs,
)
from overture.api.times import millis
from overture.engine.attempts import NO_REASON, job_request, observe_attempt
from overture.engine.calls import call_request, call_timeout, observe_call
from overture.engine.clock import after
from overture.engine.context import Frame
from overture.engine.model import VANISHED, CreateExecution, CreateJob, DeleteJob, StartCall
from overture.engine.naming import child_execution_name
from overture.engine.retry import attempt_context, next_attempt_time, retry_refusal
from overture.engine.runs import Gate, end, fail, is_late, time_out
from overture.engine.work import Work
from overture.templating import TemplateError, render, render_value

T = TypeVar("T", bound=AnyTask)
N = TypeVar("N", LogTask, ReturnTask)

# A Job created but not seen after this long is created again (same name: AlreadyExists if it was).
UNSEEN_JOB_GRACE = timedelta(seconds=15)
# A call's answer not seen this long after its timeout was lost (the operator enforces the timeout).
CALL_ANSWER_GRACE = timedelta(seconds=30)


class TaskKind(Generic[T]):
    def start(
        self,
        work: Work,
        task: T,
        run: TaskRun,
        frame: Frame,
        gate: Gate,
        context: dict[str, Any],
        earlier: TaskRun | None,
    ) -> TaskRun:
        """Start ``run``, just RUNNING; ``context`` is its templates' context, ``earlier`` the run a restart left."""
        work.event("TaskStarted", f"Started {task.type} task {run.id}")
        run = self.begin(work, task, run, context, earlier)
        return run if run.state.is_terminal else self.advance(work, task, run, frame, gate)

    def begin(self, work: Work, task: T, run: TaskRun, context: dict[str, Any], earlier: TaskRun | None) -> TaskRun:
        """What the kind does as it starts (render its condition, its items, start a child)."""
        return run

    def advance(self, work: Work, task: T, run: TaskRun, frame: Frame, gate: Gate) -> TaskRun:
        """Move a started, unfinished run forward from what is observed now.

        ``timeout`` counts from the run's ``start_date``. Past it, what is observed still counts
        first (a child that ended, a resume), but no new task starts inside; a run still unfinished
        then ends FAILED "timed out after X" (or WARNING with ``allowFailure``), and everything
        still running inside it is stopped as a kill stops it.
        """
        late = is_late(work, task, run)
        run = self.progress(work, task, run, frame, gate, late)
        return time_out(work, task, run) if late and not run.state.is_terminal else run

    def progress(self, work: Work, task: T, run: TaskRun, frame: Frame, gate: Gate, late: bool) -> TaskRun:
        raise NotImplementedError


A = TypeVar("A", bound=RunnableAnyTask | CallAnyTask)


class Attempts(TaskKind[A]):
    """What the kinds run in attempts share: starting attempts, retrying when due, and how an
    attempt's end ends the run or retries it. A kind says what starts an attempt (``_request``)
    and how one in progress is followed (``_follow``)."""

    def start(
        self,
        work: Work,
        task: A,
        run: TaskRun,
        frame: Frame,
        gate: Gate,
        context: dict[str, Any],
        earlier: TaskRun | None,
    ) -> TaskRun:
        return self._start_attempt(work, task, run, frame, len(run.attempts) + 1)

    def advance(self, work: Work, task: A, run: TaskRun, frame: Frame, gate: Gate) -> TaskRun:
        if run.state == State.RETRYING:
            due = run.next_attempt_at
            if due is not None and due > work.now:
                work.wake(due)
                return run
            if gate.suspended:
                return run
            return self._start_attempt(work, task, run, frame, len(run.attempts) + 1)
        if not run.attempts:
            return self._start_attempt(work, task, run, frame, 1)
        attempt = run.attempts[-1]
        if attempt.state.is_terminal:
            return run
        return self._follow(work, task, run, attempt, frame)

    def _start_attempt(self, work: Work, task: A, run: TaskRun, frame: Frame, number: int) -> TaskRun:
        context = work.template_context(frame, run.id, number)
        try:
            request, attempt, how = self._request(work, task, run.id, number, context)
        except TemplateError as exc:
            return fail(work, task, run, str(exc))
        work.actions.append(request)
        verb = "Started" if number == 1 else "Retried"
        work.event(f"Task{verb}", f"{verb} task {run.id} (attempt {number}) {how}")
        return work.update(run, state=State.RUNNING, attempts=(*run.attempts, attempt), next_attempt_at=None)

    def _request(
        self, work: Work, task: A, run_id: str, number: int, context: dict[str, Any]
    ) -> tuple[CreateJob | StartCall, Attempt, str]:
        """The action that starts attempt ``number``, its record, and how the Event says it started;
        raises TemplateError naming the field that does not render."""
        raise NotImplementedError

    def _follow(self, work: Work, task: A, run: TaskRun, attempt: Attempt, frame: Frame) -> TaskRun:
        """An attempt that has not ended: what is observed of it now."""
        raise NotImplementedError

    def _attempt_ended(
        self,
        work: Work,
        task: A,
        run: TaskRun,
        attempt: Attempt,
        outputs: dict[str, Any] | StoredOutputs | None,
        frame: Frame,
    ) -> TaskRun:
        attempts = (*run.attempts[:-1], attempt)
        if attempt.state == State.SUCCESS:
            work.event("TaskSucceeded", f"Task {run.id} succeeded (attempt {attempt.attempt})")
            if attempt.attempt > 1 and task.retry is not None and task.retry.warning_on_retry:
                warned = f"succeeded at attempt {attempt.attempt} (retry.warningOnRetry)"
                return self._succeeded(work, run, attempts, outputs, State.WARNING, warned)
            return self._succeeded(work, run, attempts, outputs, State.SUCCESS, None)
        refusal = self._retry_refusal(work, task, run, attempt, frame)
        first_start = run.attempts[0].start_date or work.now
        seed = f"{work.execution}/{run.id}"
        due = None if refusal else next_attempt_time(task.retry, attempt.attempt, first_start, work.now, seed)
        if due is not None:
            work.event(
                "TaskRetrying",
                f"Task {run.id} attempt {attempt.attempt} failed: {attempt.message}; retrying at {due:%H:%M:%S}",
                warning=True,
            )
            work.wake(due)
            return work.update(
                run, state=State.RETRYING, attempts=attempts, next_attempt_at=millis(due), message=attempt.message
            )
        run = work.update(run, attempts=attempts)
        message = attempt.message or NO_REASON
        return fail(work, task, run, f"{message} (not retried: {refusal})" if refusal else message)

    def _retry_refusal(self, work: Work, task: A, run: TaskRun, attempt: Attempt, frame: Frame) -> str | None:
        """Why the retry policy does not retry ``attempt`` (None: it may, if attempts are left)."""
        retry = task.retry
        if retry is None or attempt.attempt >= retry.max_attempts:
            return None
        when = None
        if retry.when is not None:
            context = {**work.template_context(frame, run.id, attempt.attempt), "attempt": attempt_context(attempt)}
            try:
                when = render(retry.when, context)
            except TemplateError as exc:
                return f"retry.when: {exc}"
        return retry_refusal(retry, attempt, when)

    def _succeeded(
        self,
        work: Work,
        run: TaskRun,
        attempts: tuple[Attempt, ...],
        outputs: dict[str, Any] | StoredOutputs | None,
        state: State,
        message: str | None,
    ) -> TaskRun:
        """End ``run`` with its attempt's outputs (or a reference to them in the store, when too big)."""
        stored = outputs if isinstance(outputs, StoredOutputs) else None
        inline = None if stored is not None else (outputs or {})
        return work.update(
            run,
            state=state,
            attempts=attempts,
            outputs=inline,
            outputs_stored=stored,
            end_date=work.stamp,
            message=message,
        )


class Runnable(Attempts[RunnableAnyTask]):
    """One Job per attempt. ``retry`` applies to failed attempts; ``timeout`` to each attempt."""

    def _follow(self, work: Work, task: RunnableAnyTask, run: TaskRun, attempt: Attempt, frame: Frame) -> TaskRun:
        job = work.observed.jobs.get(attempt.job)
        created = attempt.start_date or work.now
        if job is None:
            if attempt.pod is not None:
                attempt = attempt.model_copy(
                    update={
                        "state": State.FAILED,
                        "end_date": work.stamp,
                        "message": VANISHED,
                    }
                )
                return self._attempt_ended(work, task, run, attempt, None, frame)
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
            return self._attempt_ended(work, task, run, updated, outputs, frame)
        if updated != attempt:
            return work.update(run, attempts=(*run.attempts[:-1], updated))
        return run

    def _request(
        self, work: Work, task: RunnableAnyTask, run_id: str, number: int, context: dict[str, Any]
    ) -> tuple[CreateJob, Attempt, str]:
        request = job_request(task, work.execution, run_id, number, context)
        if task.timeout:
            work.wake(after(work.now, task.timeout))
        attempt = Attempt(attempt=number, job=request.name, state=State.CREATED, start_date=work.stamp)
        return request, attempt, f"as Job {request.name}"


class Call(Attempts[CallAnyTask]):
    """One request per attempt, made by the operator: no Job, no pod. ``retry`` applies to failed
    attempts; ``timeout`` (else the kind's default) bounds each attempt, enforced by the operator."""

    def _follow(self, work: Work, task: CallAnyTask, run: TaskRun, attempt: Attempt, frame: Frame) -> TaskRun:
        answer = work.observed.calls.get(attempt.job)
        if answer is not None:
            updated, outputs = observe_call(attempt, answer, work.stamp)
            return self._attempt_ended(work, task, run, updated, outputs, frame)
        seconds = call_timeout(task)
        # The operator bounds the call by the timeout: past it and a grace, the answer was lost.
        deadline = (attempt.start_date or work.now) + timedelta(seconds=seconds) + CALL_ANSWER_GRACE
        if work.now >= deadline:
            message = f"no answer within {seconds:g}s"
            ended = attempt.model_copy(update={"state": State.FAILED, "end_date": work.stamp, "message": message})
            return self._attempt_ended(work, task, run, ended, None, frame)
        # Asked again until answered: the operator makes a call once while it is in flight, and
        # again after a restart lost it. It rendered when the attempt started, and renders the same.
        context = work.template_context(frame, run.id, attempt.attempt)
        try:
            work.actions.append(call_request(task, work.execution, run.id, attempt.attempt, context))
        except TemplateError as exc:
            return fail(work, task, work.update(run, attempts=(*run.attempts[:-1], attempt)), str(exc))
        work.wake(deadline)
        return run

    def _request(
        self, work: Work, task: CallAnyTask, run_id: str, number: int, context: dict[str, Any]
    ) -> tuple[StartCall, Attempt, str]:
        request = call_request(task, work.execution, run_id, number, context)
        work.wake(work.now + timedelta(seconds=call_timeout(task)) + CALL_ANSWER_GRACE)
        attempt = Attempt(attempt=number, job=request.key, state=State.RUNNING, start_date=work.stamp)
        return request, attempt, "as a call by the operator"


class Fail(TaskKind[FailTask]):
    """Fails at once, with its rendered message; ``timeout`` and ``retry`` do not apply."""

    def begin(
        self, work: Work, task: FailTask, run: TaskRun, context: dict[str, Any], earlier: TaskRun | None
    ) -> TaskRun:
        try:
            message = render(task.message, context)
        except TemplateError as exc:
            message = f"message: {exc}"
        return fail(work, task, run, message)

    def advance(self, work: Work, task: FailTask, run: TaskRun, frame: Frame, gate: Gate) -> TaskRun:
        return run


class Unexpanded(TaskKind[TemplateTask]):
    """A template task that was not expanded into a container task: it needs the cluster's templates."""

    def begin(
        self, work: Work, task: TemplateTask, run: TaskRun, context: dict[str, Any], earlier: TaskRun | None
    ) -> TaskRun:
        ref = task.template
        message = (
            f"template tasks run on a cluster, which expands them from its {ref.kind.value}s"
            f" ({ref.name} {ref.version}); run this flow there"
        )
        return fail(work, task, run, message)

    def advance(self, work: Work, task: TemplateTask, run: TaskRun, frame: Frame, gate: Gate) -> TaskRun:
        return run


class Instant(TaskKind[N]):
    """Renders its one field at once, in the operator, and succeeds with the result as its
    outputs: no pod. A field that does not render fails the run, naming it."""

    field = ""

    def begin(self, work: Work, task: N, run: TaskRun, context: dict[str, Any], earlier: TaskRun | None) -> TaskRun:
        try:
            outputs = self.outputs(work, task, run, context)
        except TemplateError as exc:
            return fail(work, task, run, f"{self.field}: {exc}")
        return end(work, work.update(run, state=State.SUCCESS, outputs=outputs, end_date=work.stamp))

    def advance(self, work: Work, task: N, run: TaskRun, frame: Frame, gate: Gate) -> TaskRun:
        return run

    def outputs(self, work: Work, task: N, run: TaskRun, context: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class Log(Instant[LogTask]):
    """``outputs.message`` and an Event (``TaskLog``; a Warning for ``WARN``)."""

    field = "message"

    def outputs(self, work: Work, task: LogTask, run: TaskRun, context: dict[str, Any]) -> dict[str, Any]:
        message = render(task.message, context)
        work.event("TaskLog", f"{run.id}: {message[:1000]}", warning=task.level == LogLevel.WARN)
        return {"message": message}


class Return(Instant[ReturnTask]):
    """``outputs.value``: its ``value`` rendered."""

    field = "value"

    def outputs(self, work: Work, task: ReturnTask, run: TaskRun, context: dict[str, Any]) -> dict[str, Any]:
        return {"value": render_value(task.value, context)}


class Pause(TaskKind[PauseTask]):
    """Waits ``delay``; without one, PAUSED until a resume brings inputs that fit ``onResume``."""

    def begin(
        self, work: Work, task: PauseTask, run: TaskRun, context: dict[str, Any], earlier: TaskRun | None
    ) -> TaskRun:
        if task.delay is not None:
            return run
        work.event("Paused", f"Task {run.id} waits to be resumed (overture resume {work.execution})")
        return work.update(run, state=State.PAUSED, resumed_at=work.spec.resumes)

    def progress(self, work: Work, task: PauseTask, run: TaskRun, frame: Frame, gate: Gate, late: bool) -> TaskRun:
        if task.delay is not None:
            due = after(run.start_date or work.now, task.delay)
            if work.now < due:
                work.wake(due)
                return run
            return end(work, work.update(run, state=State.SUCCESS, end_date=work.stamp))
        if work.spec.resumes <= (run.resumed_at or 0):
            return run
        values, problems = coerce_inputs(task.on_resume, dict(work.spec.resume_inputs), "spec.resumeInputs")
        if problems:
            if run.message != "; ".join(problems):
                work.event("ResumeRejected", f"Task {run.id} stays paused: {'; '.join(problems)}", warning=True)
            return work.update(run, message="; ".join(problems), resumed_at=work.spec.resumes)
        work.event("Resumed", f"Task {run.id} resumed")
        return end(work, work.update(run, state=State.SUCCESS, outputs=values, end_date=work.stamp, message=None))


class Subflow(TaskKind[SubflowTask]):
    """Starts a child execution of ``flowRef``; with ``wait``, ends as it ends, with its outputs."""

    def begin(
        self, work: Work, task: SubflowTask, run: TaskRun, context: dict[str, Any], earlier: TaskRun | None
    ) -> TaskRun:
        try:
            inputs = render_value(task.inputs, context)
        except TemplateError as exc:
            return fail(work, task, run, f"inputs: {exc}")
        # Started again by a restart: a new child, named after the restart (the old name finds the old child).
        restart = work.spec.restarts if earlier is not None and earlier.child_execution else 0
        name = child_execution_name(work.execution, run.id, restart)
        work.actions.append(CreateExecution(name=name, flow=task.flow_ref.name, inputs=inputs, task_run=run.id))
        run = work.update(run, child_execution=name)
        if not task.wait:
            return end(work, work.update(run, state=State.SUCCESS, outputs={"execution": name}, end_date=work.stamp))
        return run

    def progress(self, work: Work, task: SubflowTask, run: TaskRun, frame: Frame, gate: Gate, late: bool) -> TaskRun:
        child = work.observed.children.get(run.child_execution or "")
        if child is None or not child.state.is_terminal:
            return run
        outputs = {"execution": child.name, "state": child.state.value, "outputs": dict(child.outputs)}
        if child.state.is_successful or not task.transmit_failure:
            state = State.WARNING if child.state == State.WARNING else State.SUCCESS
            return end(work, work.update(run, state=state, outputs=outputs, end_date=work.stamp))
        run = work.update(run, outputs=outputs)
        message = f"subflow execution {child.name} ended {child.state.value}: {child.message or ''}".strip()
        return fail(work, task, run, message)
