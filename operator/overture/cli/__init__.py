"""The ``overture`` command line (also installed as ``kubectl-overture``).

This module parses the command line and dispatches. The commands live beside it, each module
adding its own subcommands to the parser:

- ``files``: ``validate`` and ``crds``, which need no cluster;
- ``cluster``: ``run``, ``get``, ``list``, ``logs``, ``pause``, ``resume``, ``kill``, ``restart``,
  ``replay`` (``follow`` prints a run as it goes, ``tables`` kubectl's columns);
- ``graph``: ``graph``; ``local_run``: ``local run``; ``backfill``: ``backfill``;
- ``operator``: ``operator``, the operator in this process; ``overture ui`` is the web UI's
  server, in ``overture.ui``.

``client`` is the commands' one way to the API server, ``common`` what they share. Every
command exits 0 on success, 1 when what it checked or ran failed, and 2 on a usage error; a
``CliError`` is printed as a message, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from overture.cli import backfill, cluster, files, graph, local_run, operator
from overture.cli.common import CliError
from overture.ui import serve as ui

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="overture", description="Declarative data flows on Kubernetes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    files.add_parsers(sub)  # validate crds
    cluster.add_parsers(sub)  # run get list logs pause resume kill restart replay
    graph.add_parser(sub)
    local_run.add_parser(sub)
    backfill.add_parser(sub)
    operator.add_parser(sub)
    ui.add_parser(sub)  # overture ui: the web UI's server (overture/ui/)
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
