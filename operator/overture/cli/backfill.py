"""Backfills: one Execution per schedule tick of a past range, ``overture backfill``.

    overture backfill FLOW --from 2026-01-01 --to 2026-01-31 [--trigger ID] [--concurrency N] [--dry-run]

- ``--from`` and ``--to`` are dates or date-times, both included; without an offset they are
  read in the trigger's timezone (``--from 2026-01-01`` is midnight there).
- Each Execution is labelled ``overture.dev/backfill=<from>-<to>`` (and ``overture.dev/flow``,
  ``overture.dev/trigger``), has ``spec.trigger.type: backfill`` and the tick as
  ``trigger.date``, so ``{{ trigger.date }}`` templates render as they would have on time.
- Names are ``<flow>-<trigger>-bf-<tick>-<hash>``: computed from the tick only, so running the
  same backfill again (or an overlapping one) creates nothing twice. They differ from the names
  of scheduled runs: a backfill over ticks that already ran runs them again, on purpose.
- ``--concurrency N`` keeps at most N backfill executions of the flow unfinished at once,
  polling until one ends; the flow's own ``concurrency`` applies on top, as for any execution.
- At most ``MAX_TICKS`` ticks per backfill: a typo in a range should not start a million runs.

It talks to the cluster through ``cli.client``, as every other command does.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TextIO

from overture.api import (
    LABEL_BACKFILL,
    LABEL_FLOW,
    SpecError,
    is_terminal,
)
from overture.cli.client import ClusterClient, add_target_options, connect_from
from overture.cli.common import CliError
from overture.triggers.backfills import BackfillError, backfill_label, build_backfill, plan
from overture.validation import read_flow

POLL_SECONDS = 2.0


def unfinished(cluster: ClusterClient, flow: str) -> int:
    items = cluster.list_objects("executions", labels=f"{LABEL_FLOW}={flow},{LABEL_BACKFILL}")
    states = ((item.get("status") or {}).get("state") for item in items)
    return sum(1 for s in states if not is_terminal(s))


def run_backfill(
    cluster: ClusterClient,
    flow_name: str,
    args: argparse.Namespace,
    out: TextIO = sys.stdout,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    body = cluster.get("flows", flow_name)
    try:
        flow = read_flow(body).valid()
    except SpecError as exc:
        raise BackfillError(f"flow {flow_name!r} is invalid: " + "; ".join(exc.problems)) from None
    trigger, ticks = plan(flow, args.trigger, args.start, args.end)
    label = backfill_label(ticks)
    if not ticks:
        print(f"no tick of {trigger.id!r} ({trigger.cron}, {trigger.timezone}) in that range", file=out)
        return 0
    for tick in ticks:
        manifest = build_backfill(flow, trigger, tick, label)
        name = manifest["metadata"]["name"]
        if args.dry_run:
            print(f"{name}  {manifest['spec']['trigger']['date']}  (dry run)", file=out)
            continue
        while args.concurrency and unfinished(cluster, flow_name) >= args.concurrency:
            sleep(POLL_SECONDS)
        created = cluster.create_execution(manifest, exist_ok=True)
        print(f"execution.overture.dev/{name} {'created' if created else 'exists already'}", file=out)
    print(f"{len(ticks)} ticks of {trigger.id!r}, label {LABEL_BACKFILL}={label}", file=out)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    try:
        return run_backfill(connect_from(args), args.flow, args)
    except BackfillError as exc:
        raise CliError(str(exc)) from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("backfill", help="one execution per schedule tick of a past range")
    parser.add_argument("flow", metavar="FLOW")
    parser.add_argument("--from", dest="start", required=True, help="date or date-time, included")
    parser.add_argument("--to", dest="end", required=True, help="date or date-time, included")
    parser.add_argument("--trigger", help="the schedule trigger's id (needed when the flow has several)")
    parser.add_argument("--concurrency", type=int, default=0, metavar="N", help="at most N unfinished at once")
    parser.add_argument("--dry-run", action="store_true", help="print the executions, create nothing")
    add_target_options(parser)
    parser.set_defaults(func=cmd_backfill)
