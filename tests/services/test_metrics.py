"""API metrics: route templates (never raw paths), exclusions, ledger gauges."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services import metrics
from services.metrics import ApiMetrics


def _app() -> FastAPI:
    app = FastAPI()
    metrics.instrument(app)
    router = APIRouter(prefix="/v1/things")

    @router.get("/{thing_id}")
    def read(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(router)
    return app


class TestHttpMetrics:
    def test_route_templates_from_included_routers(self) -> None:
        app = _app()
        with TestClient(app) as client:
            for thing in ("a", "b", "c"):
                assert client.get(f"/v1/things/{thing}").status_code == 200
            assert client.get("/nowhere").status_code == 404
            assert client.get("/healthz").status_code == 200
            exposition = client.get("/metrics").text
        registry = app.state.metrics.registry
        count = "amlscreen_http_request_duration_seconds_count"
        labels = {"route": "/v1/things/{thing_id}", "method": "GET", "status": "200"}
        assert registry.get_sample_value(count, labels) == 3
        assert registry.get_sample_value(count, {**labels, "route": "unmatched", "status": "404"})
        assert 'route="/healthz"' not in exposition
        assert 'route="/metrics"' not in exposition
        assert "/v1/things/a" not in exposition


class TestLedgerMetrics:
    def test_record_ledger_verification(self) -> None:
        api = ApiMetrics(CollectorRegistry())
        registry = api.registry
        assert registry.get_sample_value("amlscreen_ledger_verification_timestamp_seconds") == 0
        api.record_ledger_verification(ok=False, pending=4, at=1_800_000_000.0)
        assert registry.get_sample_value("amlscreen_ledger_verification_ok") == 0
        assert registry.get_sample_value("amlscreen_ledger_pending_approvals") == 4
        assert (
            registry.get_sample_value("amlscreen_ledger_verification_timestamp_seconds")
            == 1_800_000_000.0
        )
        api.record_ledger_verification(ok=True, pending=0)
        assert registry.get_sample_value("amlscreen_ledger_verification_ok") == 1
        api.ledger_postings.labels("pending").inc()
        assert registry.get_sample_value("amlscreen_ledger_postings_total", {"status": "pending"})


class TestFailedRequests:
    def test_an_unhandled_error_is_timed_as_500(self) -> None:
        app = FastAPI()
        metrics.instrument(app)

        @app.get("/v1/explode")
        def explode() -> None:
            raise RuntimeError("boom")

        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/v1/explode").status_code == 500
        registry = app.state.metrics.registry
        labels = {"route": "/v1/explode", "method": "GET", "status": "500"}
        assert registry.get_sample_value("amlscreen_http_request_duration_seconds_count", labels)
