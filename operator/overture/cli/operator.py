"""``overture operator``: the operator in this process, until interrupted."""

from __future__ import annotations

import argparse


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


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    operator = sub.add_parser("operator", help="run the operator (kubeconfig or in-cluster config)")
    operator.add_argument("-n", "--namespace", action="append", help="serve only this namespace (repeatable)")
    operator.add_argument("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, or in-cluster")
    operator.add_argument("--port", type=int, default=8080, help="HTTP port for /healthz, /readyz, /metrics")
    operator.add_argument("-v", "--verbose", action="store_true")
    operator.set_defaults(func=cmd_operator)
