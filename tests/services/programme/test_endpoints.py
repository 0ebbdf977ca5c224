"""``GET /v1/programme-report`` (JSON and CSV) and ``amlscreen report programme``."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from amlscreen.cli import main
from services.app import create_app
from services.auth.enums import Role
from services.auth.service import create_token
from services.config import Settings
from services.kit.time import utc_now
from tests.fixtures.alerts import create_alerts, unique_index
from tests.fixtures.reports import make_report


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Two committed alerts and a token per role."""
    with sessions() as session:
        create_alerts(session, [make_report(unique_index()) for _ in range(2)])
        tokens = {
            role.value: create_token(
                session, role=role, institution_id="US-FI-0001" if role is Role.REPORTER else None
            )
            for role in Role
        }
        session.commit()
    return tokens


@pytest.fixture
def client(database_url: str, tmp_path: Path):
    app = create_app(Settings(database_url=database_url, data_dir=tmp_path))
    with TestClient(app) as test_client:
        yield test_client


def _period() -> dict[str, str]:
    today = utc_now().date()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}


class TestApi:
    def test_json_by_default(self, client, stored) -> None:
        answer = client.get(
            "/v1/programme-report",
            params=_period(),
            headers={"Authorization": f"Bearer {stored['investigator']}"},
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["total"]["alerts_raised"] == 2
        assert body["total"]["reports_received"] == {"LVTR": 2}
        assert [item["country"] for item in body["countries"]] == ["US"]

    def test_csv_when_asked(self, client, stored) -> None:
        answer = client.get(
            "/v1/programme-report",
            params=_period(),
            headers={"Authorization": f"Bearer {stored['auditor']}", "Accept": "text/csv"},
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert {
            "country": "ALL",
            "metric": "alerts_raised",
            "key": "",
            "currency": "",
            "value": "2",
        } in rows

    def test_reporters_are_refused(self, client, stored) -> None:
        answer = client.get(
            "/v1/programme-report",
            params=_period(),
            headers={"Authorization": f"Bearer {stored['reporter']}"},
        )
        assert answer.status_code == 403
        assert "alerts" not in answer.text.replace("alerts_", "")

    def test_bad_periods_are_422s(self, client, stored) -> None:
        headers = {"Authorization": f"Bearer {stored['admin']}"}
        backwards = client.get(
            "/v1/programme-report",
            params={"from": "2026-03-02", "to": "2026-03-01"},
            headers=headers,
        )
        assert backwards.status_code == 422
        missing = client.get("/v1/programme-report", params={"from": "2026-03-02"}, headers=headers)
        assert missing.status_code == 422


class TestCli:
    @pytest.mark.parametrize("suffix", [".csv", ".json"])
    def test_writes_the_report(
        self, stored, database_url: str, tmp_path: Path, monkeypatch, suffix: str
    ) -> None:
        monkeypatch.setenv("AMLSCREEN_DATABASE_URL", database_url)
        monkeypatch.setenv("AMLSCREEN_DATA_DIR", str(tmp_path))
        out = tmp_path / f"programme{suffix}"
        period = _period()
        assert (
            main(
                [
                    "report",
                    "programme",
                    "--from",
                    period["from"],
                    "--to",
                    period["to"],
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        if suffix == ".json":
            assert json.loads(out.read_text())["total"]["alerts_raised"] == 2
        else:
            assert "ALL,alerts_raised,,,2" in out.read_text().splitlines()

    def test_refuses_other_file_kinds(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.setenv("AMLSCREEN_DATA_DIR", str(tmp_path))
        out = tmp_path / "programme.xlsx"
        assert (
            main(
                [
                    "report",
                    "programme",
                    "--from",
                    "2026-03-01",
                    "--to",
                    "2026-03-31",
                    "--out",
                    str(out),
                ]
            )
            == 2
        )
        assert not out.exists()
