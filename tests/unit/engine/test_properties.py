"""Property tests: random DAGs and random Job outcomes, driven to the end through the sim.

Each example is a flow of a few shell tasks with random acyclic ``dependsOn`` (or none: list
order), random retry settings and ``allowFailure``, and an optional ``finally`` task; each task's
Jobs succeed, fail, or fail a few times then succeed, after a random duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.sim import Cluster, Driver, fail_when, shell

from overture.api import State
from overture.engine import CreateJob, step


@dataclass(frozen=True)
class Plan:
    """What a task's Jobs do: attempts before ``succeeds_at`` fail; 0 means every attempt fails."""

    task_id: str
    depends_on: tuple[str, ...]
    succeeds_at: int
    max_attempts: int
    retry: dict[str, Any] | None
    allow_failure: bool
    duration: int

    def declaration(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.depends_on:
            fields["dependsOn"] = list(self.depends_on)
        if self.retry is not None:
            fields["retry"] = self.retry
        if self.allow_failure:
            fields["allowFailure"] = True
        return shell(self.task_id, **fields)

    @property
    def fails(self) -> bool:
        return self.succeeds_at == 0 or self.succeeds_at > self.max_attempts


@st.composite
def retries(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    retry: dict[str, Any] = {
        "maxAttempts": draw(st.integers(1, 4)),
        "backoff": draw(st.sampled_from(["constant", "exponential", "random"])),
        "interval": f"{draw(st.integers(1, 5))}s",
    }
    if draw(st.booleans()):
        retry["maxInterval"] = f"{draw(st.integers(1, 6))}s"
    if retry["backoff"] == "random" and draw(st.booleans()):
        retry["minInterval"] = "1s"
    return retry


@st.composite
def plans(draw: st.DrawFn, task_id: str, earlier: list[str]) -> Plan:
    retry = draw(retries())
    deps = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
    return Plan(
        task_id=task_id,
        depends_on=tuple(deps),
        succeeds_at=draw(st.sampled_from([1, 1, 1, 0, 2, 3])),
        max_attempts=retry["maxAttempts"] if retry else 1,
        retry=retry,
        allow_failure=draw(st.booleans()) and draw(st.booleans()),
        duration=draw(st.integers(1, 3)),
    )


@st.composite
def flows(draw: st.DrawFn) -> tuple[list[Plan], Plan | None, bool]:
    count = draw(st.integers(1, 7))
    dag = draw(st.booleans())
    tasks: list[Plan] = []
    for index in range(count):
        earlier = [p.task_id for p in tasks] if dag else []
        tasks.append(draw(plans(f"t{index}", earlier)))
    order = draw(st.permutations(tasks)) if dag else tasks  # a DAG may be listed in any order
    final = draw(plans("fin", [])) if draw(st.booleans()) else None
    return list(order), final, dag


def expected_state(tasks: list[Plan], final: Plan | None) -> State:
    """Kestra's rules: FAILED if a task failed for good, WARNING if one failed with allowFailure."""
    every = [*tasks, *([final] if final else [])]
    if any(p.fails and not p.allow_failure for p in every):
        return State.FAILED
    if any(p.fails for p in every):
        return State.WARNING
    return State.SUCCESS


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows())
def test_random_dags_run_to_a_terminal_state_by_the_rules(example: tuple[list[Plan], Plan | None, bool]) -> None:
    tasks, final, dag = example
    by_id = {p.task_id: p for p in [*tasks, *([final] if final else [])]}

    def script(job: CreateJob) -> tuple[bool, Any]:
        plan = by_id[job.task_id]
        ok = plan.succeeds_at != 0 and job.attempt >= plan.succeeds_at
        return (True, {"attempt": job.attempt}) if ok else (False, f"attempt {job.attempt} failed")

    doc: dict[str, Any] = {"tasks": [p.declaration() for p in tasks]}
    if final is not None:
        doc["finally"] = [final.declaration()]
    cluster = Cluster(script, durations={p.task_id: p.duration for p in by_id.values()})
    driver = Driver(doc, cluster=cluster)
    # Without dependsOn the list runs in order: each task depends on the one before it.
    needs = {p.task_id: p.depends_on for p in tasks} if dag else {}
    if not dag:
        needs = {p.task_id: ((tasks[i - 1].task_id,) if i else ()) for i, p in enumerate(tasks)}

    for _ in range(400):
        observed = cluster.observe(driver.now)
        before = driver.execution
        decision = driver.step(observed)
        again = step(driver.flow, before.model_copy(update={"status": decision.status}), observed, driver.now)
        assert again.creations == (), "a second step on the same observation created something"
        runs = {r.id: r for r in decision.status.task_runs}
        for run_id in runs:
            for dep in needs.get(run_id, ()):
                assert dep in runs, f"{run_id} started before its dependency {dep}"
                assert runs[dep].state.is_successful, f"{run_id} started while {dep} was {runs[dep].state}"
        if driver.state.is_terminal:
            break
        driver.wait(1)

    assert driver.state.is_terminal, f"not terminal: {driver.states()}"
    event(f"ended {driver.state.value}")
    assert driver.state == expected_state(tasks, final)
    names: dict[tuple[str, int], set[str]] = {}
    for job in driver.actions(CreateJob):
        names.setdefault((job.task_run, job.attempt), set()).add(job.name)
    assert all(len(n) == 1 for n in names.values()), "one (task run, attempt) got two Job names"
    assert len(cluster.created) == len(set(cluster.created)), "a Job name was created twice"
    for run in driver.status.task_runs:
        plan = by_id[run.task_id]
        assert 1 <= len(run.attempts) <= plan.max_attempts
        assert [a.attempt for a in run.attempts] == list(range(1, len(run.attempts) + 1))
        if run.state == State.SUCCESS:
            assert len(run.attempts) == plan.succeeds_at
        assert run.state.is_terminal
    if final is not None:
        assert driver.run("fin").state.is_terminal, "finally always runs"


@settings(max_examples=60, deadline=None)
@given(
    items=st.integers(0, 12),
    limit=st.integers(0, 4),
    failing=st.sets(st.integers(0, 11), max_size=3),
    retry=retries(),
)
def test_random_each_never_runs_more_iterations_than_its_limit(
    items: int, limit: int, failing: set[int], retry: dict[str, Any] | None
) -> None:
    fields = {"retry": retry} if retry else {}
    loop = {"id": "loop", "type": "each", "items": list(range(items)), "concurrencyLimit": limit}
    doc = {"tasks": [{**loop, "tasks": [shell("w", "echo {{ taskrun.value }}", **fields), shell("v")]}]}
    script = fail_when(lambda job: job.task_id == "w" and int((job.iteration or "[-1]")[1:-1]) in failing)
    driver = Driver(doc, cluster=Cluster(script))
    for _ in range(400):
        driver.step()
        runs = driver.status.task_runs
        active = {r.iteration for r in runs if r.iteration is not None and not r.state.is_terminal}
        assert limit == 0 or len(active) <= limit
        if driver.state.is_terminal:
            break
        driver.wait(1)
    assert driver.state == (State.FAILED if failing & set(range(items)) else State.SUCCESS)
    max_attempts = retry["maxAttempts"] if retry else 1
    assert all(len(r.attempts) <= max_attempts for r in driver.status.task_runs)
    if not failing & set(range(items)):
        assert {r.id for r in driver.status.task_runs if r.task_id == "v"} == {f"v[{i}]" for i in range(items)}
