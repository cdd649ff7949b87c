"""Prometheus metrics for the API and the gateway: requests by route template (never the filled-in
path, which could hold a booking code), latencies, bookings, and queue depths read at scrape time.

With several worker processes set PROMETHEUS_MULTIPROC_DIR (an empty directory shared by them): the
counters are then summed across workers, as prometheus_client's multiprocess mode does."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("ksk_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram("ksk_http_request_duration_seconds", "HTTP request duration", ["service", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
BOOKINGS = Counter("ksk_bookings_total", "Bookings made, by outcome", ["status"])
SENDS = Counter("ksk_channel_sends_total", "Messages sent to residents, by channel and outcome",
                ["channel", "outcome"])


class RequestMetrics:
    """Counts and times every request under its route template ("/api/v1/bookings/{code}")."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route = route_template(scope)
            REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
            LATENCY.labels(self.service, route).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """"/api/v1/bookings/{code}" for "/api/v1/bookings/KE3MX7PA". FastAPI keeps an included router's
    routes relative to its prefix, so the prefix is read off the request path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not template:
        return "unmatched"
    try:
        filled = template.format(**scope.get("path_params", {}))
    except (KeyError, IndexError, ValueError):
        return str(template)
    path = str(scope.get("path", ""))
    prefix = path[: -len(filled)] if filled and path.endswith(filled) else ""
    return f"{prefix}{template}"


class Gauges(Collector):
    """Gauges read when Prometheus scrapes (queue depths): `read()` gives (name, help, value)."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, float]]]) -> None:
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, description, value in self.read():
            yield GaugeMetricFamily(name, description, value=value)


def exposition(gauges: Gauges | None = None) -> Response:
    """The text Prometheus scrapes: this process's metrics (or every worker's), plus `gauges`."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Everything(REGISTRY))
    if gauges is not None:
        registry.register(gauges)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _Everything(Collector):
    """The process's default registry, re-exposed next to the per-app gauges."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[object]:  # type: ignore[override]
        return self.registry.collect()
