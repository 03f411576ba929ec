"""The CLI's one way to the Kubernetes API (the sync ``kubernetes`` client: a CLI waits anyway).

``connect`` loads a kubeconfig (or the in-cluster config) and checks the API server answers;
every call goes through ``_call``, which turns API and connection errors into ``CliError``
messages that say what was tried: the kubeconfig and context, the object and its namespace.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from overture.api import API_GROUP, API_VERSION, SELF_SUBJECT_REVIEW, attempt_of_pod, username_of, with_requester
from overture.cli.common import CliError

KINDS = {"flows": "Flow", "executions": "Execution"}
REQUEST_TIMEOUT = 15
LOG_CONTAINER = "task"


@dataclass
class Target:
    """Where a command connects: the kubeconfig and context it tried, and the namespace."""

    kubeconfig: str
    context: str
    namespace: str
    server: str = ""

    def describe(self) -> str:
        return f"kubeconfig {self.kubeconfig}, context {self.context!r}" + (
            f", server {self.server}" if self.server else ""
        )


class ClusterClient:
    def __init__(self, api: Any, target: Target) -> None:
        from kubernetes import client

        self.api = api
        self.target = target
        self.namespace = target.namespace
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.authentication = client.AuthenticationV1Api(api)
        self._username: str | None = None

    # --- errors ---------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], Any], missing: str | None = None) -> Any:
        """Run ``call``; a 404 raises CliError(``missing``) when given, any failure says ``what`` failed."""
        try:
            return call()
        except Exception as exc:
            raise self._error(exc, what, missing) from None

    def _error(self, exc: Exception, what: str, missing: str | None = None) -> Exception:
        """The CliError that tells a person what ``exc`` means; ``exc`` itself if it is no API error."""
        from kubernetes.client.exceptions import ApiException

        if isinstance(exc, ApiException):
            message = _api_message(exc)
            if exc.status == 404 and "could not find the requested resource" in message:
                return CliError(
                    f"the Overture CRDs are not installed in this cluster ({self.target.describe()}); "
                    "install them with: kubectl apply -f crds/"
                )
            if exc.status == 404 and missing:
                return CliError(missing)
            if exc.status in (401, 403):
                return CliError(f"{what}: not allowed ({exc.status}): {message} ({self.target.describe()})")
            return CliError(f"{what}: {exc.status} {message}")
        if isinstance(exc, OSError) or type(exc).__module__.startswith("urllib3"):
            return CliError(f"no cluster reachable ({self.target.describe()}): {_reason(exc)}")
        return exc

    # --- Overture objects -------------------------------------------------------------------

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        namespace = namespace or self.namespace
        result: dict[str, Any] = self._call(
            f"cannot read {plural} {name!r}",
            lambda: self.custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
            ),
            missing=self._missing(plural, name, namespace),
        )
        return result

    def _missing(self, plural: str, name: str, namespace: str) -> str:
        text = f"no {KINDS[plural]} {name!r} in namespace {namespace!r}"
        try:
            names = sorted(o["metadata"]["name"] for o in self.list_objects(plural, namespace))
        except CliError:
            return text
        if plural == "flows":
            return text + (f" (flows there: {', '.join(names[:20])})" if names else " (it has no flows)")
        return text

    def list_objects(
        self, plural: str, namespace: str | None = None, all_namespaces: bool = False, labels: str = ""
    ) -> list[dict[str, Any]]:
        """The objects of ``plural`` in the namespace (or all), those matching the label selector ``labels``."""
        namespace = namespace or self.namespace
        selector = labels or None  # None: no labelSelector parameter at all
        if all_namespaces:
            result = self._call(
                f"cannot list {plural}",
                lambda: self.custom.list_cluster_custom_object(
                    API_GROUP, API_VERSION, plural, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        else:
            result = self._call(
                f"cannot list {plural} in namespace {namespace!r}",
                lambda: self.custom.list_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, plural, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        return list(result.get("items") or [])

    def username(self) -> str:
        """Who this client is to the API server (``kubectl auth whoami``: a SelfSubjectReview), asked
        once; "" when the server will not say (before Kubernetes 1.28)."""
        if self._username is None:
            from kubernetes.client.exceptions import ApiException

            try:
                review = self.authentication.create_self_subject_review(
                    SELF_SUBJECT_REVIEW,  # type: ignore[arg-type]
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                if exc.status not in (403, 404):
                    raise self._error(exc, "cannot learn your user name (a SelfSubjectReview)") from None
                self._username = ""
            else:
                self._username = username_of(self.api.sanitize_for_serialization(review))
        return self._username

    def create_execution(self, body: dict[str, Any], exist_ok: bool = False) -> bool:
        """Create the Execution ``body``, stamped with this user's name (``spec.requestedBy``, which the
        chart's admission policy checks); True if created, False if it existed already (``exist_ok``,
        else that is an error: deterministic names make AlreadyExists "done before")."""
        name = body["metadata"]["name"]
        username = self.username()
        if username:
            body = with_requester(body, username)
        try:
            self.custom.create_namespaced_custom_object(
                API_GROUP, API_VERSION, self.namespace, "executions", body, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            if exist_ok and getattr(exc, "status", None) == 409:
                return False
            raise self._error(exc, f"cannot create execution {name!r} in namespace {self.namespace!r}") from None
        return True

    def update_execution_spec(self, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Merge-patch the spec with ``change(execution)``, guarded by the resourceVersion read:
        a concurrent writer makes the patch fail with 409, and it is read and tried again."""
        for _ in range(5):
            execution = self.get("executions", name)
            patch = {
                "metadata": {"resourceVersion": execution["metadata"]["resourceVersion"]},
                "spec": change(execution),
            }
            try:
                result: Any = self.custom.patch_namespaced_custom_object(
                    API_GROUP, API_VERSION, self.namespace, "executions", name, patch, _request_timeout=REQUEST_TIMEOUT
                )
                return dict(result)
            except Exception as exc:
                if getattr(exc, "status", None) != 409:
                    raise self._error(exc, f"cannot update execution {name!r}") from None
        raise CliError(f"cannot update execution {name!r}: it kept changing under us; try again")

    # --- pods and logs ----------------------------------------------------------------------

    def pods_of_job(self, job: str) -> list[dict[str, Any]]:
        """The pods of attempt ``job``: its Job's, oldest first, or (the ``pod`` task runtime) its own."""
        listing = self._call(
            f"cannot list the pods of Job {job!r}",
            lambda: self.core.list_namespaced_pod(
                self.namespace, label_selector=f"job-name={job}", _request_timeout=REQUEST_TIMEOUT
            ),
        )
        pods: list[dict[str, Any]] = self.api.sanitize_for_serialization(listing).get("items") or []
        if not pods:
            try:
                own = self.core.read_namespaced_pod(job, self.namespace, _request_timeout=REQUEST_TIMEOUT)
            except Exception as exc:
                if getattr(exc, "status", None) in (403, 404):  # gone, or listed but not ours to get
                    return []
                raise self._error(exc, f"cannot read pod {job!r}") from None
            pod: dict[str, Any] = self.api.sanitize_for_serialization(own)
            pods = [pod] if attempt_of_pod(pod.get("metadata") or {}) == job else []
        return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    def read_log(self, pod: str) -> str:
        """The task container's whole log; CliError with the API's reason when there is none."""
        text: str = self._call(
            f"no log for pod {pod!r}",
            lambda: self.core.read_namespaced_pod_log(
                pod, self.namespace, container=LOG_CONTAINER, _request_timeout=REQUEST_TIMEOUT
            ),
            missing=f"pod {pod!r} is gone (deleted, or its Job was deleted or expired), and its log with it",
        )
        return text

    def stream_log(self, pod: str) -> Iterator[str]:
        """Lines of the task container's log as they are written, until the container ends.

        Raises CliError while the container has not started yet (the API answers 400).
        """
        response: Any = self._call(
            f"no log for pod {pod!r}",
            lambda: self.core.read_namespaced_pod_log(
                pod, self.namespace, container=LOG_CONTAINER, follow=True, _preload_content=False
            ),
            missing=f"pod {pod!r} is gone",
        )
        pending = b""
        try:
            for chunk in response.stream(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace")
            if pending:
                yield pending.decode("utf-8", "replace")
        finally:
            response.release_conn()


def connect(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None) -> ClusterClient:
    """A client for the cluster of ``kubeconfig``/``context`` (default: $KUBECONFIG, ~/.kube/config,
    then the in-cluster config), checked to answer; CliError says what was tried if it does not."""
    from kubernetes import client, config

    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    in_cluster = not kubeconfig and not os.environ.get("KUBECONFIG") and not os.path.exists(path)
    if in_cluster and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace", encoding="utf-8") as stream:
            own = stream.read().strip()
        target = Target("(in-cluster service account)", "(in-cluster)", namespace or own)
        api = client.ApiClient()
    elif not os.path.exists(path):
        raise CliError(f"no cluster reachable: cannot load kubeconfig {path}: no such file")
    else:
        try:
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
            chosen = active
            if context is not None:
                chosen = next((c for c in contexts if c["name"] == context), None)
                if chosen is None:
                    names = ", ".join(c["name"] for c in contexts)
                    raise CliError(f"no context {context!r} in kubeconfig {path} (contexts: {names})")
            api = config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
        except CliError:
            raise
        except Exception as exc:  # the kubernetes client raises several unrelated types here
            raise CliError(f"no cluster reachable: cannot load kubeconfig {path}: {exc}") from None
        target = Target(
            path,
            chosen["name"],
            namespace or chosen.get("context", {}).get("namespace") or "default",
            api.configuration.host,
        )
    cluster = ClusterClient(api, target)
    version = client.VersionApi(api)
    cluster._call("cannot read the server version", lambda: version.get_code(_request_timeout=10))
    return cluster


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", help="default: the context's namespace, else 'default'")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, else ~/.kube/config, else in-cluster")
    parser.add_argument("--context", help="a context of the kubeconfig; default: its current context")


def connect_from(args: argparse.Namespace) -> ClusterClient:
    return connect(args.kubeconfig, args.context, args.namespace)


def _api_message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body or b"{}").get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error (``Connection refused``), not urllib3's retry story."""
    reason = getattr(exc, "reason", None)
    while reason is not None and getattr(reason, "reason", None) is not None:
        reason = reason.reason
    text = str(reason or exc)
    return text.split(": ", 1)[-1] if "object at 0x" in text else text
