"""Learning from investigators: the typology given when filing or closing becomes the label."""

from __future__ import annotations

from typing import Any

from services.alerts.flows import route_alerts
from services.alerts.orm import Alert
from services.alerts.policy import AlertPolicy
from services.alerts.service import labelled_outcomes
from services.auth.enums import Role
from tests.fixtures.alerts import alert_for, create_alert, store_reports, unique_index
from tests.fixtures.reports import make_report


def _close(api: Any, alert: Alert, **extra: Any) -> Any:
    body = {"to": "CLOSED", "disposition": "FALSE_POSITIVE", "rationale": "payroll", **extra}
    return api.post(f"/v1/alerts/{alert.id}/transitions", body, if_match=alert.version)


def _file(api: Any, session: Any, alert: Alert, **extra: Any) -> Any:
    path = f"/v1/alerts/{alert.id}/transitions"
    version = alert.version
    for target in ("TRIAGE", "INVESTIGATING", "ESCALATED", "PENDING_FILING_DECISION"):
        response = api.post(path, {"to": target}, if_match=version)
        assert response.status_code == 200, response.text
        version = response.json()["version"]
    body = {"to": "FILED", "filing_reference": "BSA-1", **extra}
    return api.post(path, body, role=Role.SUPERVISOR, if_match=version)


class TestTypologyOnDecision:
    def test_closing_records_the_investigators_typology(self, api, session):
        alert = create_alert(session)
        response = _close(api, alert, typology="rapid_movement")
        assert response.status_code == 200, response.text
        assert response.json()["investigator_typology"] == "rapid_movement"

    def test_unknown_typology_is_422(self, api, session):
        alert = create_alert(session)
        response = _close(api, alert, typology="alchemy")
        assert response.status_code == 422
        assert session.get(Alert, alert.id).status == "NEW"

    def test_typology_only_when_filing_or_closing(self, api, session):
        alert = create_alert(session)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            {"to": "TRIAGE", "typology": "fan_in"},
            if_match=alert.version,
        )
        assert response.status_code == 422

    def test_filing_label_is_the_investigators_typology_not_the_models(self, api, session):
        alert = create_alert(session)  # the model guessed "structuring"
        response = _file(api, session, alert, typology="funnel_account")
        assert response.status_code == 200, response.text
        (row,) = [r for r in labelled_outcomes(session) if r["alert_id"] == alert.id]
        assert row["label"] == "confirmed"
        assert row["typology"] == "funnel_account"
        assert row["model_typology"] == "structuring"

    def test_without_a_typology_the_models_guess_is_no_label(self, api, session):
        alert = create_alert(session)
        assert _file(api, session, alert).status_code == 200
        (row,) = [r for r in labelled_outcomes(session) if r["alert_id"] == alert.id]
        assert row["typology"] is None


class TestEpisodeLabels:
    def test_a_decision_labels_every_report_of_the_episode(self, api, session):
        subject = {
            "subject_id": f"LB-{unique_index()}",
            "type": "person",
            "name": "Label Subject",
            "country": "US",
        }
        reports = store_reports(
            session, [make_report(unique_index(), subject=subject) for _ in range(3)]
        )
        routed = route_alerts(
            session, [alert_for(report) for report in reports], AlertPolicy(), model_threshold=0.5
        )
        (alert,) = routed.published
        session.refresh(alert)
        assert _close(api, alert, typology="structuring").status_code == 200
        rows = [r for r in labelled_outcomes(session) if r["alert_id"] == alert.id]
        assert sorted(r["report_id"] for r in rows) == sorted(r.report_id for r in reports)
        assert {r["label"] for r in rows} == {"false_positive"}
