"""The CLI commands that talk to a cluster: run, get, list, logs, and steering executions.

Steering writes only an Execution's spec, as a person would with kubectl (see
``overture.api.execution``): ``pause`` sets ``suspend: true``; ``resume`` sets it false and bumps
``resumes`` (with ``resumeInputs`` for a waiting ``pause`` task); ``kill`` sets ``kill: true``;
``restart`` bumps ``restarts``; ``replay`` creates a new Execution with ``spec.replay``. The
operator acts on each exactly once. Inputs are checked here against the flow's declared types
before anything is written, so a typo is an error message, not a FAILED execution.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import yaml

from overture.api import FlowSpec, InputType, SteeringError, steering_patch, task_runs_of
from overture.cli.client import ClusterClient, add_target_options, connect_from
from overture.cli.common import (
    EXIT_USAGE,
    CliError,
    Progress,
    name_width,
    parse_flow_document,
    parse_inputs,
    problems_error,
    typed_inputs,
)
from overture.cli.follow import follow
from overture.cli.tables import object_table, task_run_table
from overture.documents import YamlDocument
from overture.kube.artifacts import ArtifactStore, StoreSettings, attempt_prefix, execution_prefix
from overture.triggers.executions import manual_execution, manual_name, replay_execution

PLURALS = {
    "flow": "flows",
    "flows": "flows",
    "fl": "flows",
    "execution": "executions",
    "executions": "executions",
    "ex": "executions",
    "exec": "executions",
}
OUTPUTS = ("table", "wide", "yaml", "json", "name")


def _flow_spec(cluster: ClusterClient, name: str) -> FlowSpec:
    doc = YamlDocument(cluster.get("flows", name))
    return parse_flow_document(doc, f"flow {name!r} in namespace {cluster.namespace!r}")


def _created(cluster: ClusterClient, args: argparse.Namespace, name: str, flow: FlowSpec | None) -> int:
    print(f"execution.overture.dev/{name} created")
    if not (args.wait or args.follow):
        return 0
    return follow(cluster, name, Progress(name_width(flow)), logs=args.follow, timeout=args.timeout)


# --- run, replay ------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Create an Execution of FLOW; with --wait or --follow, print its task runs until it ends."""
    cluster = connect_from(args)
    flow = _flow_spec(cluster, args.flow)
    what = f"flow {args.flow!r} cannot run with these inputs"
    name = manual_name(args.flow)
    given = _upload_files(flow, parse_inputs(args.input), cluster.namespace, name)
    inputs = typed_inputs(flow.inputs, given, what)
    cluster.create_execution(manual_execution(name, cluster.namespace, args.flow, inputs))
    return _created(cluster, args, name, flow)


def _upload_files(flow: FlowSpec, given: dict[str, str], namespace: str, execution: str) -> dict[str, str]:
    """FILE inputs given as ``@path``: uploaded to the artifact store under the execution's prefix
    (``<namespace>/<execution>/inputs/<id>/<file name>``, deleted with it); the input is then
    the ``s3://`` reference. Needs the store's settings (``OVERTURE_S3_*``) in the environment."""
    files = {i.id for i in flow.inputs if i.type == InputType.FILE}
    uploads = {k: v[1:] for k, v in given.items() if k in files and v.startswith("@")}
    if not uploads:
        return given
    settings = StoreSettings.from_env(os.environ)
    if settings is None:
        raise CliError(
            f"--input {next(iter(uploads))}=@...: uploading a file needs the artifact store: set "
            "OVERTURE_S3_ENDPOINT, OVERTURE_S3_BUCKET, OVERTURE_S3_ACCESS_KEY_ID, OVERTURE_S3_SECRET_ACCESS_KEY"
        )
    store = ArtifactStore(settings)
    result = dict(given)
    for input_id, path in uploads.items():
        if not os.path.isfile(path):
            raise CliError(f"--input {input_id}=@{path}: no such file")
        key = f"{execution_prefix(namespace, execution)}inputs/{input_id}/{os.path.basename(path)}"
        try:
            store.write_file(key, path)
        except Exception as exc:
            raise CliError(f"--input {input_id}=@{path}: upload to {settings.endpoint} failed: {exc}") from None
        result[input_id] = settings.uri(key)
    return result


def cmd_replay(args: argparse.Namespace) -> int:
    """A new Execution of the same flow and inputs that reuses the runs before TASK."""
    cluster = connect_from(args)
    source = cluster.get("executions", args.execution)
    status = source.get("status") or {}
    flow_name = source["spec"]["flowRef"]["name"]
    snapshot = status.get("flowSpec")
    if not task_runs_of(status) or snapshot is None:
        raise CliError(f"execution {args.execution!r} ran no task yet; there is nothing to replay from")
    top = [t["id"] for t in snapshot.get("tasks") or []]
    if args.from_task not in top:
        raise CliError(
            f"--from {args.from_task!r}: not a top-level task of flow {flow_name!r} "
            f"(replay starts at one of: {', '.join(top)})"
        )
    name = manual_name(flow_name)
    cluster.create_execution(replay_execution(name, source, args.from_task))
    return _created(cluster, args, name, None)


# --- get, list -------------------------------------------------------------------------------


def cmd_get(args: argparse.Namespace) -> int:
    plural = PLURALS.get(args.kind.lower())
    if plural is None:
        raise CliError(f"unknown kind {args.kind!r}; use flows or executions (fl, ex)", EXIT_USAGE)
    cluster = connect_from(args)
    if getattr(args, "name", None):
        objects = [cluster.get(plural, args.name)]
    else:
        objects = cluster.list_objects(plural, all_namespaces=args.all_namespaces)
        if args.flow:
            if plural != "executions":
                raise CliError("--flow filters executions; use: overture list executions --flow FLOW", EXIT_USAGE)
            objects = [o for o in objects if (o.get("spec") or {}).get("flowRef", {}).get("name") == args.flow]
        objects.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"].get("creationTimestamp") or ""))
    print(render_objects(plural, objects, args.output, args.all_namespaces, datetime.now(UTC)))
    return 0


def render_objects(plural: str, objects: list[dict[str, Any]], output: str, namespaces: bool, now: datetime) -> str:
    if output == "json":
        return json.dumps(objects[0] if len(objects) == 1 else {"items": objects}, indent=2)
    if output == "yaml":
        return yaml.safe_dump(objects[0] if len(objects) == 1 else {"items": objects}, sort_keys=False).rstrip()
    if output == "name":
        return "\n".join(f"{plural[:-1]}.overture.dev/{o['metadata']['name']}" for o in objects)
    if not objects:
        return f"No {plural} found."
    text = object_table(plural, objects, now, wide=output == "wide", namespaces=namespaces)
    status = objects[0].get("status") or {} if plural == "executions" and len(objects) == 1 else {}
    if status.get("taskRuns") or status.get("archivedRuns"):
        text += "\n\n" + task_run_table(objects[0]["status"], now)
    return text


# --- logs -----------------------------------------------------------------------------------


def _archived_log(namespace: str, execution: str, job: str) -> str | None:
    """The attempt's log from the artifact store (the wrapper archived it when the attempt ended),
    for a pod that is gone; None without store settings (``OVERTURE_S3_*``) or archive."""
    settings = StoreSettings.from_env(os.environ)
    if settings is None:
        return None
    try:
        return ArtifactStore(settings).read_log(attempt_prefix(namespace, execution, job) + "log")
    except Exception:  # none archived (an old attempt, the store down): say the pod is gone
        return None


def cmd_logs(args: argparse.Namespace) -> int:
    """Every task attempt's pod log, in order, each under a header."""
    cluster = connect_from(args)
    execution = cluster.get("executions", args.execution)
    runs = task_runs_of(execution.get("status") or {})
    if args.task:
        chosen = [r for r in runs if args.task in (r["id"], r["taskId"])]
        if not chosen:
            names = ", ".join(dict.fromkeys(r["id"] for r in runs)) or "none yet"
            raise CliError(f"--task {args.task!r}: execution {args.execution!r} has no such task run (runs: {names})")
        runs = chosen
    shown = 0
    for run in runs:
        for attempt in run.get("attempts") or []:
            if args.attempt is not None and attempt["attempt"] != args.attempt:
                continue
            shown += 1
            pod = attempt.get("pod") or _pod_of(cluster, attempt["job"])
            print(f"==> {run['id']} attempt {attempt['attempt']}: {attempt['state']} (job {attempt['job']}) <==")
            if pod is None:
                print(f"(no pod: {attempt.get('message') or 'it has not started yet'})")
                continue
            try:
                text = cluster.read_log(pod)
            except CliError as exc:
                archived = _archived_log(cluster.namespace, args.execution, attempt["job"])
                if archived is None:
                    print(f"({exc})")
                    continue
                text = archived
            print(text, end="" if text.endswith("\n") or not text else "\n")
    if not shown:
        what = f" attempt {args.attempt}" if args.attempt is not None else ""
        print(f"no task attempt{what} with a pod in execution {args.execution!r} yet", file=sys.stderr)
        return 1
    return 0


def _pod_of(cluster: ClusterClient, job: str) -> str | None:
    pods = cluster.pods_of_job(job)
    return str(pods[-1]["metadata"]["name"]) if pods else None


# --- steering -------------------------------------------------------------------------------


def _steer(cluster: ClusterClient, name: str, action: str, given: dict[str, str], done: str) -> dict[str, Any]:
    """Write ``action``'s spec change (``api.steering_patch``) into execution ``name``; print ``done``."""

    def change(execution: dict[str, Any]) -> dict[str, Any]:
        try:
            return steering_patch(action, execution, given)
        except SteeringError as exc:
            raise problems_error(exc.message, exc.problems) from None

    updated = cluster.update_execution_spec(name, change)
    print(f"execution.overture.dev/{name} {done}")
    return updated


def cmd_pause(args: argparse.Namespace) -> int:
    _steer(connect_from(args), args.execution, "pause", {}, "paused: no new task starts; running tasks finish")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    _steer(connect_from(args), args.execution, "resume", parse_inputs(args.input), "resumed")
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    _steer(connect_from(args), args.execution, "kill", {}, "killed: its running tasks are being stopped")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    cluster = connect_from(args)
    updated = _steer(cluster, args.execution, "restart", {}, "restarted: its failed task runs run again")
    if not (args.wait or args.follow):
        return 0
    restarts = int(updated["spec"]["restarts"])
    return follow(cluster, args.execution, Progress(), logs=args.follow, timeout=args.timeout, restarts=restarts)


# --- parsers ------------------------------------------------------------------------------------


def _add_follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-w", "--wait", action="store_true", help="print task states until it ends; exit 1 unless it succeeds"
    )
    parser.add_argument("-f", "--follow", action="store_true", help="as --wait, and stream the task pods' logs")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait (default 3600)")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="start an execution of a flow; --wait/--follow follow it to the end")
    run.add_argument("flow", metavar="FLOW")
    run.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    _add_follow_options(run)
    add_target_options(run)
    run.set_defaults(func=cmd_run)

    for command, help_text in (("get", "show flows or executions (one, with its task runs)"), ("list", None)):
        get = sub.add_parser(command, help=help_text or "list flows or executions, with kubectl's columns")
        get.add_argument("kind", metavar="KIND", help="flows or executions (fl, ex)")
        if command == "get":
            get.add_argument("name", nargs="?", metavar="NAME")
        get.add_argument("--flow", help="only the executions of this flow")
        get.add_argument("-A", "--all-namespaces", action="store_true")
        get.add_argument("-o", "--output", choices=OUTPUTS, default="table")
        add_target_options(get)
        get.set_defaults(func=cmd_get, late_positional="name" if command == "get" else None)

    logs = sub.add_parser("logs", help="the pod logs of an execution's task attempts, in order")
    logs.add_argument("execution", metavar="EXECUTION")
    logs.add_argument("-t", "--task", help="only this task (a task id, or a run id such as process[2])")
    logs.add_argument("--attempt", type=int, help="only this attempt number")
    add_target_options(logs)
    logs.set_defaults(func=cmd_logs)

    for command, func, help_text in (
        ("pause", cmd_pause, "pause an execution: no new task starts (spec.suspend)"),
        ("resume", cmd_resume, "resume a paused execution, or a waiting pause task (with --input)"),
        ("kill", cmd_kill, "kill an execution: delete its running Jobs, end KILLED"),
        ("restart", cmd_restart, "rerun the failed task runs of a FAILED or KILLED execution"),
    ):
        steer = sub.add_parser(command, help=help_text)
        steer.add_argument("execution", metavar="EXECUTION")
        if command == "resume":
            steer.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
        if command == "restart":
            _add_follow_options(steer)
        add_target_options(steer)
        steer.set_defaults(func=func)

    replay = sub.add_parser("replay", help="run an execution again from a task, reusing the outputs before it")
    replay.add_argument("execution", metavar="EXECUTION")
    replay.add_argument("--from", dest="from_task", required=True, metavar="TASK", help="a top-level task id")
    _add_follow_options(replay)
    add_target_options(replay)
    replay.set_defaults(func=cmd_replay)
