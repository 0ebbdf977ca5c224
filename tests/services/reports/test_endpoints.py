"""HTTP ingest and read-back with authorization, through the real embedded broker."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from services.auth.enums import Role
from services.auth.service import create_token
from services.db import transaction
from streaming.metrics import WorkerMetrics
from streaming.producer import KafkaReportPublisher, make_producer
from streaming.worker import Worker, make_consumer
from tests.fixtures.reports import make_report


@pytest.fixture
def api(settings, sessions):
    def factory(current):
        return KafkaReportPublisher(current.bootstrap_servers, current.topic_reports)

    with TestClient(create_app(settings, factory)) as client:
        yield client


def _token(sessions, role: Role, institution: str | None = None) -> dict[str, str]:
    with transaction(sessions) as session:
        token = create_token(session, role=role, institution_id=institution)
    return {"Authorization": f"Bearer {token}"}


class TestIngest:
    def test_round_trip_with_authorization(self, api, settings, sessions) -> None:
        bank_a = _token(sessions, Role.REPORTER, "US-FI-0001")
        bank_b = _token(sessions, Role.REPORTER, "US-FI-0002")
        investigator = _token(sessions, Role.INVESTIGATOR)

        assert api.post("/v1/reports", json=make_report(1)).status_code == 401
        assert (
            api.post(
                "/v1/reports", json=make_report(1), headers={"Authorization": "Bearer nope"}
            ).status_code
            == 401
        )

        other = make_report(2, institution_id="US-FI-0002")
        assert api.post("/v1/reports", json=other, headers=bank_a).status_code == 403

        bad = make_report(3)
        del bad["subject"]
        response = api.post("/v1/reports", json=[make_report(1), bad], headers=bank_a)
        assert response.status_code == 202
        body = response.json()
        assert [item["report_id"] for item in body["accepted"]] == ["R-00000001"]
        assert body["rejected"][0]["index"] == 1
        assert body["rejected"][0]["errors"][0]["field"] == "subject"

        assert api.post("/v1/reports", json=[bad], headers=bank_a).status_code == 422
        too_many = [make_report(i) for i in range(settings.ingest_max_items + 1)]
        assert api.post("/v1/reports", json=too_many, headers=bank_a).status_code == 413

        worker = Worker(
            settings=settings,
            sessions=sessions,
            consumer=make_consumer(settings),
            producer=make_producer(settings.bootstrap_servers),
            metrics=WorkerMetrics(),
        )
        worker.run(idle_exit_s=6.0)

        read = api.get("/v1/reports/US-FI-0001/R-00000001", headers=bank_a)
        assert read.status_code == 200
        assert read.json()["status"] in {"received", "processed"}
        assert (
            read.json()["document"]["transaction"]["amount"]
            == make_report(1)["transaction"]["amount"]
        )
        assert api.get("/v1/reports/US-FI-0001/R-00000001", headers=bank_b).status_code == 403
        assert api.get("/v1/reports/US-FI-0001/R-00000001", headers=investigator).status_code == 200
        assert api.get("/v1/alerts", headers=bank_a).status_code == 403

        assert "score" not in read.json()  # a reporter never reads what the unit concluded
        assert "subject_key" not in read.json()
        subject_key = api.get("/v1/reports/US-FI-0001/R-00000001", headers=investigator).json()[
            "subject_key"
        ]
        profile = api.get(f"/v1/subjects/{subject_key}", headers=investigator)
        assert profile.status_code == 200
        assert profile.json()["reports"][0]["report_id"] == "R-00000001"
        assert api.get(f"/v1/subjects/{subject_key}", headers=bank_a).status_code == 403

    def test_schema_is_served(self, api) -> None:
        schema = api.get("/v1/schema/report").json()
        assert "report_id" in schema["properties"]

    def test_body_that_is_not_json(self, api, sessions) -> None:
        bank_a = _token(sessions, Role.REPORTER, "US-FI-0001")
        response = api.post(
            "/v1/reports", content=b"{nope", headers={**bank_a, "content-type": "application/json"}
        )
        assert response.status_code == 422
        assert orjson.loads(response.content)["detail"].startswith("body is not JSON")
