"""The ``overture`` command line (also installed as ``kubectl-overture``).

Subcommands that need no cluster (``validate``, ``crds``) live here; the ones that talk to the
API server are added by the modules that own that talk. Every command exits 0 on success, 1 when
what it checked or ran failed, and 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from overture.api import API_GROUP, SpecError, parse_flow
from overture.crd import render_crds
from overture.validation import validate_flow

DEFAULT_CRD_DIR = "crds"
OTHER_OVERTURE_KINDS = frozenset({"Execution"})


class _Loader(yaml.SafeLoader):
    """Safe YAML that reads timestamps as strings, as kubectl does: ``default: 2026-01-31``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(path: Path) -> list[Any]:
    """Every YAML document in ``path``; raises SpecError for unreadable YAML."""
    try:
        with path.open(encoding="utf-8") as stream:
            return [doc for doc in yaml.load_all(stream, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError([f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"]) from None
    except OSError as exc:
        raise SpecError([f"{path}: cannot read: {exc.strerror}"]) from None


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


TERMINAL_STATES = ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED")


def parse_inputs(pairs: Sequence[str]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--input {pair!r}: use NAME=VALUE")
        inputs[name] = value
    return inputs


def cmd_run(args: argparse.Namespace) -> int:
    """Create an Execution of FLOW; with --wait, follow task states until it ends."""
    import time
    import uuid

    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    try:
        config.load_kube_config(config_file=args.kubeconfig, context=args.context)  # type: ignore[no-untyped-call]
    except Exception as exc:  # the kubernetes client raises several unrelated types here
        where = args.kubeconfig or "$KUBECONFIG or ~/.kube/config"
        print(f"no cluster reachable: could not load {where}: {exc}", file=sys.stderr)
        return 1
    _, active = config.list_kube_config_contexts(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    namespace = args.namespace or active.get("context", {}).get("namespace") or "default"
    api = client.CustomObjectsApi()
    group = ("overture.dev", "v1alpha1", namespace)
    try:
        api.get_namespaced_custom_object(*group, "flows", args.flow)
    except ApiException as exc:
        if exc.status == 404:
            print(f"no Flow {args.flow!r} in namespace {namespace!r}", file=sys.stderr)
            return 1
        print(f"cannot read flows in {namespace!r}: {exc.reason}", file=sys.stderr)
        return 1
    name = f"{args.flow[:50]}-{uuid.uuid4().hex[:6]}"
    body = {
        "apiVersion": "overture.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"flowRef": {"name": args.flow}, "inputs": parse_inputs(args.input), "trigger": {"type": "manual"}},
    }
    api.create_namespaced_custom_object(*group, "executions", body)
    print(f"execution.overture.dev/{name} created")
    if not args.wait:
        return 0
    seen: dict[str, str] = {}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        execution: dict[str, Any] = api.get_namespaced_custom_object(*group, "executions", name)  # type: ignore[assignment]
        status = execution.get("status") or {}
        for run in status.get("taskRuns") or []:
            if seen.get(run["id"]) != run["state"]:
                seen[run["id"]] = run["state"]
                extra = f" {run['outputs']}" if run.get("outputs") else ""
                extra += f" ({run['message']})" if run.get("message") and run["state"] != "SUCCESS" else ""
                print(f"  {run['id']:<30} {run['state']}{extra}")
        if status.get("state") in TERMINAL_STATES:
            print(
                f"{name}: {status['state']} after {status.get('duration', '?')}"
                + (f": {status['message']}" if status.get("message") else "")
            )
            return 0 if status["state"] in ("SUCCESS", "WARNING") else 1
        time.sleep(0.5)
    print(f"{name}: still running after {args.timeout}s", file=sys.stderr)
    return 1


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

    run = sub.add_parser("run", help="start an execution of a flow; --wait follows it to the end")
    run.add_argument("flow", metavar="FLOW")
    run.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("-n", "--namespace")
    run.add_argument("--kubeconfig")
    run.add_argument("--context")
    run.add_argument(
        "-w", "--wait", action="store_true", help="print task states until it ends; exit 1 unless it succeeds"
    )
    run.add_argument("--timeout", type=float, default=3600)
    run.set_defaults(func=cmd_run)

    operator = sub.add_parser("operator", help="run the operator (kubeconfig or in-cluster config)")
    operator.add_argument("-n", "--namespace", action="append", help="serve only this namespace (repeatable)")
    operator.add_argument("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, or in-cluster")
    operator.add_argument("--port", type=int, default=8080, help="HTTP port for /healthz, /readyz, /metrics")
    operator.add_argument("-v", "--verbose", action="store_true")
    operator.set_defaults(func=cmd_operator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
