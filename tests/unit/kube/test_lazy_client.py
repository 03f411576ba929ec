"""The operator's lazy ``kubernetes_asyncio.client`` and ``urllib3`` (process_memory.lazy_reexports, import_when_read).

Each check runs in a fresh interpreter: the packages must be replaced before anything imports
kubernetes_asyncio, and this test process has imported it already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from overture.process_memory import import_when_read, lazy_reexports


def run_fresh(code: str) -> dict[str, object]:
    """Run ``code`` after ``lean()`` in a new interpreter; it prints one JSON object."""
    script = "from overture.process_memory import lean\nlean()\n" + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_the_operator_imports_only_the_client_modules_it_uses() -> None:
    loaded = run_fresh(
        """
        import json, sys
        import kopf
        import overture.handlers
        from overture.kube.client import Kube
        from kubernetes_asyncio import client
        print(json.dumps({
            "modules": sum(m.startswith("kubernetes_asyncio.client.") for m in sys.modules),
            "core": client.CoreV1Api.__module__,
        }))
        """
    )
    assert loaded["core"] == "kubernetes_asyncio.client.api.core_v1_api"
    assert isinstance(loaded["modules"], int)
    assert loaded["modules"] < 100  # ~860 when the client's __init__ runs


def test_the_top_package_imports_its_subpackages_when_first_read() -> None:
    # kubernetes_asyncio's __init__ imports dynamic, stream, utils and watch; the operator uses none.
    loaded = run_fresh(
        """
        import json, sys
        import kopf
        import overture.handlers
        from overture.kube.client import Kube
        import kubernetes_asyncio
        before = sorted(m for m in sys.modules if m.count(".") == 1 and m.startswith("kubernetes_asyncio."))
        from kubernetes_asyncio import watch
        import kubernetes_asyncio.stream
        print(json.dumps({
            "before": before,
            "watch": watch.Watch.__module__,
            "stream": kubernetes_asyncio.stream.WsApiClient.__module__,
            "utils": kubernetes_asyncio.utils.create_from_yaml.__module__,
            "dynamic": kubernetes_asyncio.dynamic.DynamicClient.__module__,  # reads the top's __version__
            "all": sorted(kubernetes_asyncio.__all__),
        }))
        """
    )
    assert loaded == {
        "before": ["kubernetes_asyncio.client", "kubernetes_asyncio.config"],
        "watch": "kubernetes_asyncio.watch.watch",
        "stream": "kubernetes_asyncio.stream.ws_client",
        "utils": "kubernetes_asyncio.utils.create_from_yaml",
        "dynamic": "kubernetes_asyncio.dynamic.client",
        "all": ["client", "config", "dynamic", "stream", "utils", "watch"],
    }


def test_replies_deserialise_to_the_same_models() -> None:
    loaded = run_fresh(
        """
        import asyncio, json
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.models.v1_job import V1Job

        async def deserialise():
            async with client.ApiClient() as api:
                data = {"metadata": {"name": "t1"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
                return api._ApiClient__deserialize(data, "V1Job")

        job = asyncio.run(deserialise())
        body = client.V1DeleteOptions(propagation_policy="Background")
        print(json.dumps({
            "same_class": type(job) is V1Job is client.V1Job is client.models.V1Job,
            "name": job.metadata.name,
            "container": job.spec.template.spec.containers[0].name,
            "delete": body.to_dict()["propagation_policy"],
        }))
        """
    )
    assert loaded == {"same_class": True, "name": "t1", "container": "c", "delete": "Background"}


def test_every_lazy_name_resolves_in_the_installed_client() -> None:
    """The re-export lines read are the package's: each name imports (all ~830 of them)."""
    loaded = run_fresh(
        """
        import json
        from kubernetes_asyncio import client
        packages = (client, client.api, client.models)
        missing = [n for pkg in packages for n in pkg.__all__ if getattr(pkg, n, None) is None]
        print(json.dumps({"names": len(client.__all__), "missing": missing}))
        """
    )
    assert loaded["missing"] == []
    assert isinstance(loaded["names"], int)
    assert loaded["names"] > 500


def test_nothing_is_replaced_once_the_package_is_imported() -> None:
    import kubernetes_asyncio.client

    before = sys.modules["kubernetes_asyncio.client"]
    assert lazy_reexports("kubernetes_asyncio", ("client",)) is False
    assert sys.modules["kubernetes_asyncio.client"] is before is kubernetes_asyncio.client


def test_a_missing_package_is_left_alone() -> None:
    assert lazy_reexports("no_such_package_here", ("client",)) is False
    assert "no_such_package_here.client" not in sys.modules


def test_urllib3_is_imported_only_when_the_client_reads_it() -> None:
    # The client's Configuration imports urllib3 for a username and password login's header only.
    loaded = run_fresh(
        """
        import json, sys
        import kopf
        import overture.handlers
        from overture.kube.client import Kube
        from kubernetes_asyncio.client import Configuration
        before = sorted(m for m in sys.modules if m.split(".")[0] == "urllib3" and sys.modules[m] is not None)
        config = Configuration()
        config.username, config.password = "ann", "secret"
        header = config.get_basic_auth_token()
        import urllib3
        from urllib3.exceptions import HTTPError
        print(json.dumps({
            "before": before,
            "header": header,
            "real": type(sys.modules["urllib3"]).__name__,
            "same": urllib3.exceptions.HTTPError is HTTPError,
            "version": urllib3.__version__.count(".") >= 1,
        }))
        """
    )
    assert loaded == {
        "before": ["urllib3"],  # the LazyPackage alone
        "header": "Basic YW5uOnNlY3JldA==",
        "real": "module",
        "same": True,
        "version": True,
    }


def test_a_package_imported_already_is_not_deferred() -> None:
    import json as already

    assert import_when_read("json") is False
    assert sys.modules["json"] is already
    assert import_when_read("no_such_package_here") is False
    assert "no_such_package_here" not in sys.modules
