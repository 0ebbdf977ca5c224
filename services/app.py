"""The FastAPI application factory. Nothing is built at import time."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from refdata.wire import ReportV1
from services import metrics
from services.alerts.endpoints import router as alerts_router
from services.assets.endpoints import ledger_views as asset_ledger_views
from services.assets.endpoints import router as assets_router
from services.audit.endpoints import router as audit_router
from services.auth.service import PrincipalCache
from services.cases.endpoints import router as cases_router
from services.config import Settings
from services.console import endpoints as console
from services.db import RetryOnDisconnect, make_engine
from services.errors import ServiceError, declare_error_bodies
from services.filings.endpoints import router as filings_router
from services.health.endpoints import router as health_router
from services.kit.logs import describe_error
from services.ledger.endpoints import router as ledger_router
from services.ledger.monitor import anchor, verify_periodically
from services.ledger.service import POSTING_OBSERVER
from services.orm_registry import make_sessionmaker
from services.programme.endpoints import router as programme_router
from services.reports.endpoints import router as reports_router
from services.reports.service import ReportPublisher
from services.subjects.endpoints import router as subjects_router
from services.tracing.endpoints import router as tracing_router
from services.watchlists.endpoints import router as watchlists_router
from services.watchlists.service import IndexHolder

PublisherFactory = Callable[[Settings], ReportPublisher]

log = logging.getLogger(__name__)

# Threads for the hot read paths. The work is mostly Python holding the GIL, so a few threads
# keep the database busy while more only contend for the GIL: with 4 instead of 30 the queue
# bench served 5-23 % more requests per second (docs/investigations.md). Queue pages are
# index scans of well under a millisecond, so a few threads are never all held by a slow one.
QUERY_THREADS = 6


def create_app(settings: Settings, publisher_factory: PublisherFactory | None = None) -> FastAPI:
    """Builds the API; the engine and the broker producer live for the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.effective_database_url)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app_metrics: metrics.ApiMetrics = app.state.metrics
        app.state.sessionmaker.configure(
            info={POSTING_OBSERVER: lambda status: app_metrics.ledger_postings.labels(status).inc()}
        )
        app.state.publisher = publisher_factory(settings) if publisher_factory else None
        app.state.watchlist_index = IndexHolder()  # built on the first search
        # Blocking work of the hot read paths (services.deps.run_blocking).
        app.state.executor = ThreadPoolExecutor(
            max_workers=QUERY_THREADS,
            thread_name_prefix="amlscreen-db",
        )
        verifier = (
            asyncio.create_task(
                verify_periodically(
                    app.state.sessionmaker,
                    app_metrics,
                    settings.ledger_verify_interval_s,
                    anchor(settings),
                )
            )
            if settings.ledger_verify_interval_s > 0
            else None
        )
        # What start-up built lives as long as the process: moved out of the cyclic garbage
        # collector's way, full collections scan only what requests create. Under load they
        # came every 2-3 s and took 30-130 ms each, stalling every request in flight
        # (docs/investigations.md). Undone at shutdown, so apps started in turn (tests) leak
        # nothing.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            if verifier is not None:
                verifier.cancel()
            close = getattr(app.state.publisher, "close", None)
            if close is not None:
                close()
            app.state.executor.shutdown(wait=True)
            engine.dispose()

    app = FastAPI(
        title="amlscreen",
        version="0.1.0",
        summary="Money-laundering risk screening and the forfeiture-sharing ledger",
        lifespan=lifespan,
        # /docs is served by the console without a CDN (services/console/apidocs.py).
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, error: ServiceError) -> JSONResponse:
        body: dict[str, object] = {"detail": error.message}
        if error.details is not None:
            body["errors"] = error.details
        headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
        return JSONResponse(body, status_code=error.status_code, headers=headers)

    @app.exception_handler(DataError)
    async def _data_error(_request: Request, error: DataError) -> JSONResponse:
        # The database refused a value the request carried (a NUL character in a text,
        # a number out of a column's range): the request is at fault, not the server. The
        # database's message may quote the value, so it is not repeated.
        log.warning("request refused by the database: %s", describe_error(error))
        return JSONResponse(
            {"detail": "a value of the request is not storable (e.g. a NUL character)"},
            status_code=422,
        )

    app.state.principal_cache = PrincipalCache()  # revocation takes effect within its ttl
    app.add_middleware(RetryOnDisconnect)  # added first: inside the timing middleware
    metrics.instrument(app)
    app.include_router(health_router)
    app.include_router(filings_router)  # before reports: /v1/reports/exports/... is ours
    app.include_router(reports_router)
    app.include_router(subjects_router)
    app.include_router(alerts_router)
    app.include_router(cases_router)
    app.include_router(audit_router)
    app.include_router(tracing_router)
    app.include_router(assets_router)
    app.include_router(ledger_router)
    app.include_router(asset_ledger_views)  # /v1/ledger/shares and exports read assets too
    app.include_router(watchlists_router)
    app.include_router(programme_router)
    console.install(app)

    original_openapi = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = original_openapi()
            report_schema = ReportV1.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(report_schema.pop("$defs", {}))
            components["ReportV1"] = report_schema
            declare_error_bodies(schema)
        return app.openapi_schema or schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
