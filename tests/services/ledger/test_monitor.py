"""Ledger metrics: postings counted once committed, verification at start and on request."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.app import create_app
from services.config import Settings
from services.metrics import ApiMetrics
from tests.conftest import tamper
from tests.services.ledger.support import Api
from tests.services.ledger.test_endpoints import forfeited_cash


def _metrics(api: Api) -> ApiMetrics:
    metrics: ApiMetrics = api.client.app.state.metrics  # type: ignore[attr-defined]
    return metrics


def _sample(metrics: ApiMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def _postings(metrics: ApiMetrics, status: str) -> float:
    return _sample(metrics, "amlscreen_ledger_postings_total", status=status) or 0.0


def _entries(api: Api, status: str) -> int:
    return len(api.get("auditor", "/v1/ledger/entries", status=status).json()["items"])


class TestPostingsCounter:
    def test_counts_each_committed_entry_by_the_status_it_reached(self, api: Api) -> None:
        metrics = _metrics(api)
        assert _postings(metrics, "pending") == 0
        _asset_id, seq = forfeited_cash(api)
        assert _postings(metrics, "pending") == _entries(api, "pending") >= 1

        approve = f"/v1/ledger/entries/{seq}/approve"
        first = api.post("supervisor", approve, idempotency_key="approve-once")
        assert first.status_code == 200, first.text
        assert _postings(metrics, "posted") == 1
        # The same request again is answered from the idempotency record: no new entry.
        again = api.post("supervisor", approve, idempotency_key="approve-once")
        assert again.status_code == 200
        assert _postings(metrics, "posted") == 1

    def test_a_refused_write_counts_nothing(self, api: Api) -> None:
        metrics = _metrics(api)
        _asset_id, seq = forfeited_cash(api)
        before = {status: _postings(metrics, status) for status in ("pending", "posted", "voided")}
        # The maker cannot approve their own posting; the transaction is rolled back.
        refused = api.post("investigator", f"/v1/ledger/entries/{seq}/approve")
        assert refused.status_code == 403
        voided = api.post("supervisor", f"/v1/ledger/entries/{seq}/void")
        assert voided.status_code == 200, voided.text
        assert _postings(metrics, "voided") == before["voided"] + 1
        assert _postings(metrics, "posted") == before["posted"]
        # Voiding twice is refused: still one.
        assert api.post("supervisor2", f"/v1/ledger/entries/{seq}/void").status_code == 409
        assert _postings(metrics, "voided") == before["voided"] + 1


class TestVerificationGauges:
    def test_verified_at_start_then_on_request(
        self, api: Api, sessions: sessionmaker[Session]
    ) -> None:
        metrics = _metrics(api)
        deadline = time.monotonic() + 30
        while not _sample(metrics, "amlscreen_ledger_verification_timestamp_seconds"):
            assert time.monotonic() < deadline, "the API never verified the ledger at start"
            time.sleep(0.05)
        assert _sample(metrics, "amlscreen_ledger_verification_ok") == 1

        _asset_id, seq = forfeited_cash(api)
        api.post("supervisor", f"/v1/ledger/entries/{seq}/approve")
        tamper(
            sessions,
            "UPDATE ledger_lines SET amount_minor = 1 WHERE entry_seq = :s AND amount_minor > 0",
            {"s": seq},
        )
        started = time.time()
        report = api.get("auditor", "/v1/ledger/verify").json()
        assert report["ok"] is False
        assert _sample(metrics, "amlscreen_ledger_verification_ok") == 0
        assert _sample(metrics, "amlscreen_ledger_pending_approvals") == report["pending"]
        stamp = _sample(metrics, "amlscreen_ledger_verification_timestamp_seconds")
        assert stamp is not None
        assert stamp >= started - 1

    def test_periodic_verification_can_be_switched_off(
        self, database_url: str, tmp_path: Path
    ) -> None:
        settings = Settings(
            database_url=database_url, data_dir=tmp_path, ledger_verify_interval_s=0
        )
        app = create_app(settings)
        with TestClient(app):
            time.sleep(0.5)
            metrics: ApiMetrics = app.state.metrics
            assert not _sample(metrics, "amlscreen_ledger_verification_timestamp_seconds")


def _wait_for_first_verification(metrics: ApiMetrics) -> None:
    deadline = time.monotonic() + 30
    while not _sample(metrics, "amlscreen_ledger_verification_timestamp_seconds"):
        assert time.monotonic() < deadline, "the API never verified the ledger at start"
        time.sleep(0.05)


class TestTheAlarmIsTheOperators:
    def test_a_callers_own_anchor_is_answered_never_alarmed_on(self, api: Api) -> None:
        metrics = _metrics(api)
        _wait_for_first_verification(metrics)
        forfeited_cash(api)
        forged = api.get("investigator", "/v1/ledger/verify", expect_seq=1, expect_hash="f" * 64)
        assert forged.status_code == 200
        assert forged.json()["ok"] is False
        assert _sample(metrics, "amlscreen_ledger_verification_ok") == 1

    def test_the_operators_anchor_is_checked_on_schedule_and_on_request(
        self, api: Api, database_url: str, tmp_path: Path
    ) -> None:
        forfeited_cash(api)  # one entry: seq 1 exists, its hash is not zeros
        wrong = "0" * 64
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path,
            ledger_anchor_seq=1,
            ledger_anchor_hash=wrong,
        )
        app = create_app(settings)
        with TestClient(app) as client:
            metrics: ApiMetrics = app.state.metrics
            _wait_for_first_verification(metrics)
            assert _sample(metrics, "amlscreen_ledger_verification_ok") == 0, "on schedule"
            metrics.record_ledger_verification(ok=True, pending=0)
            headers = api.headers("auditor")
            plain = client.get("/v1/ledger/verify", headers=headers)
            assert plain.json()["ok"] is True
            assert _sample(metrics, "amlscreen_ledger_verification_ok") == 1, "not the anchor"
            anchored = client.get(
                "/v1/ledger/verify",
                headers=headers,
                params={"expect_seq": 1, "expect_hash": wrong},
            )
            assert anchored.json()["ok"] is False
            assert _sample(metrics, "amlscreen_ledger_verification_ok") == 0, "the anchor"
