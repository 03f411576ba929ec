"""``overture ui``: run the UI's server.

    overture ui [--port 8090] [--address 127.0.0.1] [--auth kubeconfig|token|impersonate]

``kubeconfig`` (the default on a workstation) acts with the user's kubeconfig and prints a URL
holding a fresh session token (in the fragment, which browsers never send to a server or log);
``OVERTURE_UI_TOKEN`` sets it instead. ``token`` (the chart's mode) needs each person's own
bearer token; ``impersonate`` is for a deployment behind an authenticating proxy only.

The Kubernetes client and the server are imported when the command runs, not when its parser is
made: ``overture --help`` builds every command's parser, and kubernetes_asyncio took most of it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubernetes_asyncio import client

    from overture.ui.auth import Authenticator

MODES = ("kubeconfig", "token", "impersonate")


class KubeconfigError(Exception):
    """The server cannot act for anybody: its kubeconfig is missing or unusable."""


async def _configuration(kubeconfig: str | None, context: str | None, in_cluster: bool) -> client.Configuration:
    from kubernetes_asyncio import client, config

    conf = client.Configuration()
    if in_cluster:
        config.load_incluster_config(client_configuration=conf)  # type: ignore[no-untyped-call]
        return conf
    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if not os.path.exists(path):
        raise KubeconfigError(f"cannot load kubeconfig {path}: no such file")
    try:
        await config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=conf)
    except Exception as exc:  # the kubernetes client raises several unrelated types here
        raise KubeconfigError(f"cannot load kubeconfig {path}: {exc}") from None
    return conf


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )


async def build_authenticator(args: argparse.Namespace) -> tuple[Authenticator, str | None]:
    """The authenticator of ``args.auth`` and, in kubeconfig mode, the session token."""
    from kubernetes_asyncio import client

    from overture.ui.auth import ImpersonateAuth, KubeconfigAuth, TokenAuth

    in_cluster = args.kubeconfig is None and _in_cluster()
    conf = await _configuration(args.kubeconfig, args.context, in_cluster)
    if args.auth == "token":
        return TokenAuth(conf), None
    if args.auth == "impersonate":
        return ImpersonateAuth(client.ApiClient(conf)), None
    token = os.environ.get("OVERTURE_UI_TOKEN") or secrets.token_urlsafe(32)
    return KubeconfigAuth(client.ApiClient(conf), token), token


def default_namespace(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    from kubernetes_asyncio import config

    try:
        _, active = config.list_kube_config_contexts(config_file=args.kubeconfig)
    except Exception:  # no kubeconfig (in a pod)
        return os.environ.get("POD_NAMESPACE") or "default"
    return str((active or {}).get("context", {}).get("namespace") or "default")


def cmd_ui(args: argparse.Namespace) -> int:
    import uvicorn

    from overture.kube.artifacts import ArtifactStore, StoreSettings
    from overture.ui.app import Settings, create_app
    from overture.ui.store import StoreReader

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def main() -> None:
        authenticator, token = await build_authenticator(args)
        store = StoreSettings.from_env(os.environ)
        reader = StoreReader(ArtifactStore(store)) if store is not None else None
        app = create_app(authenticator, Settings(mode=args.auth, namespace=default_namespace(args)), store=reader)
        server = uvicorn.Server(
            uvicorn.Config(app, host=args.address, port=args.port, log_level="warning", access_log=False)
        )
        url = f"http://{args.address}:{args.port}/"
        print(f"Overture UI on {url}" + (f"#token={token}" if token else " (each person signs in with a token)"))
        print(f"mode: {args.auth}; acting as the {'kubeconfig user' if token else 'caller'}", flush=True)
        await server.serve()

    try:
        asyncio.run(main())
    except KubeconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def add_parser(sub: Any) -> None:
    ui = sub.add_parser("ui", help="the web UI: flows, executions, logs (as you, with your credentials)")
    ui.add_argument("--port", type=int, default=8090)
    ui.add_argument("--address", default="127.0.0.1", help="listen address (0.0.0.0 in a pod)")
    ui.add_argument(
        "--auth",
        choices=MODES,
        default=os.environ.get("OVERTURE_UI_AUTH", "kubeconfig"),
        help="kubeconfig: act with your kubeconfig (default); token: each caller's bearer token; "
        "impersonate: behind an authenticating proxy only",
    )
    ui.add_argument("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, or in-cluster")
    ui.add_argument("--context")
    ui.add_argument("-n", "--namespace", help="the namespace shown first (default: the context's)")
    ui.set_defaults(func=cmd_ui)
