"""API metrics: request duration by route template and status, and the /metrics endpoint."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from starlette.routing import Match

# Health checks and scrapes would drown the signal.
_UNMEASURED = frozenset({"/healthz", "/readyz", "/metrics"})


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.request_duration = Histogram(
            "amlscreen_http_request_duration_seconds",
            "HTTP request duration by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )


def _route_template(request: Request) -> str:
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


def instrument(app: FastAPI) -> None:
    """Adds the timing middleware and GET /metrics to the app."""
    app_metrics = ApiMetrics(CollectorRegistry())
    app.state.metrics = app_metrics

    @app.middleware("http")
    async def _time_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_template(request)
        if route not in _UNMEASURED:
            app_metrics.request_duration.labels(
                route, request.method, str(response.status_code)
            ).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(app_metrics.registry), media_type=CONTENT_TYPE_LATEST)
