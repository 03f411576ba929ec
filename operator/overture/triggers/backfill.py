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
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TextIO

from overture.api import (
    LABEL_BACKFILL,
    LABEL_FLOW,
    Flow,
    ScheduleTrigger,
    SpecError,
    State,
    TriggerKind,
    parse_flow,
)
from overture.kube.client import Kube
from overture.kube.errors import ApiError, RejectedError
from overture.triggers.executions import build_execution, local_date, schedule_name, stamp
from overture.triggers.schedule import ticks_between, zone
from overture.validation import validate_flow

MAX_TICKS = 10000
POLL_SECONDS = 2.0


class BackfillError(Exception):
    """A backfill that cannot run; the message says why and what to do."""


def parse_moment(text: str, timezone: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BackfillError(
            f"{option}: {text!r} is not a date or date-time, e.g. 2026-01-31 or 2026-01-31T02:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone(timezone))


def schedule_trigger(flow: Flow, trigger_id: str | None) -> ScheduleTrigger:
    schedules = [t for t in flow.spec.triggers if isinstance(t, ScheduleTrigger)]
    names = ", ".join(t.id for t in schedules) or "none"
    if trigger_id is not None:
        found = next((t for t in schedules if t.id == trigger_id), None)
        if found is None:
            raise BackfillError(
                f"--trigger: flow {flow.metadata.name!r} has no schedule trigger {trigger_id!r} ({names})"
            )
        return found
    if len(schedules) != 1:
        raise BackfillError(
            f"flow {flow.metadata.name!r} has {len(schedules)} schedule triggers ({names}); name one with --trigger"
        )
    return schedules[0]


def plan(flow: Flow, trigger_id: str | None, start_text: str, end_text: str) -> tuple[ScheduleTrigger, list[datetime]]:
    """The trigger and its ticks in the range; raises BackfillError."""
    trigger = schedule_trigger(flow, trigger_id)
    start = parse_moment(start_text, trigger.timezone, "--from")
    end = parse_moment(end_text, trigger.timezone, "--to")
    if end < start:
        raise BackfillError(f"--to ({end_text}) is before --from ({start_text})")
    ticks = ticks_between(trigger, start, end, MAX_TICKS + 1)
    if len(ticks) > MAX_TICKS:
        raise BackfillError(
            f"more than {MAX_TICKS} ticks between {start_text} and {end_text}; backfill a shorter range"
        )
    return trigger, ticks


def backfill_label(ticks: list[datetime]) -> str:
    return f"{stamp(ticks[0])}-{stamp(ticks[-1])}" if ticks else "empty"


def build_backfill(flow: Flow, trigger: ScheduleTrigger, tick: datetime, label: str) -> dict[str, Any]:
    return build_execution(
        flow,
        trigger,
        name=schedule_name(flow.metadata.name, trigger.id, tick, backfill=True),
        kind=TriggerKind.BACKFILL,
        date=local_date(tick, trigger.timezone),
        labels={LABEL_BACKFILL: label},
    )


async def unfinished(kube: Kube, namespace: str, flow: str) -> int:
    items = await kube.list_objects("executions", namespace, f"{LABEL_FLOW}={flow},{LABEL_BACKFILL}")
    states = ((item.get("status") or {}).get("state") for item in items)
    return sum(1 for s in states if s not in {t.value for t in State if t.is_terminal})


async def run_backfill(
    kube: Kube,
    namespace: str,
    flow_name: str,
    args: argparse.Namespace,
    out: TextIO = sys.stdout,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    try:
        body = await kube.get_flow(namespace, flow_name)
    except RejectedError as exc:
        if exc.status == 404:
            raise BackfillError(f"no Flow {flow_name!r} in namespace {namespace!r}") from None
        raise
    try:
        flow = parse_flow(body)
    except SpecError as exc:
        raise BackfillError(f"flow {flow_name!r} is invalid: " + "; ".join(exc.problems)) from None
    problems = validate_flow(flow)
    if problems:
        raise BackfillError(f"flow {flow_name!r} is invalid: " + "; ".join(problems))
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
        while args.concurrency and await unfinished(kube, namespace, flow_name) >= args.concurrency:
            await sleep(POLL_SECONDS)
        created = await kube.create_execution(namespace, manifest)
        print(f"execution.overture.dev/{name} {'created' if created else 'exists already'}", file=out)
    print(f"{len(ticks)} ticks of {trigger.id!r}, label {LABEL_BACKFILL}={label}", file=out)
    return 0


def _namespace(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    from kubernetes import config  # reads the kubeconfig file only: the current context's namespace

    try:
        _, active = config.list_kube_config_contexts(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    except Exception:  # no kubeconfig (in a pod): the default namespace
        return "default"
    return str((active or {}).get("context", {}).get("namespace") or "default")


def cmd_backfill(args: argparse.Namespace) -> int:
    async def main() -> int:
        kube = await Kube.connect(args.kubeconfig, args.context)
        try:
            return await run_backfill(kube, _namespace(args), args.flow, args)
        finally:
            await kube.close()

    try:
        return asyncio.run(main())
    except BackfillError as exc:
        print(f"backfill: {exc}", file=sys.stderr)
        return 1
    except ApiError as exc:
        print(f"backfill: the API server refused: {exc}", file=sys.stderr)
        return 1


def add_parser(sub: Any) -> None:
    """``overture backfill``, added to the CLI's subcommands."""
    parser = sub.add_parser("backfill", help="one execution per schedule tick of a past range")
    parser.add_argument("flow", metavar="FLOW")
    parser.add_argument("--from", dest="start", required=True, help="date or date-time, included")
    parser.add_argument("--to", dest="end", required=True, help="date or date-time, included")
    parser.add_argument("--trigger", help="the schedule trigger's id (needed when the flow has several)")
    parser.add_argument("--concurrency", type=int, default=0, metavar="N", help="at most N unfinished at once")
    parser.add_argument("--dry-run", action="store_true", help="print the executions, create nothing")
    parser.add_argument("-n", "--namespace")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--context")
    parser.set_defaults(func=cmd_backfill)
