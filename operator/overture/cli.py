"""The ``overture`` command line (also installed as ``kubectl-overture``).

This module parses the command line and dispatches; it holds the commands that need no cluster
(``validate``, ``crds``) and ``operator``. The others live beside it, all in the CLI's import
layer: ``cli_cluster`` (run, get, list, logs, pause, resume, kill, restart, replay), ``cli_graph``
(graph), ``cli_local`` (local run); ``cli_client`` is their one way to the API server and
``cli_common`` what they share. Every command exits 0 on success, 1 when what it checked or ran
failed, and 2 on a usage error; a ``CliError`` is printed as a message, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from overture import cli_cluster, cli_graph, cli_local
from overture.api import API_GROUP, SpecError, parse_flow
from overture.cli_common import CliError, load_documents, parse_inputs
from overture.crd import render_crds
from overture.triggers.backfill import add_parser as add_backfill_parser
from overture.validation import validate_flow

DEFAULT_CRD_DIR = "crds"
OTHER_OVERTURE_KINDS = frozenset({"Execution"})
TERMINAL_STATES = ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED")
__all__ = ["TERMINAL_STATES", "build_parser", "load_documents", "main", "parse_inputs"]


def flow_problems(doc: Any) -> list[str]:
    """Schema and semantic problems of one Flow document; [] if it is valid."""
    try:
        flow = parse_flow(doc)
    except SpecError as exc:
        return exc.problems
    return validate_flow(flow)


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for name in args.files:
        path = Path(name)
        try:
            docs = load_documents(path)
        except SpecError as exc:
            print(exc, file=sys.stderr)
            failed += 1
            continue
        flows = [d for d in docs if is_flow_candidate(d)]
        if not flows:
            kinds = ", ".join(sorted({str(d.get("kind")) for d in docs if isinstance(d, dict)}))
            print(f"{path}: no Flow in this file" + (f" (kinds: {kinds})" if kinds else ""), file=sys.stderr)
            failed += 1
        for doc in flows:
            label = f"{path}" + (f" ({doc['metadata']['name']})" if _has_name(doc) else "")
            problems = flow_problems(doc)
            if problems:
                failed += 1
                print(f"{label}: invalid", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
            elif not args.quiet:
                print(f"{label}: valid")
    return 1 if failed else 0


def is_flow_candidate(doc: Any) -> bool:
    """Whether ``validate`` checks ``doc`` as a Flow.

    Objects of other APIs (a ConfigMap next to a Flow) and Executions are skipped; an Overture
    object of an unknown kind, or a Flow of another apiVersion, is checked so its error is shown.
    """
    if not isinstance(doc, dict):
        return True
    kind, api_version = doc.get("kind", "Flow"), doc.get("apiVersion")
    if kind == "Flow":
        return True
    is_ours = isinstance(api_version, str) and api_version.split("/")[0] == API_GROUP
    return is_ours and not (isinstance(kind, str) and kind in OTHER_OVERTURE_KINDS)


def _has_name(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("metadata"), dict) and "name" in doc["metadata"]


def cmd_crds(args: argparse.Namespace) -> int:
    rendered = render_crds()
    if args.stdout:
        print("---\n".join(rendered.values()), end="")
        return 0
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"Wrote {out / name}")
    return 0


def cmd_operator(args: argparse.Namespace) -> int:
    """Run the operator in this process until interrupted."""
    import logging
    import os

    from overture.footprint import lean

    lean()  # before kopf is imported
    import kopf

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    os.environ["OVERTURE_HTTP_PORT"] = str(args.port)
    if args.namespace:
        os.environ["OVERTURE_NAMESPACES"] = ",".join(args.namespace)
    import overture.handlers  # noqa: F401  (registers the kopf handlers)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    kopf.configure(verbose=args.verbose, debug=False, log_prefix=False)
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace or (),
        standalone=True,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="overture", description="Declarative data flows on Kubernetes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check Flow files; exit 1 if any is invalid")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    validate.set_defaults(func=cmd_validate)

    crds = sub.add_parser("crds", help="write the CustomResourceDefinitions generated from the models")
    crds.add_argument("-o", "--output-dir", default=DEFAULT_CRD_DIR)
    crds.add_argument("--stdout", action="store_true", help="print them instead of writing files")
    crds.set_defaults(func=cmd_crds)

    cli_cluster.add_parsers(sub)  # run get list logs pause resume kill restart replay
    cli_graph.add_parser(sub)
    cli_local.add_parser(sub)
    add_backfill_parser(sub)  # overture backfill FLOW --from --to (triggers/backfill.py)

    operator = sub.add_parser("operator", help="run the operator (kubeconfig or in-cluster config)")
    operator.add_argument("-n", "--namespace", action="append", help="serve only this namespace (repeatable)")
    operator.add_argument("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, or in-cluster")
    operator.add_argument("--port", type=int, default=8080, help="HTTP port for /healthz, /readyz, /metrics")
    operator.add_argument("-v", "--verbose", action="store_true")
    operator.set_defaults(func=cmd_operator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse cannot read an optional positional after an option (``get ex -n ns NAME``): a
    # command that takes one says so with ``late_positional``.
    late = getattr(args, "late_positional", None)
    if extra and late and getattr(args, late) is None and len(extra) == 1 and not extra[0].startswith("-"):
        setattr(args, late, extra.pop())
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `overture list executions | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
