"""The ``overture`` command line (also installed as ``kubectl-overture``).

This module parses the command line and dispatches. The commands live beside it, each module
adding its own subcommands to the parser:

- ``files``: ``validate``, ``crds`` and ``schema``, which need no cluster;
- ``cluster``: ``run``, ``get``, ``list``, ``logs``, ``pause``, ``resume``, ``kill``, ``restart``,
  ``replay`` (``follow`` prints a run as it goes, ``tables`` kubectl's columns);
- ``graph``: ``graph``; ``local_run``: ``local run``; ``backfill``: ``backfill``;
- ``operator``: ``operator``, the operator in this process; ``overture ui`` is the web UI's
  server, in ``overture.ui``.

``client`` is the commands' one way to the API server, ``common`` what they share. Every
command exits 0 on success, 1 when what it checked or ran failed, and 2 on a usage error; a
``CliError`` (or a ``SpecError``) is printed as a message, and anything else as one line naming
the bug, never a traceback (``OVERTURE_DEBUG=1`` shows it).

Only the named command's module is imported (``COMMANDS``): ``overture validate`` does not load the
Kubernetes clients, kopf or the UI's server, which took most of its start-up time.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from overture.api import SpecError, load_flow_validator_with
from overture.cli import validator_cache
from overture.cli.common import CliError

__all__ = ["COMMANDS", "build_parser", "main"]

# The module that adds each command's parser (its ``add_parsers`` or ``add_parser``), in help order.
COMMANDS = {
    "validate": "overture.cli.files",
    "crds": "overture.cli.files",
    "schema": "overture.cli.files",
    **dict.fromkeys(
        ("run", "get", "list", "logs", "pause", "resume", "kill", "restart", "replay"), "overture.cli.cluster"
    ),
    "graph": "overture.cli.graph",
    "local": "overture.cli.local_run",
    "backfill": "overture.cli.backfill",
    "operator": "overture.cli.operator",
    "ui": "overture.ui.serve",  # overture ui: the web UI's server (overture/ui/)
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` only, or of every command (for ``--help`` and an unknown name)."""
    parser = argparse.ArgumentParser(prog="overture", description="Declarative data flows on Kubernetes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in names:
        module = importlib.import_module(name)
        (getattr(module, "add_parsers", None) or module.add_parser)(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    load_flow_validator_with(validator_cache.load)  # a Flow's validator from disk, not built at each start
    try:
        return _run(argv)
    except (CliError, SpecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code if isinstance(exc, CliError) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `overture list executions | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug: one line a person can report, the traceback on request
        if os.environ.get("OVERTURE_DEBUG"):
            raise
        print(
            f"error: {type(exc).__name__}: {exc}\n(this is a bug in overture; OVERTURE_DEBUG=1 prints the traceback)",
            file=sys.stderr,
        )
        return 1


def _run(argv: list[str]) -> int:
    parser = build_parser(_command_of(argv))
    args, extra = parser.parse_known_args(argv)
    # argparse cannot read an optional positional after an option (``get ex -n ns NAME``): a
    # command that takes one says so with ``late_positional``.
    late = getattr(args, "late_positional", None)
    if extra and late and getattr(args, late) is None and len(extra) == 1 and not extra[0].startswith("-"):
        setattr(args, late, extra.pop())
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
