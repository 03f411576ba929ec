"""Manual overrides that rewrite task runs: restart a failed run, replay from a task.

- ``restart_runs``: the failed and killed task runs of a FAILED or KILLED execution go back to
  waiting for a new attempt (their earlier attempts stay in the record); the ``errors`` and
  ``finally`` runs, and failed ``fail``, ``pause`` and ``subflow`` runs, start over from scratch.
  Successful runs are never rerun, nor anything inside them (a failure inside a task with
  ``allowFailure`` stays as it was). A run that starts over is left as a CREATED placeholder
  that keeps its attempts, so its next Job is numbered after them and never reuses a Job name
  (a used name would only find the old Job). The run's clock starts again: ``startDate`` is the
  restart time, so the flow's ``timeout`` counts from it. An execution that ended before any
  task ran (bad inputs, the concurrency limit) has nothing to rerun and stays as it is.
- ``copy_replayed_runs``: a new execution starts with the runs of every task that comes before
  ``fromTask`` in the source execution (in list order, or, in a DAG, every task that does not
  depend on it), so their outputs are reused and they do not run again.
"""

from __future__ import annotations

from datetime import datetime

from overture.api import (
    RESTARTABLE,
    CallAnyTask,
    ExecutionStatus,
    FlowSpec,
    RunnableAnyTask,
    State,
    TaskRun,
    child_groups,
)
from overture.validation import all_tasks


def restart_runs(status: ExecutionStatus, restarts: int, now: datetime) -> ExecutionStatus:
    status = status.model_copy(update={"restarts": restarts})
    if status.state not in RESTARTABLE or status.flow_spec is None or not status.task_runs:
        return status  # nothing ran (bad inputs, no flow, the concurrency limit): nothing to rerun
    flow = status.flow_spec
    tasks = {task.id: task for _, task in all_tasks(flow)}
    handlers = {t.id for t in (*flow.errors, *flow.finally_)}
    handler_runs = {r.id for r in status.task_runs if _root_of(r, status.task_runs) in handlers}
    runs: list[TaskRun] = []
    reopened: set[str] = set()  # flowable runs running again; a parent comes before its children
    for run in status.task_runs:
        task = tasks.get(run.task_id)
        if run.id in handler_runs:
            run = _placeholder(run)
        elif run.state in RESTARTABLE and (run.parent is None or run.parent in reopened):
            if isinstance(task, RunnableAnyTask | CallAnyTask):
                run = run.model_copy(update={"state": State.RETRYING, "next_attempt_at": now, "end_date": None})
            elif task is not None and child_groups(task):
                run = run.model_copy(update={"state": State.RUNNING, "end_date": None, "message": None})
                reopened.add(run.id)
            else:
                run = _placeholder(run)  # fail, pause and subflow runs start over from scratch
        runs.append(run)
    changes = {"state": State.RUNNING, "start_date": now, "end_date": None, "duration": None, "message": None}
    return status.model_copy(update={"task_runs": tuple(runs), **changes})


def _placeholder(run: TaskRun) -> TaskRun:
    """A run that has not started in this round; its attempts and child execution stay on record."""
    return TaskRun(
        id=run.id,
        task_id=run.task_id,
        state=State.CREATED,
        parent=run.parent,
        iteration=run.iteration,
        value=run.value,
        attempts=run.attempts,
        child_execution=run.child_execution,
    )


def _root_of(run: TaskRun, runs: tuple[TaskRun, ...]) -> str:
    by_id = {r.id: r for r in runs}
    current = run
    while current.parent is not None and current.parent in by_id:
        current = by_id[current.parent]
    return current.task_id


def copy_replayed_runs(flow: FlowSpec, source: ExecutionStatus, from_task: str) -> tuple[TaskRun, ...]:
    top = [t.id for t in flow.tasks]
    if from_task not in top:
        return ()
    if any(t.needs for t in flow.tasks):
        downstream = {from_task}
        changed = True
        while changed:
            changed = False
            for task in flow.tasks:
                if task.id not in downstream and downstream.intersection(task.needs):
                    downstream.add(task.id)
                    changed = True
        keep = {t for t in top if t not in downstream}
    else:
        keep = set(top[: top.index(from_task)])
    kept: list[TaskRun] = []
    for run in source.task_runs:
        if _root_of(run, source.task_runs) in keep and run.state.is_successful:
            kept.append(run)
    return tuple(kept)
