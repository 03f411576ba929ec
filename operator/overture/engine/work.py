"""The scratch state of one ``step``: task runs by id, the actions wanted, the next wake-up.

A ``Work`` lives for one call of ``step`` and is thrown away; what survives is the frozen
``ExecutionStatus`` it produces. Task runs are replaced, never mutated (``set_run``), and their
insertion order is the order they were first created, which is the order status shows them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from overture.api import AnyTask, ExecutionSpec, FlowSpec, State, TaskRun, format_duration
from overture.api.times import iso, millis
from overture.engine.context import Frame, OutputsView, trigger_context
from overture.engine.model import Action, DeleteJob, EmitEvent, EventType, JobPhase, KillExecution, Observed
from overture.validation import all_tasks


@dataclass
class Work:
    execution: str
    namespace: str
    flow_name: str
    flow: FlowSpec
    spec: ExecutionSpec
    inputs: Mapping[str, Any]
    start_date: datetime | None
    observed: Observed
    now: datetime
    runs: dict[str, TaskRun]
    actions: list[Action] = field(default_factory=list)
    wake_at: list[datetime] = field(default_factory=list)
    index: dict[str, list[str]] = field(default_factory=dict)
    # Runs directly inside an iteration of an each: (the each's run id, iteration) -> run ids.
    in_iteration: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    tasks: dict[str, AnyTask] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # runs a failure seen at the start of the step reached
    tasks_outcome: str = "RUNNING"  # how the flow's tasks ended, once they did: errors and finally read it

    def __post_init__(self) -> None:
        for run in self.runs.values():
            self._add(run)
        self.tasks = {task.id: task for _, task in all_tasks(self.flow)}
        self.failed = self._failure_reach()

    def _failure_reach(self) -> set[str]:
        """Failed runs and every enclosing run their failure reaches (up to a task that allows failure)."""
        reached: set[str] = set()
        for run in self.runs.values():
            current: TaskRun | None = run if run.state == State.FAILED else None
            while current is not None and current.id not in reached:
                reached.add(current.id)
                parent = self.runs.get(current.parent) if current.parent else None
                task = self.tasks.get(parent.task_id) if parent is not None else None
                current = parent if task is not None and not task.allow_failure else None
        return reached

    @property
    def stamp(self) -> datetime:
        """The time this step records (a start, an end): ``now`` to the millisecond."""
        return millis(self.now)

    def set_run(self, run: TaskRun) -> TaskRun:
        if run.id not in self.runs:
            self._add(run)
        self.runs[run.id] = run
        return run

    def _add(self, run: TaskRun) -> None:
        self.index.setdefault(run.task_id, []).append(run.id)
        if run.parent is not None and run.iteration is not None:
            self.in_iteration.setdefault((run.parent, run.iteration), []).append(run.id)

    def iteration_runs(self, parent: str, iteration: int) -> list[TaskRun]:
        """The runs directly inside iteration ``iteration`` of the each run ``parent``."""
        return [self.runs[run_id] for run_id in self.in_iteration.get((parent, iteration), ())]

    def started(self, run_id: str) -> TaskRun | None:
        """The run if it started in this round: a CREATED run is a placeholder left by a restart."""
        run = self.runs.get(run_id)
        return run if run is not None and run.state != State.CREATED else None

    def update(self, run: TaskRun, **changes: Any) -> TaskRun:
        return self.set_run(run.model_copy(update=changes))

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.actions.append(EmitEvent(EventType.WARNING if warning else EventType.NORMAL, reason, message))

    def wake(self, at: datetime) -> None:
        self.wake_at.append(at)

    def template_context(self, frame: Frame, run_id: str, attempt: int = 1) -> dict[str, Any]:
        labels = {**self.flow.labels, **self.spec.labels}
        started = iso(self.start_date) if self.start_date else None
        run = self.runs.get(run_id)
        trigger = trigger_context(self.spec)
        # A manual run's logical date is its start, so a flow written for a schedule
        # ({{ trigger.date | date('%Y-%m-%d') }}) also runs by hand.
        trigger["date"] = trigger["date"] or started
        context: dict[str, Any] = {
            "inputs": dict(self.inputs),
            "vars": self.flow.variables,
            "outputs": OutputsView(self.runs, self.index, frame, self.observed.stored_outputs),
            "trigger": trigger,
            "execution": {
                "id": self.execution,
                "name": self.execution,
                "namespace": self.namespace,
                "flow": self.flow_name,
                "startDate": started,
                "logicalDate": trigger["date"],
                # Argo's workflow.status/failures/duration, for errors and finally tasks.
                "state": self.tasks_outcome,
                "failures": [{"taskId": r.task_id, "taskRunId": r.id, "message": r.message} for r in self.failures()],
                "duration": format_duration(self.now - self.start_date) if self.start_date else "0s",
                "originalId": self.spec.replay.execution if self.spec.replay else self.execution,
            },
            "flow": {"name": self.flow_name, "namespace": self.namespace},
            "taskrun": {
                "id": run_id,
                "attempt": attempt,
                "value": frame.values[-1] if frame.values else None,
                "iteration": frame.iterations[-1] if frame.iterations else None,
                "startDate": iso(run.start_date if run is not None and run.start_date else self.stamp),
            },
            "parents": [{"value": v, "iteration": i} for v, i in zip(frame.values, frame.iterations, strict=True)],
            "labels": labels,
        }
        if frame.error is not None:
            context["error"] = dict(frame.error)
        return context

    def descendants(self, run_id: str) -> list[TaskRun]:
        """Every run inside ``run_id``, at any depth (children of its children too)."""
        return [run for run in self.runs.values() if any(a.id == run_id for a in self._ancestors(run))]

    def _ancestors(self, run: TaskRun) -> Iterator[TaskRun]:
        """The runs ``run`` is inside, innermost first."""
        parent = self.runs.get(run.parent) if run.parent else None
        while parent is not None:
            yield parent
            parent = self.runs.get(parent.parent) if parent.parent else None

    def stop(self, run: TaskRun, reason: str) -> bool:
        """Stop ``run`` as a kill does: delete its Job, kill its child execution, end it KILLED.

        Returns whether its Job is still seen running (deleted, or being deleted: ask again until
        it is gone). A run already ended is left as it is, but a Job of its killed attempt still
        seen running is deleted again; a CREATED run is a restart's placeholder, not started.
        """
        attempts = list(run.attempts)
        last = attempts[-1] if attempts else None
        still_running = False
        if last is not None and (last.state == State.KILLED or not last.state.is_terminal):
            job = self.observed.jobs.get(last.job)
            if job is not None and job.phase in (JobPhase.PENDING, JobPhase.RUNNING):
                still_running = True
                self.actions.append(DeleteJob(job.name, reason))
        if run.state.is_terminal or run.state == State.CREATED:
            return still_running
        if last is not None and not last.state.is_terminal:
            attempts[-1] = last.model_copy(update={"state": State.KILLED, "end_date": self.stamp})
        if run.child_execution:
            child = self.observed.children.get(run.child_execution)
            if child is None or not child.state.is_terminal:
                self.actions.append(KillExecution(run.child_execution))
        self.update(run, state=State.KILLED, attempts=tuple(attempts), end_date=self.stamp)
        return still_running

    def first_failure(self) -> TaskRun | None:
        """The first of ``failures``."""
        return next(iter(self.failures()), None)

    def failures(self) -> list[TaskRun]:
        """The failed task runs whose failure is their own: a task that ran, or a flowable that
        could not (its items, condition or value did not render), not a flowable failing because a
        child did; leaving out failures inside a task that allows failure: they did not fail the run."""
        failed = [r for r in self.runs.values() if r.state == State.FAILED and r.task_id in self.tasks]
        passed_on = {r.parent for r in failed if r.parent}
        return [r for r in failed if r.id not in passed_on and not self._failure_allowed_above(r)]

    def _failure_allowed_above(self, run: TaskRun) -> bool:
        return any((task := self.tasks.get(a.task_id)) is not None and task.allow_failure for a in self._ancestors(run))
