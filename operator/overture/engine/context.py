"""The template context of a task run: inputs, vars, outputs, trigger, execution, taskrun.

``outputs`` is a lazy mapping over the task runs of the current step, so a task started in the
same step as its dependency ended reads that dependency's fresh outputs, and a 1,000-iteration
``each`` does not build 1,000 copies of every list. Inside an iteration, ``outputs.t`` is the
outputs of ``t`` in the same iteration; outside, a list of the outputs of every iteration, in
order. Outputs too big for the status come from ``stored`` (read from the artifact store by the
operator and passed in as an observation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from overture.api import ExecutionSpec, TaskRun, TriggerKind
from overture.engine.naming import task_run_id


@dataclass(frozen=True)
class Frame:
    """Where a task run sits: the iterations of enclosing ``each`` tasks and their values."""

    iterations: tuple[int, ...] = ()
    values: tuple[Any, ...] = ()
    error: Mapping[str, Any] | None = None

    def inside(self, iteration: int, value: Any) -> Frame:
        return Frame((*self.iterations, iteration), (*self.values, value), self.error)

    def with_error(self, error: Mapping[str, Any]) -> Frame:
        return Frame(self.iterations, self.values, error)


class OutputsView(Mapping[str, Any]):
    """``outputs`` as a template sees it from ``frame``."""

    def __init__(
        self,
        runs: Mapping[str, TaskRun],
        index: Mapping[str, list[str]],
        frame: Frame,
        stored: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._runs = runs
        self._index = index  # task id -> run ids, in creation order
        self._frame = frame
        self._stored = stored or {}  # Job name -> outputs read from the store (outputsStored)

    def _outputs(self, run: TaskRun) -> Any:
        if run.outputs is not None or run.outputs_stored is None:
            return run.outputs
        return self._stored.get(run.outputs_stored.job)

    def __getitem__(self, task_id: str) -> Any:
        run_ids = self._index.get(task_id)
        if not run_ids:
            raise KeyError(task_id)
        iterations = self._frame.iterations
        for depth in range(len(iterations) + 1):  # top level, or the same iteration as the reader
            run = self._runs.get(task_run_id(task_id, iterations[:depth]))
            if run is not None and (outputs := self._outputs(run)) is not None:
                return outputs
        runs = [self._runs[r] for r in run_ids if r in self._runs]
        done = [(r, o) for r in runs if (o := self._outputs(r)) is not None]
        if not done:
            raise KeyError(task_id)
        ordered = sorted(done, key=lambda pair: _iterations(pair[0].id))
        return IterationOutputs([o for _, o in ordered], {value_key(r.value): o for r, o in ordered})

    def describe_missing(self, task_id: str) -> str:
        """Why ``outputs[task_id]`` has nothing (the sandbox's message for an undefined key)."""
        runs = [self._runs[r] for r in self._index.get(task_id, ()) if r in self._runs]
        if not runs:
            return (
                f"outputs.{task_id}: task {task_id!r} has not run yet; a task reads the outputs of tasks that "
                "ran before it (earlier in a sequence, or in its dependsOn)"
            )
        states = sorted({run.state.value for run in runs})
        return f"outputs.{task_id}: task {task_id!r} has no outputs: it is {' / '.join(states)}"

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


class IterationOutputs(list[Any]):
    """The outputs of every iteration, in order (``outputs.load[0]``), also read by the iteration's
    value (``outputs.load['2026-01-31']``, Kestra's ``outputs.load[taskrun.value]``): a text key is
    a value (a number or object value as its JSON text), a number a position."""

    def __init__(self, items: list[Any], by_value: dict[str, Any]) -> None:
        super().__init__(items)
        self._by_value = by_value

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._by_value[key]
        return super().__getitem__(key)


def value_key(value: Any) -> str:
    """How ``IterationOutputs`` names an iteration's value."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _iterations(run_id: str) -> tuple[int, ...]:
    if "[" not in run_id:
        return ()
    return tuple(int(p) for p in run_id[run_id.index("[") + 1 : -1].split("]["))


def trigger_context(spec: ExecutionSpec) -> dict[str, Any]:
    trigger = spec.trigger
    data = trigger.data
    context: dict[str, Any] = {"type": trigger.type.value, "id": trigger.id, "date": trigger.date, "data": data}
    if trigger.type == TriggerKind.WEBHOOK:
        context["body"] = data
    elif trigger.type == TriggerKind.FLOW and isinstance(data, dict):
        context.update({k: data.get(k) for k in ("outputs", "execution", "flow", "state", "namespace", "flows")})
    elif trigger.type == TriggerKind.RESOURCE:
        context["object"] = data
    return context
