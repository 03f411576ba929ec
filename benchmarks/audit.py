"""Who writes what in a namespace, per task: a kube-apiserver audit log broken down by writer and request.

    python -m benchmarks.audit AUDIT_LOG --namespace NS [--tasks N] [--since ISO] [--until ISO]

The local cluster writes one when started with ``OVERTURE_APISERVER_AUDIT=1``
(hack/cluster/up.sh: Metadata level, ``$OVERTURE_CLUSTER_DIR/logs/audit.log``). Each write (create,
update, patch, delete, deletecollection) on an object in ``NS`` that the API server answered is
counted once, keyed by who sent it (a kube-controller-manager controller's ServiceAccount, the
scheduler, a node, or another user with its user agent's product: ``kwok``, ``python``, ...),
verb, resource and subresource. Refused writes (a 409 conflict, a 404) are counted apart: they
cost the API server a request each too. The namespace's own deletion and everything after it
(the garbage collector emptying it) is left out, as ``benchmarks.peer``'s counters stop at the
run's end: pass ``--until`` to cut earlier.

This is ``benchmarks.peer``'s "all writes per task in the namespace" taken apart (its counters
leave out system:masters, which the audit log names as ``admin``).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import print_table

WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
CONTROLLER_ACCOUNT = "system:serviceaccount:kube-system:"


@dataclass(frozen=True, order=True)
class Request:
    """One kind of write: who sent it, and what it asked for."""

    writer: str
    verb: str
    resource: str
    subresource: str = ""
    refused: bool = False


def writer(event: Mapping[str, Any]) -> str:
    """A short name for who sent ``event``: a controller by its ServiceAccount (kube-controller-manager
    runs each under its own), a ServiceAccount elsewhere as namespace/name, a system user without
    its ``system:`` prefix; the admin (system:masters: kwok, the benchmark, kubectl) by user agent."""
    user = event.get("user") or {}
    name = str(user.get("username", "?"))
    if "system:masters" in (user.get("groups") or []) and not name.startswith("system:"):
        agent = str(event.get("userAgent", "")).split("/", 1)[0] or "?"
        return f"admin ({agent})"
    if name.startswith(CONTROLLER_ACCOUNT):
        return name.removeprefix(CONTROLLER_ACCOUNT)
    if name.startswith("system:serviceaccount:"):
        return "sa " + name.removeprefix("system:serviceaccount:").replace(":", "/")
    return name.removeprefix("system:")


def namespace_writes(
    events: Iterable[Mapping[str, Any]], namespace: str, since: str = "", until: str = ""
) -> Counter[Request]:
    """The writes on objects in ``namespace`` between ``since`` and ``until`` (RFC 3339 UTC strings,
    compared as text; empty: no bound), and before the namespace's own deletion, by kind of write."""
    counts: Counter[Request] = Counter()
    for event in events:
        if event.get("stage") != "ResponseComplete" or event.get("verb") not in WRITES:
            continue
        ref = event.get("objectRef") or {}
        at = str(event.get("requestReceivedTimestamp", ""))
        if ref.get("resource") == "namespaces" and ref.get("name") == namespace and event["verb"] == "delete":
            until = min(until, at) if until else at
        if ref.get("namespace") != namespace or at < since or (until and at >= until):
            continue
        code = int((event.get("responseStatus") or {}).get("code", 0))
        counts[
            Request(
                writer(event),
                str(event["verb"]),
                str(ref.get("resource", "")),
                str(ref.get("subresource", "")),
                refused=code >= 300,
            )
        ] += 1
    return counts


def by_writer(counts: Mapping[Request, int]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for request, n in counts.items():
        totals[request.writer] += n
    return totals


def read_events(path: Path) -> Iterable[dict[str, Any]]:
    with path.open() as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def main(argv: list[str] | None = None) -> Counter[Request]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path, help="the audit log (JSON lines)")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--tasks", type=int, default=1, help="divide by this many tasks (default 1: totals)")
    parser.add_argument("--since", default="", help="count from this time on (RFC 3339, UTC)")
    parser.add_argument("--until", default="", help="count up to this time (RFC 3339, UTC)")
    args = parser.parse_args(argv)
    counts = namespace_writes(read_events(args.log), args.namespace, args.since, args.until)
    per = args.tasks
    rows = [
        [
            r.writer,
            r.verb,
            r.resource + (f"/{r.subresource}" if r.subresource else ""),
            "refused" if r.refused else "",
            f"{n / per:.2f}",
        ]
        for r, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    print_table(
        f"writes in {args.namespace} per task ({per} tasks)", ["writer", "verb", "resource", "", "per task"], rows
    )
    totals = by_writer(counts)
    print_table("by writer", ["writer", "per task"], [[w, f"{n / per:.2f}"] for w, n in totals.most_common()])
    every = sum(counts.values())
    counted = every - sum(n for w, n in totals.items() if w.startswith("admin "))
    print(
        f"all writes in {args.namespace}: {every / per:.2f} per task ({every} in all); "
        f"without the admin's (what benchmarks.peer counts): {counted / per:.2f}"
    )
    return counts


if __name__ == "__main__":
    main()
