"""A deterministic stand-in for the cluster, for engine tests: Jobs end as a script says.

It is not a mock of the Kubernetes API: it only plays the part of ``Observed`` (what Jobs did),
driving ``step`` the way the operator does, and records every action for assertions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from overture.api import Execution, ExecutionSpec, FlowSpec, ObjectMeta, ObjectRef, State
from overture.engine import (
    ChildObservation,
    CreateExecution,
    CreateJob,
    Decision,
    DeleteJob,
    EmitEvent,
    JobObservation,
    JobPhase,
    Observed,
    step,
)
from overture.templating import VALUE_ENV_PREFIX

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

# A job script: (task_run_id, attempt) -> (succeeded?, outputs or message)
Outcome = tuple[bool, Any]
Script = Callable[[CreateJob], Outcome]


def succeed_with(outputs: dict[str, Any] | None = None) -> Outcome:
    return True, outputs or {}


def always_succeed(_job: CreateJob) -> Outcome:
    return True, {}


def make_execution(flow: FlowSpec | dict[str, Any], name: str = "run-1", **spec: Any) -> tuple[FlowSpec, Execution]:
    flow_spec = flow if isinstance(flow, FlowSpec) else FlowSpec.model_validate(flow)
    execution = Execution(
        metadata=ObjectMeta(name=name, namespace="default", generation=1),
        spec=ExecutionSpec(flow_ref=ObjectRef(name="flow"), **spec),
    )
    return flow_spec, execution


@dataclass
class Cluster:
    """Jobs run for ``duration`` seconds of simulated time, then end as ``script`` says."""

    script: Script = always_succeed
    duration: float = 1.0
    durations: dict[str, float] = field(default_factory=dict)  # by task id, overriding ``duration``
    jobs: dict[str, tuple[CreateJob, datetime]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    created: list[str] = field(default_factory=list)
    events: list[EmitEvent] = field(default_factory=list)
    children: dict[str, ChildObservation] = field(default_factory=dict)
    child_requests: list[CreateExecution] = field(default_factory=list)

    def apply(self, decision: Decision, now: datetime) -> None:
        for action in decision.actions:
            if isinstance(action, CreateJob):
                self.created.append(action.name)
                self.jobs.setdefault(action.name, (action, now))
            elif isinstance(action, DeleteJob):
                self.deleted.add(action.name)
                self.jobs.pop(action.name, None)
            elif isinstance(action, EmitEvent):
                self.events.append(action)
            elif isinstance(action, CreateExecution):
                self.child_requests.append(action)

    def observe(self, now: datetime, **extra: Any) -> Observed:
        jobs: dict[str, JobObservation] = {}
        for name, (request, created) in self.jobs.items():
            duration = timedelta(seconds=self.durations.get(request.task_id, self.duration))
            if now - created < duration:
                jobs[name] = JobObservation(name, JobPhase.RUNNING, pod=f"{name}-pod", start=_seconds(created))
                continue
            ok, payload = self.script(request)
            end = _seconds(created + duration)
            if ok:
                message = payload if isinstance(payload, str) else json.dumps(payload)
                jobs[name] = JobObservation(
                    name,
                    JobPhase.SUCCEEDED,
                    pod=f"{name}-pod",
                    start=_seconds(created),
                    end=end,
                    exit_code=0,
                    termination_message=message,
                )
            else:  # a failure's payload is its message, or (exit code, message)
                code, text = payload if isinstance(payload, tuple) else (1, payload)
                jobs[name] = JobObservation(
                    name,
                    JobPhase.FAILED,
                    pod=f"{name}-pod",
                    start=_seconds(created),
                    end=end,
                    exit_code=code,
                    termination_message=str(text),
                )
        return Observed(jobs=jobs, children=dict(self.children), **extra)


def _seconds(moment: datetime) -> datetime:
    """A Job's times, as the API server gives them: to the second."""
    return moment.replace(microsecond=0)


def run_to_end(
    flow: FlowSpec,
    execution: Execution,
    cluster: Cluster | None = None,
    tick: float = 1.0,
    max_steps: int = 2000,
    start: datetime = T0,
    on_step: Callable[[Execution, Decision, datetime], Execution] | None = None,
) -> tuple[Execution, Cluster]:
    """Step until the execution is terminal (or ``max_steps``), advancing time by ``tick``."""
    cluster = cluster or Cluster()
    now = start
    for _ in range(max_steps):
        decision = step(flow, execution, cluster.observe(now), now)
        cluster.apply(decision, now)
        execution = execution.model_copy(update={"status": decision.status})
        if on_step is not None:
            execution = on_step(execution, decision, now)
        if execution.status is not None and execution.status.state.is_terminal:
            return execution, cluster
        now += timedelta(seconds=tick)
    return execution, cluster


def run_states(execution: Execution) -> dict[str, State]:
    assert execution.status is not None
    return {r.id: r.state for r in execution.status.task_runs}


# --- building flows and stepping by hand ---------------------------------------------------


def shell(task_id: str, *commands: str, **fields: Any) -> dict[str, Any]:
    """A shell task declaration (camelCase fields, as in YAML)."""
    return {"id": task_id, "type": "shell", "commands": list(commands) or [f"echo {task_id}"], **fields}


def flow_of(*tasks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"tasks": list(tasks), **fields}


def outcome_by_task(outcomes: dict[str, Outcome], default: Outcome = (True, {})) -> Script:
    """A script by task id (the iteration and attempt do not matter)."""
    return lambda job: outcomes.get(job.task_id, default)


def fail_when(predicate: Callable[[CreateJob], bool], message: str = "failed") -> Script:
    """Jobs for which ``predicate`` holds fail; the others succeed with no outputs."""
    return lambda job: (False, message) if predicate(job) else (True, {})


def fail_until(attempt: int, outputs: dict[str, Any] | None = None) -> Script:
    """Attempts before ``attempt`` fail; from it on, they succeed."""
    return lambda job: (True, outputs or {}) if job.attempt >= attempt else (False, f"attempt {job.attempt} failed")


class Driver:
    """Steps one execution by hand: time moves only when asked, and every decision is kept."""

    def __init__(
        self,
        flow: FlowSpec | dict[str, Any],
        name: str = "run-1",
        cluster: Cluster | None = None,
        start: datetime = T0,
        **spec: Any,
    ) -> None:
        self.flow, self.execution = make_execution(flow, name, **spec)
        self.cluster = cluster or Cluster()
        self.now = start
        self.decisions: list[Decision] = []

    @property
    def status(self) -> Any:
        assert self.execution.status is not None
        return self.execution.status

    @property
    def state(self) -> State:
        return State(self.status.state)

    def run(self, task_run_id: str) -> Any:
        return next(r for r in self.status.task_runs if r.id == task_run_id)

    def states(self) -> dict[str, State]:
        return run_states(self.execution)

    def step(self, observed: Observed | None = None, **extra: Any) -> Decision:
        """One reconcile at the current time; ``observed`` replaces what the cluster shows."""
        seen = observed if observed is not None else self.cluster.observe(self.now, **extra)
        decision = step(self.flow, self.execution, seen, self.now)
        self.cluster.apply(decision, self.now)
        self.execution = self.execution.model_copy(update={"status": decision.status})
        self.decisions.append(decision)
        return decision

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def tick(self, seconds: float = 1.0, **extra: Any) -> Decision:
        self.wait(seconds)
        return self.step(**extra)

    def set_spec(self, **changes: Any) -> None:
        spec = self.execution.spec.model_copy(update=changes)
        self.execution = self.execution.model_copy(update={"spec": spec})

    def run_to_end(self, tick: float = 1.0, max_steps: int = 500, **extra: Any) -> State:
        for _ in range(max_steps):
            self.step(**extra)
            if self.state.is_terminal:
                return self.state
            self.wait(tick)
        raise AssertionError(f"not terminal after {max_steps} steps: {self.state} {self.states()}")

    def actions(self, kind: type[Any]) -> list[Any]:
        return [a for d in self.decisions for a in d.actions if isinstance(a, kind)]

    def events(self) -> list[tuple[str, str]]:
        return [(e.reason, e.message) for e in self.actions(EmitEvent)]


def as_run(job: CreateJob) -> str:
    """A job's script with the values it reads from env written back where they stand (in a shell
    script a value that is not plain text is an env var: templating/placing.py)."""
    script = job.command[-1]
    for var in job.env:
        if var.name.startswith(VALUE_ENV_PREFIX) and var.value is not None:
            value = var.value.replace("$$", "$")
            for ref in (f"'\"${{{var.name}}}\"'", f'"${{{var.name}}}"', f"${{{var.name}}}"):
                script = script.replace(ref, value)
    return script
