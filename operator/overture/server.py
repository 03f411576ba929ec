"""The operator's HTTP port: /healthz, /readyz and /metrics (Prometheus).

Metrics are read from the operator's cache at scrape time (no extra API calls): executions by
state, task runs by state, the reconcile queue depth; plus a reconcile latency histogram and API
requests by verb, and watch events by what became of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from overture.kube.client import REQUESTS
from overture.kube.store import Store

HEADER_SECONDS = 10.0


class StoreCollector(Collector):
    def __init__(
        self, store: Store, depth: Callable[[], int], watch_events: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        self.store = store
        self.depth = depth
        self.watch_events = watch_events if watch_events is not None else {}

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        executions: Counter[str] = Counter()
        task_runs: Counter[str] = Counter()
        for state, run_counts in self.store.executions.states():
            executions[state or "CREATED"] += 1
            task_runs.update(run_counts)
        family = GaugeMetricFamily("overture_executions", "Executions by state", labels=["state"])
        for state, count in sorted(executions.items()):
            family.add_metric([state], count)
        yield family
        runs = GaugeMetricFamily("overture_task_runs", "Task runs by state", labels=["state"])
        for state, count in sorted(task_runs.items()):
            runs.add_metric([state], count)
        yield runs
        yield GaugeMetricFamily("overture_queue_depth", "Executions waiting for a reconcile", value=self.depth())
        requests = CounterMetricFamily("overture_api_requests", "Kubernetes API requests by verb", labels=["verb"])
        for verb, count in sorted(REQUESTS.items()):
            requests.add_metric([verb], count)
        yield requests
        events = CounterMetricFamily(
            "overture_watch_events", "Watch events of executions, Jobs and pods by outcome", labels=["kind", "outcome"]
        )
        for (kind, outcome), count in sorted(self.watch_events.items()):
            events.add_metric([kind, outcome], count)
        yield events


class Metrics:
    def __init__(
        self,
        store: Store,
        depth: Callable[[], int],
        leader: Callable[[], bool] = lambda: True,
        watch_events: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store, depth, watch_events))
        self.leader = Gauge("overture_leader", "1 while this replica holds the Lease", registry=self.registry)
        self.leader.set_function(lambda: 1.0 if leader() else 0.0)
        self.reconcile_seconds = Histogram(
            "overture_reconcile_seconds",
            "Time to reconcile one execution",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


def build_app(metrics: Metrics, ready: Callable[[], bool], routes: list[web.RouteDef] | None = None) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ready") if ready() else web.Response(status=503, text="starting")

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), content_type="text/plain")

    app = web.Application(client_max_size=1024 * 1024)
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics_view)])
    if routes:
        app.add_routes(routes)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    # keepalive_timeout also closes a connection that has not sent a whole request in that time
    # (aiohttp arms it when the connection opens): half-sent headers do not hold a socket forever
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=HEADER_SECONDS)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
