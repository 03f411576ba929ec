"""``overture local run``: a flow's shell and python tasks as local processes, with the cluster's engine.

``LocalRun`` plays the part of the cluster for ``engine.step``, as the operator does with real
Jobs: a ``CreateJob`` becomes a process (``/bin/sh -ec ...`` or ``python3 -c ...``, exactly the
command the pod would run), and what the process did comes back as a ``JobObservation``. So the
order, retries, ``errors``/``finally``, templating and outputs are the engine's own, and a local
run shows the same task states and outputs as a cluster run of the same flow.

Where a local process differs from a pod, and how:
- Outputs: the task's ``$OVERTURE_OUTPUTS_FILE`` is a private temp file (in a pod it is
  /overture/outputs.json, the termination message path); the literal path /overture/outputs.json
  in a command is rewritten to it, so flows written for the cluster run unchanged. Its content
  is read back as the termination message would be; a failed task's message is its exit code and
  where its log is, never the log (as in a cluster: engine.attempts.failure_message). There is no
  `kubectl logs` here: each attempt's output goes to ``on_log`` and to ``<workdir>/<attempt>/log``,
  and ``log_at`` says which of the two the message points to.
- ``$(VAR)`` references in the command expand from the task's env, as the kubelet expands them;
  a ``secretKeyRef`` variable takes its value from the same variable in this process's
  environment (``{{ secret('db', 'password') }}`` needs ``OVERTURE_SECRET_DB_PASSWORD_...``).
- Each attempt runs in its own empty working directory, with this environment plus the task's.
- ``container``, ``subflow``, ``http``, ``sql`` and ``notify`` tasks and tasks with ``inputFiles``
  or ``outputFiles`` need a cluster (the operator, its artifact store): they fail with a message
  saying so.
  A ``pause`` task without ``delay`` cannot be resumed: the run stops there, PAUSED.

No Kubernetes client here (import-linter: ``overture.processes`` may not import ``overture.kube``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from overture.api import (
    Execution,
    ExecutionSpec,
    ExecutionStatus,
    FlowSpec,
    ObjectMeta,
    ObjectRef,
    State,
    TaskType,
    TriggerInfo,
    walk_tasks,
)
from overture.api.times import millis
from overture.engine import (
    OUTPUTS_ENV,
    OUTPUTS_PATH,
    CallObservation,
    ChildObservation,
    CreateExecution,
    CreateJob,
    DeleteJob,
    EmitEvent,
    JobObservation,
    JobPhase,
    Observed,
    StartCall,
    step,
)

RUNNING_RECHECK_SECONDS = 1.0
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


@dataclass
class Clock:
    """The runner's time. With ``skip_delays``, waiting while no task runs (a retry's backoff, a
    pause's delay) moves time forward at once instead of sleeping."""

    skip_delays: bool = False
    offset: float = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def skip(self, seconds: float) -> None:
        self.offset += seconds


def expand_references(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in a command: defined names are replaced, ``$$`` is ``$``,
    others are left as they are."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


@dataclass
class LocalJob:
    """One task attempt as a local process (the local counterpart of a Job and its pod)."""

    request: CreateJob
    start: datetime
    outputs_file: Path
    log_file: Path  # all it printed
    log_at: str  # where a person reads its log, for the message of a failure
    process: subprocess.Popen[bytes] | None = None
    end: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    error: str | None = None  # why it could not start
    deadline: float | None = None  # time.monotonic() past which it is killed (activeDeadlineSeconds)

    @property
    def running(self) -> bool:
        return self.error is None and self.end is None

    def observe(self) -> JobObservation:
        name = self.request.name
        if self.error is not None:
            return JobObservation(name, JobPhase.FAILED, start=self.start, end=self.start, message=self.error)
        if self.end is None:
            return JobObservation(name, JobPhase.RUNNING, start=self.start)
        written = self.outputs_file.read_text(errors="replace") if self.outputs_file.exists() else ""
        ok = self.exit_code == 0 and self.reason is None
        message = written if ok else None  # a failure's message never carries its output (engine.jobs)
        return JobObservation(
            name,
            JobPhase.SUCCEEDED if ok else JobPhase.FAILED,
            start=self.start,
            end=self.end,
            exit_code=None if self.reason == "DeadlineExceeded" else self.exit_code,
            termination_message=message or None,
            reason=None if ok else (self.reason or "Error"),
            log_at=None if ok else self.log_at,
        )


class LocalRun:
    """Drives one execution of ``flow`` to its end with local processes.

    ``on_status`` gets every new status (wire format, as the API server would hold it),
    ``on_log(task_run_id, line)`` every line a task prints, ``on_event`` the engine's Events.
    ``log_at(task_run_id, log_file)`` is where a failed attempt's message says its log is (default:
    the file, which is gone if the caller removes the work directory).
    """

    def __init__(
        self,
        flow: FlowSpec,
        flow_name: str,
        inputs: Mapping[str, Any],
        workdir: Path,
        *,
        on_status: Callable[[dict[str, Any]], None] = lambda _: None,
        on_log: Callable[[str, str], None] = lambda _run, _line: None,
        on_event: Callable[[EmitEvent], None] = lambda _: None,
        log_at: Callable[[str, Path], str] = lambda _run, log_file: str(log_file),
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.flow = flow
        self.workdir = workdir
        self.on_status, self.on_log, self.on_event, self.log_at = on_status, on_log, on_event, log_at
        self.clock = clock or Clock()
        self.environ = dict(os.environ if environ is None else environ)
        self.name = name or f"{flow_name[:40]}-local-{uuid.uuid4().hex[:6]}"
        all_tasks = (*flow.tasks, *flow.errors, *flow.finally_)
        self.types = {task.id: TaskType(task.type) for _, task in walk_tasks(all_tasks, "")}
        self.attempts: dict[str, LocalJob] = {}
        self.children: dict[str, ChildObservation] = {}
        self.calls: dict[str, CallObservation] = {}
        self.changed = threading.Event()
        self.observed_ended: set[str] = set()  # attempts the last step saw ended
        now = self.clock.now()
        self.execution = Execution(
            metadata=ObjectMeta(
                name=self.name, namespace="local", uid=str(uuid.uuid4()), generation=1, creation_timestamp=millis(now)
            ),
            spec=ExecutionSpec(flow_ref=ObjectRef(name=flow_name), inputs=dict(inputs), trigger=TriggerInfo()),
        )

    @property
    def status(self) -> ExecutionStatus:
        return self.execution.status or ExecutionStatus()

    def run(self) -> ExecutionStatus:
        """Step until the execution ends (or waits for a resume that cannot come); Ctrl-C kills it."""
        interrupted = False
        try:
            while True:
                try:
                    requeue = self._step()
                    if self.status.state.is_terminal or self._stuck(requeue):
                        return self.status
                    self._wait(requeue)
                except KeyboardInterrupt:
                    if interrupted:
                        raise
                    interrupted = True  # a second Ctrl-C stops at once; the first kills as the operator does
                    spec = self.execution.spec.model_copy(update={"kill": True})
                    self.execution = self.execution.model_copy(update={"spec": spec})
        finally:
            for attempt in self.attempts.values():
                self._kill(attempt)

    def _step(self) -> float | None:
        now = self.clock.now()
        observed = Observed(
            jobs={n: a.observe() for n, a in self.attempts.items()},
            children=dict(self.children),
            calls=dict(self.calls),
        )
        self.observed_ended = {
            n for n, job in observed.jobs.items() if job.phase not in (JobPhase.PENDING, JobPhase.RUNNING)
        }
        decision = step(self.flow, self.execution, observed, now)
        changed = decision.status != self.execution.status
        self.execution = self.execution.model_copy(update={"status": decision.status})
        if changed:  # before the actions: a task shows RUNNING before the first line it prints
            self.on_status(decision.status.to_wire())
        for action in decision.actions:
            if isinstance(action, CreateJob) and action.name not in self.attempts:
                self._start(action)
            elif isinstance(action, DeleteJob) and action.name in self.attempts:
                self._kill(self.attempts.pop(action.name))
            elif isinstance(action, CreateExecution):
                message = f"subflow tasks do not run locally (flow {action.flow!r}); run this flow on a cluster"
                self.children[action.name] = ChildObservation(action.name, State.FAILED, message=message)
                self.changed.set()  # its state is there to observe at once
            elif isinstance(action, StartCall):
                message = f"{action.kind} tasks are made by the operator; run this flow on a cluster"
                self.calls[action.key] = CallObservation(action.key, ok=False, message=message)
                self.changed.set()
            elif isinstance(action, EmitEvent):
                self.on_event(action)
        return decision.requeue_after

    def _stuck(self, requeue: float | None) -> bool:
        """Nothing runs, nothing is due and no attempt ended since the last step saw them: only a
        resume could move it, and none can come here. (An attempt that ended while the step ran is
        not running and may not have set ``changed`` yet: it must be seen by one more step.)"""
        if self.changed.is_set() or requeue is not None:
            return False
        return all(name in self.observed_ended for name in self.attempts)

    def _wait(self, requeue: float | None) -> None:
        running = [a for a in self.attempts.values() if a.running]
        if not running and requeue is not None and self.clock.skip_delays:
            self.clock.skip(requeue)
            return
        timeout = RUNNING_RECHECK_SECONDS if requeue is None else min(requeue, RUNNING_RECHECK_SECONDS)
        deadlines = [a.deadline for a in running if a.deadline is not None]
        if deadlines:
            timeout = min(timeout, max(min(deadlines) - time.monotonic(), 0.0))
        if not running and requeue is not None:
            timeout = requeue
        self.changed.wait(max(timeout, 0.0))
        self.changed.clear()
        for attempt in running:
            if attempt.deadline is not None and time.monotonic() >= attempt.deadline and attempt.running:
                attempt.reason = "DeadlineExceeded"
                self._kill(attempt)

    # --- processes --------------------------------------------------------------------------

    def _start(self, request: CreateJob) -> None:
        home = self.workdir / request.name
        home.mkdir(parents=True, exist_ok=True)
        log_file = home / "log"
        log_at = self.log_at(request.task_run, log_file)
        attempt = LocalJob(request, millis(self.clock.now()), home / "outputs.json", log_file, log_at)
        self.attempts[request.name] = attempt
        if self.types.get(request.task_id) == TaskType.CONTAINER:
            self._not_started(
                attempt, f"container tasks do not run locally (image {request.image}); run this flow on a cluster"
            )
            return
        if request.uses_store:
            self._not_started(
                attempt,
                "inputFiles, outputFiles and outputsFrom need the artifact store of a cluster; run this flow on one",
            )
            return
        env, missing = self._env(request, attempt.outputs_file)
        if missing:
            self._not_started(attempt, missing)
            return
        command = [
            expand_references(part.replace(OUTPUTS_PATH, str(attempt.outputs_file)), env)
            for part in (*request.command, *request.args)
        ]
        work = home / "work"
        work.mkdir(exist_ok=True)
        try:
            attempt.process = subprocess.Popen(
                command,
                cwd=work,
                env={**self.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a kill reaches its children too
            )
        except OSError as exc:
            self._not_started(attempt, f"cannot start {command[0]!r}: {exc.strerror}")
            return
        if request.timeout_seconds:
            attempt.deadline = time.monotonic() + request.timeout_seconds
        assert attempt.process.stdout is not None
        threading.Thread(target=self._read, args=(attempt, attempt.process.stdout), daemon=True).start()

    def _not_started(self, attempt: LocalJob, message: str) -> None:
        attempt.error = message
        self.changed.set()  # its failure is there to observe at once

    def _env(self, request: CreateJob, outputs_file: Path) -> tuple[dict[str, str], str | None]:
        env = {OUTPUTS_ENV: str(outputs_file)}
        for var in request.env:
            if var.secret_name is not None:
                if var.name not in self.environ:
                    return env, (
                        f"env {var.name} comes from Secret {var.secret_name!r} key {var.secret_key!r}; "
                        f"to run this task locally, set {var.name} in your environment"
                    )
                env[var.name] = self.environ[var.name]
            elif var.name != OUTPUTS_ENV:  # expanded as the kubelet does, with the names defined before
                env[var.name] = expand_references((var.value or "").replace(OUTPUTS_PATH, str(outputs_file)), env)
        return env, None

    def _read(self, attempt: LocalJob, stream: IO[bytes]) -> None:
        with attempt.log_file.open("w", encoding="utf-8") as log:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(line + "\n")
                self.on_log(attempt.request.task_run, line)
        assert attempt.process is not None
        attempt.exit_code = attempt.process.wait()
        attempt.end = millis(self.clock.now())
        self.changed.set()

    def _kill(self, attempt: LocalJob) -> None:
        process = attempt.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.killpg(process.pid, signal.SIGKILL)
