"""API metrics: request duration by route template and status, ledger state, and /metrics.

Every metric the API process exports is declared in :class:`ApiMetrics` (STYLE.md rule 9).

Several processes (``uvicorn --workers N``): prometheus_client decides at import time, from the
``PROMETHEUS_MULTIPROC_DIR`` environment variable, to keep every value in memory-mapped files
in that directory. ``/metrics`` then answers with the sum over all processes (a
``MultiProcessCollector``) instead of the answering process' own registry. The directory must
exist and be empty when the server starts (docs/operations.md, "Several API processes").
"""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Health checks and scrapes would drown the signal.
_UNMEASURED = frozenset({"/healthz", "/readyz", "/metrics"})
# The variable prometheus_client itself reads (at import) to switch to multiprocess mode; it is
# read here too, rather than through Settings, so the two can never disagree.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class ApiMetrics:
    """The API process' metrics.

    Set by the timing middleware below: ``request_duration``.
    Set by the ledger service: ``ledger_postings`` (one per posting, by the status it reached)
    and, after each verification run, ``ledger_pending_approvals``,
    ``ledger_verification_ok`` and ``ledger_verification_timestamp`` through
    :meth:`record_ledger_verification`.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.request_duration = Histogram(
            "amlscreen_http_request_duration_seconds",
            "HTTP request duration by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.ledger_postings = Counter(
            "amlscreen_ledger_postings_total",
            "Ledger entries written, by the status they reached (pending, posted, voided, …).",
            ["status"],
            registry=registry,
        )
        # In multiprocess mode the value last written by any process wins: all of them read
        # the same database.
        self.ledger_pending_approvals = Gauge(
            "amlscreen_ledger_pending_approvals",
            "Ledger postings waiting for a supervisor's approval, at the last verification.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.ledger_verification_ok = Gauge(
            "amlscreen_ledger_verification_ok",
            "1 if the last ledger verification found the hash chain and balances consistent.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.ledger_verification_timestamp = Gauge(
            "amlscreen_ledger_verification_timestamp_seconds",
            "When the ledger was last verified (Unix time); 0 until the first verification.",
            registry=registry,
            multiprocess_mode="max",
        )

    def record_ledger_verification(
        self, *, ok: bool, pending: int, at: float | None = None
    ) -> None:
        """Records the outcome of one ledger verification run."""
        self.ledger_verification_ok.set(1 if ok else 0)
        self.ledger_pending_approvals.set(pending)
        self.ledger_verification_timestamp.set(time.time() if at is None else at)


def multiprocess_mode() -> bool:
    """True when metric values live in ``PROMETHEUS_MULTIPROC_DIR`` (several processes)."""
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition(registry: CollectorRegistry) -> bytes:
    """The text exposition of this process, or of all processes in multiprocess mode."""
    if multiprocess_mode():
        # A fresh registry per scrape: the collector reads every process' files each time.
        combined = CollectorRegistry()
        MultiProcessCollector(combined)
        return generate_latest(combined)
    return generate_latest(registry)


def _route_template(scope: Scope) -> str:
    """The path template of the route that served the request (never the raw path: ids)."""
    # The router records the matched route in the scope (the same dict every middleware sees).
    # Walking app.router.routes instead stops at included routers, which match as a whole and
    # carry no path template.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestTimer:
    """Pure ASGI middleware that times every HTTP request by route template, method and status.

    A plain ASGI wrapper rather than Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``),
    which runs the app in a separate task with memory streams and cost about 15 % of the
    throughput of ``GET /v1/alerts`` (docs/investigations.md). A request whose app raised
    before a response started is recorded with status 500, which is what the client gets from
    the server error middleware outside this one.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.histogram = metrics.request_duration
        # labels() takes a lock and builds a key on every call; the children are few.
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = _route_template(scope)
            if route not in _UNMEASURED:
                self._child(route, scope["method"], status).observe(time.perf_counter() - started)

    def _child(self, route: str, method: str, status: int) -> Any:
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.histogram.labels(route, method, str(status))
        return child


def instrument(app: FastAPI) -> None:
    """Adds the timing middleware and GET /metrics to the app."""
    app_metrics = ApiMetrics(CollectorRegistry())
    app.state.metrics = app_metrics
    app.add_middleware(RequestTimer, metrics=app_metrics)

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(exposition(app_metrics.registry), media_type=CONTENT_TYPE_LATEST)
