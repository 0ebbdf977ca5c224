"""The HTTP API of assets, ledger and tracing: roles, idempotency, maker-checker, exports, CLI."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy.orm import Session, sessionmaker

from amlscreen import cli
from tests.conftest import tamper
from tests.services.ledger.support import Api
from tests.services.tracing.helpers import store, transfer_row

CASH = {
    "asset_type": "currency",
    "description": "bulk cash, 2 bags",
    "value_minor": 250_000_00,
    "currency": "USD",
    "jurisdiction": "US",
    "case_number": "TX-2026-0099",
    "case_ids": ["case-5"],
}


def forfeited_cash(api: Api) -> tuple[int, int]:
    """Registers cash and forfeits it; returns the asset id and the pending posting's seq."""
    asset = api.post("investigator", "/v1/assets", CASH).json()
    path = f"/v1/assets/{asset['id']}/transitions"
    for body in (
        {"to": "SEIZED", "at": "2026-02-01T10:00:00Z", "seizing_authority": "federal"},
        {"to": "NOTICED", "at": "2026-02-10T10:00:00Z"},
        {"to": "FORFEITED_ADMIN", "at": "2026-04-10T10:00:00Z"},
    ):
        response = api.post("investigator", path, body)
        assert response.status_code == 200, response.text
    change = response.json()
    assert change["asset"]["status"] == "FORFEITED_ADMIN"
    assert change["entries"][0]["status"] == "pending"
    return asset["id"], change["entries"][0]["seq"]


class TestRoles:
    def test_reporters_see_nothing(self, api: Api) -> None:
        for path in (
            "/v1/assets",
            "/v1/ledger/balances",
            "/v1/ledger/verify",
            "/v1/ledger/entries",
            "/v1/trace/accounts/A",
            "/v1/ledger/exports/entries.csv",
        ):
            assert api.get("reporter", path).status_code == 403, path
        assert api.post("reporter", "/v1/assets", CASH).status_code == 403

    def test_auditors_read_only(self, api: Api) -> None:
        asset_id, seq = forfeited_cash(api)
        assert api.get("auditor", f"/v1/assets/{asset_id}").status_code == 200
        assert api.get("auditor", "/v1/ledger/verify").json()["ok"] is True
        assert api.post("auditor", "/v1/assets", CASH).status_code == 403
        assert api.post("auditor", f"/v1/ledger/entries/{seq}/approve").status_code == 403

    def test_unauthenticated(self, api: Api) -> None:
        assert api.client.get("/v1/assets").status_code == 401


class TestIdempotency:
    def test_key_required_replayed_and_never_reused(self, api: Api) -> None:
        assert api.post("investigator", "/v1/assets", CASH, idempotency_key=None).status_code == 422
        first = api.post("investigator", "/v1/assets", CASH, idempotency_key="reg-1")
        again = api.post("investigator", "/v1/assets", CASH, idempotency_key="reg-1")
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        other = api.post(
            "investigator", "/v1/assets", {**CASH, "value_minor": 1}, idempotency_key="reg-1"
        )
        assert other.status_code == 409
        assert len(api.get("auditor", "/v1/assets").json()["items"]) == 1


class TestMakerChecker:
    def test_same_token_cannot_approve_then_a_supervisor_does_once(self, api: Api) -> None:
        api.tokens["maker"] = api.tokens["supervisor"]
        asset = api.post("supervisor", "/v1/assets", CASH).json()
        path = f"/v1/assets/{asset['id']}/transitions"
        api.post("supervisor", path, {"to": "SEIZED", "seizing_authority": "federal"})
        api.post("supervisor", path, {"to": "NOTICED"})
        seq = api.post("supervisor", path, {"to": "FORFEITED_ADMIN"}).json()["entries"][0]["seq"]
        own = api.post("supervisor", f"/v1/ledger/entries/{seq}/approve")
        assert own.status_code == 403
        assert "maker-checker" in own.json()["detail"]
        assert api.post("investigator", f"/v1/ledger/entries/{seq}/approve").status_code == 403
        approved = api.post("supervisor2", f"/v1/ledger/entries/{seq}/approve")
        assert approved.status_code == 200
        assert approved.json()["status"] == "posted"
        assert approved.json()["decision"]["kind"] == "approve"
        assert api.post("admin", f"/v1/ledger/entries/{seq}/void").status_code == 409
        balances = {
            (b["account"], b["currency"]): b["posted_minor"]
            for b in api.get("auditor", "/v1/ledger/balances").json()
        }
        assert balances[("forfeited:TX-2026-0099", "USD")] == 250_000_00


class TestViews:
    def test_verify_exports_shares_and_deadline_filter(self, api: Api) -> None:
        asset_id, seq = forfeited_cash(api)
        api.post("supervisor", f"/v1/ledger/entries/{seq}/approve")
        verify = api.get("auditor", "/v1/ledger/verify").json()
        assert verify["ok"] is True
        assert verify["entries"] == 2
        anchored = api.get(
            "auditor", "/v1/ledger/verify", expect_seq=2, expect_hash=verify["head_hash"]
        ).json()
        assert anchored["ok"] is True
        response = api.get("auditor", "/v1/ledger/exports/entries.csv")
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert {row["account"] for row in rows if row["seq"] == str(seq)} == {
            "forfeiture-proceeds",
            "forfeited:TX-2026-0099",
        }
        for view in ("balances", "shares-by-agency", "shares-by-country", "assets"):
            assert api.get("auditor", f"/v1/ledger/exports/{view}.csv").status_code == 200
        assert api.get("auditor", "/v1/ledger/exports/nope.csv").status_code == 422
        due = api.get("auditor", "/v1/assets", deadline_before="2026-05-26T00:00:00Z").json()
        assert [a["id"] for a in due["items"]] == [asset_id]
        assert due["items"][0]["next_deadline_kind"] == "sharing_request"
        assert (
            api.get("auditor", "/v1/assets", deadline_before="2026-05-25T00:00:00Z").json()["items"]
            == []
        )
        timeline = api.get("auditor", f"/v1/assets/{asset_id}/timeline").json()
        assert [i["to_status"] for i in timeline if i["kind"] == "transition"] == [
            "SEIZED",
            "NOTICED",
            "FORFEITED_ADMIN",
        ]
        assert api.get("auditor", "/v1/ledger/shares", by="country").json() == []

    def test_sharing_preview_and_guard_messages(self, api: Api) -> None:
        asset_id, seq = forfeited_cash(api)
        refused = api.post(
            "investigator", f"/v1/assets/{asset_id}/transitions", {"to": "SHARING_REQUESTED"}
        )
        assert refused.status_code == 409
        api.post("supervisor", f"/v1/ledger/entries/{seq}/approve")
        assert (
            api.post(
                "investigator",
                f"/v1/assets/{asset_id}/participants",
                {
                    "agency_id": "HPD",
                    "agency_name": "Houston PD",
                    "country": "US",
                    "role": "local",
                    "work_hours": 100,
                },
            ).status_code
            == 201
        )
        preview = api.get("auditor", f"/v1/assets/{asset_id}/sharing").json()
        assert preview["accounts"] == {"agency:HPD:payable": 200_000_00, "federal-share": 50_000_00}
        assert preview["cap_applied"] is True


class TestTraceApi:
    def test_trace_and_register_from_trace(self, api: Api, sessions: sessionmaker[Session]) -> None:
        with sessions() as session:
            store(
                session,
                [
                    transfer_row("A", "B", 10_000, 1, report_id="R-AB"),
                    transfer_row("B", "MX-C", 7_000, 2),
                ],
            )
            session.commit()
        trace = api.get("investigator", "/v1/trace/reports/FI-A/R-AB").json()
        assert {h["account_id"]: h["amount_minor"] for h in trace["holdings"]} == {
            "B": 3_000,
            "MX-C": 7_000,
        }
        assert (
            api.get("auditor", "/v1/trace/accounts/B", direction="backward", max_hops=2).status_code
            == 200
        )
        assert api.get("investigator", "/v1/trace/accounts/A", max_hops=99).status_code == 422
        body = {
            "trace": {"institution_id": "FI-A", "report_id": "R-AB"},
            "holder_account_id": "MX-C",
            "jurisdiction": "MX",
            "case_ids": ["case-5"],
        }
        created = api.post("investigator", "/v1/assets/from-trace", body)
        assert created.status_code == 201, created.text
        asset = created.json()
        assert (asset["asset_type"], asset["value_minor"], asset["currency"]) == (
            "account_funds",
            7_000,
            "USD",
        )
        assert asset["identifiers"] == [{"type": "account", "value": "MX-C"}]
        assert asset["source_trace"]["amount_minor"] == 7_000
        assert asset["custodian"] == "FI-MX-C"
        nothing = api.post(
            "investigator", "/v1/assets/from-trace", {**body, "holder_account_id": "A"}
        )
        assert nothing.status_code == 422


def test_cli_verify_exits_non_zero_on_tampering(
    api: Api,
    sessions: sessionmaker[Session],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _asset_id, seq = forfeited_cash(api)
    api.post("supervisor", f"/v1/ledger/entries/{seq}/approve")
    monkeypatch.setenv("AMLSCREEN_DATABASE_URL", database_url)
    assert cli.main(["ledger", "verify"]) == 0
    tamper(
        sessions,
        "UPDATE ledger_lines SET amount_minor = 1 WHERE entry_seq = :s AND amount_minor > 0",
        {"s": seq},
    )
    assert cli.main(["ledger", "verify"]) == 1
    assert f"FAILED at entry {seq}" in capsys.readouterr().err
    assert api.get("auditor", "/v1/ledger/verify").json()["first_error"]["seq"] == seq
