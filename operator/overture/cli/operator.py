"""``overture operator``: the operator in this process, until interrupted.

Its settings are read here, once (``controller.settings.OperatorSettings.from_env``, the command
line on top), and handed to the kopf handlers in kopf's ``memo``.
"""

from __future__ import annotations

import argparse
import dataclasses


def cmd_operator(args: argparse.Namespace) -> int:
    """Run the operator in this process until interrupted."""
    import logging
    import os
    import sys

    from overture.kube.store import APISERVER_DEPTH
    from overture.process_memory import docstrings_compiled_out, lean, lean_interpreter

    again = lean_interpreter(sys.flags.optimize, sys.executable, sys.orig_argv, docstrings_compiled_out())
    if again is not None:  # this process, started again as python -OO -X no_debug_ranges (same pid, env and fds)
        os.execv(again[0], again)
    lean()  # before kopf is imported
    # kopf's watches and our lists decode with Python's json, whose C decoder stops at the
    # recursion limit (1,000): one object nested deeper, which the apiserver accepts up to
    # 10,000 levels, stopped kopf's watcher and the operator with it, at every start. Decoding
    # 50,000 levels fits the 8 MiB stack of a thread here; the store cuts what it keeps.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 2 * APISERVER_DEPTH))
    import kopf

    from overture.api import build_models
    from overture.controller.settings import OperatorSettings
    from overture.handlers import make_memo  # importing it registers the kopf handlers

    build_models()

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's own login reads it
    settings = OperatorSettings.from_env(os.environ)
    settings = dataclasses.replace(
        settings,
        http_port=args.port,
        namespaces=tuple(args.namespace) if args.namespace else settings.namespaces,
    )
    if args.task_runtime:
        controller = dataclasses.replace(settings.controller, task_runtime=args.task_runtime)
        settings = dataclasses.replace(settings, controller=controller)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    kopf.configure(verbose=args.verbose, debug=False, log_prefix=False)
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace or (),
        standalone=True,
        memo=make_memo(settings),
    )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    operator = sub.add_parser("operator", help="run the operator (kubeconfig or in-cluster config)")
    operator.add_argument("-n", "--namespace", action="append", help="serve only this namespace (repeatable)")
    operator.add_argument("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, or in-cluster")
    operator.add_argument("--port", type=int, default=8080, help="HTTP port for /healthz, /readyz, /metrics")
    operator.add_argument(
        "--task-runtime",
        choices=("managed-job", "job", "pod"),
        help="run each task attempt as a managed-job, a Job whose pod and status the operator makes; as a job, "
        "a Job the built-in Job controller runs; or as a pod the operator makes, with no Job "
        "(default: $OVERTURE_TASK_RUNTIME, else managed-job)",
    )
    operator.add_argument("-v", "--verbose", action="store_true")
    operator.set_defaults(func=cmd_operator)
