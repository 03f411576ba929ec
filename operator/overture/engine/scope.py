"""Lists of tasks, and the flowable tasks that run nested lists: which task starts now, and when.

``run_scope`` walks one list of tasks (the flow's tasks, a branch, an iteration) and returns the
list's outcome: still ``RUNNING``, or settled as ``SUCCESS``, ``WARNING`` or ``FAILED``. It starts
and advances each task through its kind (``KINDS``: one object per task model; the kinds that
hold no nested list are in ``kinds.py``, the flowables below).

Ordering rules:
- a list runs in order, one task after the other, unless a task in it has ``dependsOn`` (or
  ``depends``); then it is a DAG and a task starts when its dependencies let it
  (``api.dependencies``: by default once they all succeeded; one skipped skips it too);
- ``parallel`` starts every child at once (at most ``concurrency`` running);
- once a task fails in a section (``Gate.halted``), no new task of that section starts, wherever
  it sits in the list, except a task whose rule waits for failures (``runWhen: allDone|anyFailed``,
  ``depends``); running ones finish; the section then settles FAILED. Retries of a failed
  attempt are not new tasks. A flowable task with ``allowFailure`` halts only its own children
  and ends WARNING, as a runnable task with ``allowFailure`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from overture.api import (
    AnyTask,
    ContainerTask,
    EachTask,
    FailTask,
    FlowableBase,
    HttpTask,
    IfTask,
    LogTask,
    NotifyTask,
    ParallelTask,
    PauseTask,
    PythonTask,
    ReturnTask,
    SequentialTask,
    ShellTask,
    SqlTask,
    State,
    SubflowTask,
    SwitchTask,
    TaskRun,
    TemplateTask,
    Verdict,
    walk_tasks,
)
from overture.engine.context import Frame
from overture.engine.kinds import Call, Fail, Log, Pause, Return, Runnable, Subflow, TaskKind, Unexpanded
from overture.engine.naming import task_run_id
from overture.engine.runs import Gate, Outcome, end, fail
from overture.engine.work import Work
from overture.templating import TemplateError, is_truthy, render

F = TypeVar("F", ParallelTask, SequentialTask, EachTask, IfTask, SwitchTask)
B = TypeVar("B", IfTask, SwitchTask)


def run_scope(
    work: Work, tasks: Sequence[AnyTask], frame: Frame, gate: Gate, parent: str | None, limit: int = 1
) -> Outcome:
    """Start what may start in ``tasks`` and advance what runs; ``limit`` 0 means no limit.

    ``limit`` 1 with no ``dependsOn`` is sequential order; a DAG ignores ``limit``.
    """
    dag = any(t.needs for t in tasks)
    if dag:
        tasks = topological(tasks)
    if work.failed and any(task_run_id(t.id, frame.iterations) in work.failed for t in tasks):
        gate.halted = True  # a failure seen in an earlier step: no task of this list starts, whatever its order
    states: dict[str, State | None] = {}
    disabled = {t.id for t in tasks if t.disabled}
    blocked = False
    active = 0
    in_order = True  # every earlier task of the list ended in a way that lets the next one start
    for task in tasks:
        run = work.started(task_run_id(task.id, frame.iterations))
        if run is not None and not run.state.is_terminal:
            run = kind_of(task).advance(work, task, run, frame, gate)
        if run is None:
            may_start = gate.open
            if dag:
                verdict, why = task.decide({d: _as_dependency(states.get(d), disabled, d) for d in task.needs})
                if verdict == Verdict.NEVER:
                    blocked = True  # a dependency failed: this task will never run
                    states[task.id] = None
                    continue
                if verdict == Verdict.SKIP and not gate.suspended:
                    run = skip(work, task, frame, parent, why or "skipped")
                ready = verdict == Verdict.RUN
                may_start = gate.open or (not gate.suspended and task.runs_after_failure)
            elif limit == 1:
                ready = in_order
            else:
                ready = limit == 0 or active < limit
            if run is None and ready and may_start:
                run = start(work, task, frame, gate, parent)
        state = run.state if run is not None else None
        states[task.id] = state
        in_order = in_order and state is not None and state.is_successful
        if state is not None and not state.is_terminal:
            active += 1
        if state == State.FAILED:
            gate.halted = True
    return _settle(states, blocked or gate.halted)


def _as_dependency(state: State | None, disabled: set[str], task_id: str) -> State | None:
    """A disabled task is as if it were not there: its dependants see it succeeded, not skipped."""
    return State.SUCCESS if task_id in disabled and state == State.SKIPPED else state


def topological(tasks: Sequence[AnyTask]) -> list[AnyTask]:
    """Dependencies first, otherwise list order (the flow was checked to be acyclic)."""
    ids = {t.id for t in tasks}
    done: set[str] = set()
    ordered: list[AnyTask] = []
    pending = list(tasks)
    while pending:  # one pass per level of dependencies listed after their dependants
        waiting = []
        for task in pending:
            if all(d in done or d not in ids for d in task.needs):
                ordered.append(task)
                done.add(task.id)
            else:
                waiting.append(task)
        if len(waiting) == len(pending):  # a cycle slipped through validation: keep list order, nothing will start
            ordered.extend(waiting)
            break
        pending = waiting
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


def _new_run(work: Work, task: AnyTask, frame: Frame, parent: str | None) -> dict[str, Any]:
    """The fields of a new run of ``task``; a placeholder left by a restart keeps its attempts."""
    run_id = task_run_id(task.id, frame.iterations)
    earlier = work.runs.get(run_id)
    return {
        "attempts": earlier.attempts if earlier is not None else (),
        "id": run_id,
        "task_id": task.id,
        "parent": parent,
        "iteration": frame.iterations[-1] if frame.iterations else None,
        "value": frame.values[-1] if frame.values else None,
        "start_date": work.stamp,
    }


def skip(work: Work, task: AnyTask, frame: Frame, parent: str | None, why: str) -> TaskRun:
    """A run of ``task`` SKIPPED by its dependencies (``why``): its own dependants decide from that."""
    return end(
        work, TaskRun(state=State.SKIPPED, message=why, end_date=work.stamp, **_new_run(work, task, frame, parent))
    )


def start(work: Work, task: AnyTask, frame: Frame, gate: Gate, parent: str | None) -> TaskRun:
    """A new run of ``task``: SKIPPED if disabled or ``runIf`` is false, else RUNNING and started by its kind."""
    base = _new_run(work, task, frame, parent)
    run_id = base["id"]
    earlier = work.runs.get(run_id)  # a placeholder left by a restart: its attempts stay, numbering goes on
    if task.disabled:
        return end(work, TaskRun(state=State.SKIPPED, message="disabled", end_date=work.stamp, **base))
    context = work.template_context(frame, run_id)
    if task.run_if is not None:
        try:
            if not is_truthy(render(task.run_if, context)):
                return end(work, TaskRun(state=State.SKIPPED, message="runIf was false", end_date=work.stamp, **base))
        except TemplateError as exc:
            return fail(work, task, TaskRun(state=State.RUNNING, **base), f"runIf: {exc}")
    run = work.set_run(TaskRun(state=State.RUNNING, **base))
    return kind_of(task).start(work, task, run, frame, gate, context, earlier)


# --- flowables: the tasks that run nested lists ----------------------------------------------


class Flowable(TaskKind[F]):
    """Runs its nested lists (``children``); ends as they settle, FAILED if one failed (WARNING
    with ``allowFailure``). A failure inside a task that allows it halts only that task's children,
    not its section; past the deadline nothing new starts inside (the run is about to time out)."""

    def progress(self, work: Work, task: F, run: TaskRun, frame: Frame, gate: Gate, late: bool) -> TaskRun:
        inner = Gate(suspended=True) if late else Gate(gate.suspended) if task.allow_failure else gate
        outcome = self.children(work, task, run, frame, inner)
        if outcome == Outcome.FAILED and task.errors and not late:
            # Its errors run once a task inside failed, whatever stopped the rest of the section.
            error = _inner_failure(work, task, run)
            handling = run_scope(work, task.errors, frame.with_error(error), Gate(gate.suspended), run.id)
            if handling == Outcome.RUNNING:
                return run
        if outcome == Outcome.RUNNING:
            return run
        state, message = State(outcome.value), None
        if state == State.FAILED:
            message = "a task inside failed"
            if task.allow_failure:
                state, message = State.WARNING, f"failed (allowFailure): {message}"
        return end(work, run.model_copy(update={"state": state, "end_date": work.stamp, "message": message}))

    def children(self, work: Work, task: F, run: TaskRun, frame: Frame, gate: Gate) -> Outcome:
        raise NotImplementedError


def _inner_failure(work: Work, task: FlowableBase, run: TaskRun) -> dict[str, Any]:
    """``{{ error }}`` for a flowable's ``errors``: the first failed run inside it whose failure is
    its own (not a flowable failing because a child did, nor one of the errors tasks)."""
    handlers = {t.id for _, t in walk_tasks(task.errors, "")}
    inside = [r for r in work.descendants(run.id) if r.state == State.FAILED and r.task_id not in handlers]
    passed_on = {r.parent for r in inside}
    failure = next((r for r in inside if r.id not in passed_on), None)
    return {
        "taskId": failure.task_id if failure else None,
        "taskRunId": failure.id if failure else None,
        "message": failure.message if failure else None,
    }


class Sequential(Flowable[SequentialTask]):
    def children(self, work: Work, task: SequentialTask, run: TaskRun, frame: Frame, gate: Gate) -> Outcome:
        return run_scope(work, task.tasks, frame, gate, run.id)


class Parallel(Flowable[ParallelTask]):
    def children(self, work: Work, task: ParallelTask, run: TaskRun, frame: Frame, gate: Gate) -> Outcome:
        return run_scope(work, task.tasks, frame, gate, run.id, limit=task.concurrency)


class Branch(Flowable[B]):
    """Renders one field once, as it starts, into the run's ``outputs.value``, which says which of
    its nested lists runs (none: the run succeeds)."""

    field = ""

    def begin(self, work: Work, task: B, run: TaskRun, context: dict[str, Any], earlier: TaskRun | None) -> TaskRun:
        try:
            rendered = render(self.template(task), context)
        except TemplateError as exc:
            return fail(work, task, run, f"{self.field}: {exc}")
        return work.update(run, outputs={"value": self.choose(rendered)})

    def children(self, work: Work, task: B, run: TaskRun, frame: Frame, gate: Gate) -> Outcome:
        tasks = self.branch(task, (run.outputs or {}).get("value"))
        return run_scope(work, tasks, frame, gate, run.id) if tasks else Outcome.SUCCESS

    def template(self, task: B) -> str:
        raise NotImplementedError

    def choose(self, rendered: str) -> str:
        return rendered

    def branch(self, task: B, chosen: Any) -> tuple[AnyTask, ...]:
        raise NotImplementedError


class If(Branch[IfTask]):
    """``then`` when ``condition`` renders true, else ``else``."""

    field = "condition"

    def template(self, task: IfTask) -> str:
        return task.condition

    def choose(self, rendered: str) -> str:
        return "then" if is_truthy(rendered) else "else"

    def branch(self, task: IfTask, chosen: Any) -> tuple[AnyTask, ...]:
        return task.then if chosen == "then" else task.else_


class Switch(Branch[SwitchTask]):
    """The case whose ``value`` is what ``value`` rendered, else ``defaults``."""

    field = "value"

    def template(self, task: SwitchTask) -> str:
        return task.value

    def branch(self, task: SwitchTask, chosen: Any) -> tuple[AnyTask, ...]:
        case = next((c for c in task.cases if c.value == chosen), None)
        return case.tasks if case is not None else task.defaults


class Each(Flowable[EachTask]):
    """Renders ``items`` once, as it starts (the run's ``value``); runs its tasks once per item,
    at most ``concurrencyLimit`` iterations at once."""

    def begin(
        self, work: Work, task: EachTask, run: TaskRun, context: dict[str, Any], earlier: TaskRun | None
    ) -> TaskRun:
        try:
            items = _each_items(task, context)
        except (TemplateError, ValueError) as exc:
            return fail(work, task, run, f"items: {exc}")
        return work.update(run, value=items)

    def children(self, work: Work, task: EachTask, run: TaskRun, frame: Frame, gate: Gate) -> Outcome:
        items = run.value if isinstance(run.value, list) else []
        outcomes: list[Outcome] = []
        running = 0
        for index, item in enumerate(items):
            runs = work.iteration_runs(run.id, index)
            settled = _settled_iteration(work, runs, len(task.tasks), gate) if runs else None
            if settled is not None:
                outcomes.append(settled)
                continue
            started = any(r.state != State.CREATED for r in runs)  # CREATED: a restart's placeholder
            if not started and (not gate.open or (task.concurrency_limit and running >= task.concurrency_limit)):
                outcomes.append(Outcome.RUNNING)
                continue
            inner = frame.inside(index, item)
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


def _settled_iteration(work: Work, runs: list[TaskRun], tasks: int, gate: Gate) -> Outcome | None:
    """The outcome of an iteration every task of which has ended, as ``run_scope`` would settle it
    (a failure halting the gate too), without walking it; None while it has more to do. Most of a
    big each's iterations have ended: a step costs what changed, not every iteration again."""
    if len(runs) != tasks or not all(r.state.is_terminal for r in runs):
        return None
    if any(r.state == State.FAILED or r.id in work.failed for r in runs):
        gate.halted = True
    if any(not r.state.is_successful for r in runs):
        return Outcome.FAILED
    return Outcome.WARNING if any(r.state == State.WARNING for r in runs) else Outcome.SUCCESS


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


# --- every kind, once ------------------------------------------------------------------------

_RUNNABLE = Runnable()
_CALL = Call()
KINDS: dict[type[AnyTask], TaskKind[Any]] = {
    ShellTask: _RUNNABLE,
    PythonTask: _RUNNABLE,
    ContainerTask: _RUNNABLE,
    ParallelTask: Parallel(),
    SequentialTask: Sequential(),
    EachTask: Each(),
    IfTask: If(),
    SwitchTask: Switch(),
    PauseTask: Pause(),
    SubflowTask: Subflow(),
    FailTask: Fail(),
    LogTask: Log(),
    ReturnTask: Return(),
    HttpTask: _CALL,
    SqlTask: _CALL,
    NotifyTask: _CALL,
    TemplateTask: Unexpanded(),
}
"""How the engine runs each task model (``api.TASK_MODELS``; tests/unit/engine/test_kinds.py checks none is missing)."""


def kind_of(task: AnyTask) -> TaskKind[Any]:
    return KINDS[type(task)]
