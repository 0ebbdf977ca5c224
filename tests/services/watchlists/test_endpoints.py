"""The watchlist API: lists and versions, loading by upload, search by hand, dismissal, and
matches on the alert and subject pages; never for reporters."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from services.alerts.service import raise_alerts
from services.audit.orm import AuditEvent
from services.auth.enums import Role
from services.watchlists import service as watchlist_service
from services.watchlists.formats import ListFormat
from services.watchlists.service import IndexHolder, ScreeningInput, subject_party
from tests.fixtures.alerts import Api, alert_for, store_reports
from tests.fixtures.reports import make_report

DATA = Path(__file__).parent / "data"


@pytest.fixture
def loaded(api: Api) -> Api:
    watchlist_service.load_version(
        api.session,
        name="ofac-sdn",
        parsed=watchlist_service.parse_file(DATA / "sdn", ListFormat.SDN_CSV),
        list_format=ListFormat.SDN_CSV,
        loaded_by="cli:operator",
    )
    return api


def _upload(api: Api, name: str, path: Path, list_format: str, role: Role) -> object:
    return api.client.post(
        f"/v1/watchlists/{name}/versions",
        params={"format": list_format},
        content=path.read_bytes(),
        headers=api.headers(role),
    )


class TestLists:
    def test_versions_and_rescreens(self, loaded: Api) -> None:
        response = loaded.get("/v1/watchlists", role=Role.AUDITOR)
        assert response.status_code == 200
        body = response.json()
        [listed] = body["lists"]
        assert listed["name"] == "ofac-sdn"
        assert listed["current_version"] == 1
        [version] = listed["versions"]
        assert version["loaded_by"] == "cli:operator"
        assert version["entry_count"] == version["added"] == 6
        assert len(version["content_sha256"]) == 64
        assert body["rescreens"][0]["status"] == "queued"

    @pytest.mark.parametrize(
        "path",
        ["/v1/watchlists", "/v1/watchlists/search?name=Jose", "/v1/watchlists/rescreens/1"],
    )
    def test_reporters_are_refused(self, loaded: Api, path: str) -> None:
        assert loaded.get(path, role=Role.REPORTER).status_code == 403

    def test_upload_by_a_supervisor(self, api: Api) -> None:
        response = _upload(api, "unit-fronts", DATA / "unit.csv", "csv", Role.SUPERVISOR)
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["version"], body["entries"], body["created"]) == (1, 2, True)
        again = _upload(api, "unit-fronts", DATA / "unit.csv", "csv", Role.SUPERVISOR)
        assert again.json()["created"] is False
        [event] = api.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "watchlist.load")
        ).all()
        assert event.after["version"] == 1
        listed = api.get("/v1/watchlists").json()["lists"][0]
        assert listed["versions"][0]["loaded_by"].startswith("token:")

    def test_upload_errors(self, api: Api, tmp_path: Path) -> None:
        assert _upload(api, "x", DATA / "unit.csv", "csv", Role.INVESTIGATOR).status_code == 403
        bad = tmp_path / "bad.csv"
        bad.write_text("id,name,type\n1,X,robot\n")
        response = _upload(api, "x", bad, "csv", Role.ADMIN)
        assert response.status_code == 422
        assert "line 2" in response.json()["detail"]
        assert _upload(api, "x", DATA / "unit.csv", "pdf", Role.ADMIN).status_code == 422


class TestSearch:
    def test_a_name_in_another_script(self, loaded: Api) -> None:
        response = loaded.get(
            "/v1/watchlists/search", params={"name": "Соколов Владимир", "country": "RU"}
        )
        assert response.status_code == 200
        [best, *_] = response.json()["matches"]
        assert best["entry"]["key"] == "9004"
        assert best["entry"]["programs"] == ["SDNTK"]
        assert best["entry"]["identifier_types"] == ["PASSPORT"]
        assert "7512345678" not in response.text  # numbers stay out of answers
        assert best["strength"] in ("strong", "weak")

    def test_date_of_birth_narrows(self, loaded: Api) -> None:
        params = {"name": "Juan Garcia Lopez", "type": "person"}
        assert loaded.get("/v1/watchlists/search", params=params).json()["matches"]
        params["birth_date"] = "1990-01-01"
        assert loaded.get("/v1/watchlists/search", params=params).json()["matches"] == []

    def test_bad_parameters(self, loaded: Api) -> None:
        assert loaded.get("/v1/watchlists/search").status_code == 422
        assert loaded.get("/v1/watchlists/search?name=X&birth_date=soon").status_code == 422


class TestMatches:
    def test_on_the_alert_and_subject_pages_and_dismissed(self, loaded: Api) -> None:
        session = loaded.session
        document = make_report(910_001)
        document["subject"]["name"] = "Jose Ramon Mendez Avila"
        [report] = store_reports(session, [document])
        [alert] = raise_alerts(session, [alert_for(report)])
        [found] = watchlist_service.screen_parties(
            session,
            IndexHolder(refresh_s=0).get(session),
            [
                ScreeningInput(
                    report.subject_key, subject_party(report.model_dump(mode="json")["subject"])
                )
            ],
        )
        watchlist_service.record_matches(
            session,
            [
                watchlist_service.match_rows(
                    found,
                    institution_id=report.institution_id,
                    report_id=report.report_id,
                    found_by="worker",
                    watchlist_ids=watchlist_service.watchlist_ids(session),
                )
            ],
        )

        page = loaded.get(f"/v1/alerts/{alert.id}").json()
        [match] = page["watchlist_matches"]
        assert (match["watchlist"], match["entry_key"], match["role"]) == (
            "ofac-sdn",
            "9001",
            "subject",
        )
        assert match["dismissal"] is None
        profile = loaded.get(f"/v1/subjects/{report.subject_key}").json()
        assert [item["id"] for item in profile["watchlist_matches"]] == [match["id"]]

        path = f"/v1/watchlists/matches/{match['id']}/dismissal"
        assert loaded.post(path, json={"reason": "x"}, role=Role.AUDITOR).status_code == 403
        assert loaded.post(path, json={"reason": ""}).status_code == 422
        response = loaded.post(path, json={"reason": "different person, RFC checked"})
        assert response.status_code == 200
        assert response.json()["dismissal"]["reason"] == "different person, RFC checked"
        assert loaded.post(path, json={"reason": "again"}).status_code == 409
        assert (
            loaded.post("/v1/watchlists/matches/999999/dismissal", json={"reason": "x"}).status_code
            == 404
        )
        page = loaded.get(f"/v1/alerts/{alert.id}").json()
        assert page["watchlist_matches"][0]["dismissal"]["dismissed_by"].startswith("token:")
