"""Following a cluster execution: its task states, and with ``logs`` its task pods' logs as they run.

``follow`` polls the Execution (a GET every half second: the CLI needs no watch) and prints
task runs with ``common.Progress``, so the lines are those of ``overture local run``. With
logs, one thread per task attempt streams its pod's log; a task run's line that follows an
attempt's end is printed after that attempt's last log line.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from overture.api import State, is_terminal
from overture.cli.client import ClusterClient
from overture.cli.common import CliError, Progress, end_line

POLL_SECONDS = 0.5
LOG_DRAIN_SECONDS = 10.0
OK_STATES = (State.SUCCESS.value, State.WARNING.value)


class LogFollower:
    """Streams the log of one task attempt's pod, from its start to its end, into ``progress``."""

    def __init__(self, cluster: ClusterClient, progress: Progress, run_id: str, job: str, stop: threading.Event):
        self.cluster, self.progress, self.run_id, self.job, self.stop = cluster, progress, run_id, job, stop
        self.pod: str | None = None
        self.ended = threading.Event()  # set by ``follow`` once the attempt is over
        self.thread = threading.Thread(target=self._run, name=f"logs-{job}", daemon=True)

    def start(self, pod: str | None) -> None:
        self.pod = pod
        self.thread.start()

    def _run(self) -> None:
        try:
            self._stream()
        except CliError as exc:
            self.progress.log(self.run_id, f"(no log: {exc})")

    def _stream(self) -> None:
        while not self.stop.is_set():
            ended = self.ended.is_set()  # read before trying: a failure once the attempt is over is final
            pod = self.pod or self._find_pod()
            if pod is not None:
                try:
                    printed = 0
                    for line in self.cluster.stream_log(pod):
                        self.progress.log(self.run_id, line)
                        printed += 1
                    # A container that ends as the stream opens can leave it short: read the whole log once.
                    for line in self.cluster.read_log(pod).splitlines()[printed:]:
                        self.progress.log(self.run_id, line)
                    return
                except CliError:
                    if ended:
                        raise
            elif ended:
                return  # over without a pod (deleted, never scheduled)
            time.sleep(0.3)  # no pod yet, or its container has not started (ContainerCreating)

    def _find_pod(self) -> str | None:
        pods = self.cluster.pods_of_job(self.job)
        return str(pods[-1]["metadata"]["name"]) if pods else None

    def join(self, timeout: float) -> None:
        self.ended.set()
        if self.thread.is_alive():
            self.thread.join(timeout)


def follow(cluster: ClusterClient, name: str, progress: Progress, logs: bool, timeout: float, restarts: int = 0) -> int:
    """Print ``name``'s task runs (and logs) until it ends: 0 if it succeeded, 1 otherwise.

    ``restarts``: the ``spec.restarts`` just written; an end seen before the operator acted on it
    (``status.restarts``) is the previous one, not this run's.
    """
    followers: dict[str, LogFollower] = {}
    stop = threading.Event()
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    try:
        while time.monotonic() < deadline:
            execution = cluster.get("executions", name)
            status = execution.get("status") or {}
            for run in progress.changes(status):
                if logs:
                    _attach(cluster, progress, run, followers, stop)
                progress.show(run)
            state = status.get("state")
            if is_terminal(state) and int(status.get("restarts") or 0) >= restarts:
                for follower in followers.values():
                    follower.join(LOG_DRAIN_SECONDS)
                progress.emit(end_line(name, status))
                return 0 if state in OK_STATES else 1
            time.sleep(POLL_SECONDS)
    finally:
        stop.set()
    progress.emit(f"{name}: still {status.get('state') or 'not started'} after {timeout:g}s; stopped following it")
    return 1


def _attach(
    cluster: ClusterClient, progress: Progress, run: dict[str, Any], followers: dict[str, LogFollower], stop: Any
) -> None:
    """Follow the logs of ``run``'s attempts; wait for those that ended before their run's line."""
    for attempt in run.get("attempts") or []:
        job = attempt.get("job")
        if not job:
            continue
        follower = followers.get(job)
        if follower is None:
            follower = followers[job] = LogFollower(cluster, progress, run["id"], job, stop)
            follower.start(attempt.get("pod"))
        if is_terminal(attempt.get("state")):
            follower.join(LOG_DRAIN_SECONDS)
