"""``overture local run FLOW.yaml``: run a flow's shell and python tasks here, without a cluster.

The flow is checked as ``overture validate`` checks it and its inputs as ``overture run`` does;
``overture.processes`` then drives the engine with local processes, and the task states, outputs
and logs are printed with the same lines as ``overture run --follow`` prints for a cluster run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from overture.api import State
from overture.cli.common import (
    Progress,
    end_line,
    flow_from_file,
    name_width,
    parse_flow_document,
    parse_inputs,
    typed_inputs,
)
from overture.engine import EmitEvent
from overture.processes import Clock, LocalRun


def cmd_local_run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    doc = flow_from_file(path, args.flow)
    flow_name = str((doc.value.get("metadata") or {}).get("name") or path.stem)
    flow = parse_flow_document(doc, str(path))
    inputs = typed_inputs(flow.inputs, parse_inputs(args.input), f"flow {flow_name!r} cannot run with these inputs")
    progress = Progress(name_width(flow))
    workdir = Path(tempfile.mkdtemp(prefix="overture-local-"))

    def on_event(event: EmitEvent) -> None:
        if args.verbose:
            progress.emit(f"  ({event.type.value} {event.reason}: {event.message})")

    run = LocalRun(
        flow,
        flow_name,
        inputs,
        workdir,
        on_status=progress.update,
        on_log=(lambda _run, _line: None) if args.no_logs else progress.log,
        on_event=on_event,
        log_at=log_place(keep=args.keep, printed=not args.no_logs),
        clock=Clock(skip_delays=args.skip_delays),
    )
    print(f"local execution {run.name} of flow {flow_name} started (work directory {workdir})")
    try:
        status = run.run()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    wire = status.to_wire()
    if status.state == State.PAUSED or not status.state.is_terminal:
        waiting = [r.id for r in status.task_runs if r.state == State.PAUSED]
        print(
            f"{run.name}: {status.state.value}: task {', '.join(waiting) or '?'} waits to be resumed, "
            "which only a cluster run can be (overture resume)",
            file=sys.stderr,
        )
        return 1
    print(end_line(run.name, wire))
    return 0 if status.state in (State.SUCCESS, State.WARNING) else 1


def log_place(*, keep: bool, printed: bool) -> Callable[[str, Path], str]:
    """Where a failed task's message says its log is: no cluster, so not ``kubectl logs``.

    The file, if the work directory is kept; else the lines printed above, if they were."""
    if keep:
        return lambda _run, log_file: str(log_file)
    if printed:
        return lambda run, _log_file: f'the lines "{run} | ..." above'
    return lambda _run, _log_file: "not printed (--no-logs); --keep keeps it in the work directory"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = sub.add_parser("local", help="run a flow here, without a cluster")
    local_sub = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    run = local_sub.add_parser(
        "run",
        help="run a flow file's shell and python tasks as local processes, with the operator's engine",
        description="Runs FILE's shell and python tasks as local processes (/bin/sh -ec, python3 -c), with "
        "the engine and templates of a cluster run, and prints the same task states and outputs. "
        "Tasks write outputs to $OVERTURE_OUTPUTS_FILE (or /overture/outputs.json, which is pointed there). "
        "container and subflow tasks need a cluster and fail here.",
    )
    run.add_argument("file", metavar="FILE", help="YAML file with the Flow")
    run.add_argument("flow", nargs="?", metavar="FLOW", help="the Flow's name, if FILE holds several")
    run.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--no-logs", action="store_true", help="print task states only, not what tasks print")
    run.add_argument("--skip-delays", action="store_true", help="do not wait out retry intervals and pause delays")
    run.add_argument("--keep", action="store_true", help="keep the work directory (outputs and working dirs)")
    run.add_argument("-v", "--verbose", action="store_true", help="also print the engine's Events")
    run.set_defaults(func=cmd_local_run)
