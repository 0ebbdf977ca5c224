from __future__ import annotations

from datetime import timedelta

import pytest

from services.auth.enums import Role
from tests.fixtures.alerts import audit_count, create_alert, last_audit


def open_case(api, session, count: int = 2, **body):
    alerts = [create_alert(session) for _ in range(count)]
    payload = {"title": "Structuring at branch B1", "alert_ids": [a.id for a in alerts], **body}
    response = api.post("/v1/cases", payload)
    assert response.status_code == 201, response.text
    return response.json(), alerts


class TestCreate:
    def test_groups_alerts_with_subjects_and_timeline(self, api, session):
        events = audit_count(session)
        case, alerts = open_case(api, session, narrative="Deposits below $10k at B1.")
        assert audit_count(session) == events + 1
        assert case["status"] == "NEW"
        assert case["version"] == 1
        assert case["jurisdiction"] == "US"
        assert case["narrative"] == "Deposits below $10k at B1."
        assert sorted(a["id"] for a in case["alerts"]) == sorted(a.id for a in alerts)
        assert {s["subject_key"] for s in case["subjects"]} == {a.subject_key for a in alerts}
        assert len(case["transactions"]) == 2
        kinds = [entry["kind"] for entry in case["timeline"]]
        assert kinds.count("transaction") == 2
        assert kinds.count("alert.raised") == 2
        assert "case.create" in kinds
        assert case["deadline_kind"] == "US_SAR"
        assert case["deadline_at"] is None  # suspicion not determined yet
        event = last_audit(session)
        assert (event.action, event.entity_type, event.before) == ("case.create", "case", None)
        assert event.after["alert_ids"] == sorted(a.id for a in alerts)
        for alert in alerts:
            session.refresh(alert)
            assert alert.case_id == case["id"]

    def test_suspicion_determination_starts_the_sar_clock_of_case_and_alerts(self, api, session):
        alert = create_alert(session, report_type="STR", suspicion={"categories": ["fan_in"]})
        response = api.post(
            "/v1/cases",
            {
                "title": "Fan-in",
                "alert_ids": [alert.id],
                "suspicion_determined_at": "2026-11-01T00:00:00Z",
            },
        )
        case = response.json()
        assert case["deadline_kind"] == "US_SAR"
        assert case["deadline_at"].startswith("2026-12-01")
        session.refresh(alert)
        assert alert.deadline_at is not None
        assert alert.deadline_at.date().isoformat() == "2026-12-01"

    def test_unidentified_subject_gets_sixty_days(self, api, session):
        alert = create_alert(
            session,
            report_type="STR",
            suspicion={"categories": ["structuring"]},
            subject={"subject_id": "UNKNOWN-1", "type": "person"},
        )
        assert alert.subject_identified is False
        case = api.post(
            "/v1/cases",
            {
                "title": "Unknown depositor",
                "alert_ids": [alert.id],
                "suspicion_determined_at": "2026-11-01T00:00:00Z",
            },
        ).json()
        assert case["subject_identified"] is False
        assert case["deadline_at"].startswith("2026-12-31")

    def test_mx_case_runs_the_roi_clock_from_the_first_alert(self, api, session):
        alert = create_alert(session, jurisdiction="MX", institution_id="MX-FI-0001")
        case = api.post("/v1/cases", {"title": "ROI", "alert_ids": [alert.id]}).json()
        assert case["deadline_kind"] == "MX_ROI"
        expected = alert.created_at + timedelta(days=60)
        assert case["deadline_at"][:10] == expected.date().isoformat()

    def test_mixed_jurisdictions_need_a_choice(self, api, session):
        us = create_alert(session)
        mx = create_alert(session, jurisdiction="MX", institution_id="MX-FI-0001")
        response = api.post("/v1/cases", {"title": "x", "alert_ids": [us.id, mx.id]})
        assert response.status_code == 422
        response = api.post(
            "/v1/cases", {"title": "x", "alert_ids": [us.id, mx.id], "jurisdiction": "US"}
        )
        assert response.status_code == 201

    def test_unknown_alert_is_422_and_nothing_is_written(self, api, session):
        events = audit_count(session)
        response = api.post("/v1/cases", {"title": "x", "alert_ids": [99999999]})
        assert response.status_code == 422
        assert audit_count(session) == events

    def test_an_alert_belongs_to_one_open_case(self, api, session):
        case, alerts = open_case(api, session, count=1)
        response = api.post("/v1/cases", {"title": "again", "alert_ids": [alerts[0].id]})
        assert response.status_code == 409
        assert response.json()["errors"] == [{"alert_id": alerts[0].id, "case_id": case["id"]}]

    def test_extra_subjects_join_the_case(self, api, session):
        alert = create_alert(session)
        other = create_alert(session)
        case = api.post(
            "/v1/cases",
            {"title": "network", "alert_ids": [alert.id], "subject_keys": [other.subject_key]},
        ).json()
        assert {s["subject_key"] for s in case["subjects"]} == {
            alert.subject_key,
            other.subject_key,
        }


class TestUpdate:
    def test_patch_changes_and_audits_once(self, api, session):
        case, alerts = open_case(api, session, count=1)
        extra = create_alert(session)
        events = audit_count(session)
        response = api.patch(
            f"/v1/cases/{case['id']}",
            {
                "narrative": "Updated narrative.",
                "add_alert_ids": [extra.id],
                "suspicion_determined_at": "2026-11-02T00:00:00Z",
            },
            if_match=1,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["narrative"] == "Updated narrative."
        assert body["version"] == 2
        assert sorted(a["id"] for a in body["alerts"]) == sorted([alerts[0].id, extra.id])
        assert body["deadline_at"].startswith("2026-12-02")
        assert audit_count(session) == events + 1
        event = last_audit(session)
        assert event.action == "case.update"
        assert event.before["narrative"] is None
        assert event.after["narrative"] == "Updated narrative."
        assert event.before["alert_ids"] == [alerts[0].id]
        assert sorted(event.after["alerts_clock_started"]) == sorted([alerts[0].id, extra.id])

    def test_remove_alert(self, api, session):
        case, alerts = open_case(api, session, count=2)
        response = api.patch(
            f"/v1/cases/{case['id']}", {"remove_alert_ids": [alerts[0].id], "version": 1}
        )
        assert [a["id"] for a in response.json()["alerts"]] == [alerts[1].id]
        session.refresh(alerts[0])
        assert alerts[0].case_id is None

    def test_a_case_keeps_one_alert(self, api, session):
        case, alerts = open_case(api, session, count=1)
        response = api.patch(
            f"/v1/cases/{case['id']}", {"remove_alert_ids": [alerts[0].id], "version": 1}
        )
        assert response.status_code == 422

    def test_stale_version(self, api, session):
        case, _ = open_case(api, session, count=1)
        api.patch(f"/v1/cases/{case['id']}", {"title": "a"}, if_match=1)
        assert api.patch(f"/v1/cases/{case['id']}", {"title": "b"}, if_match=1).status_code == 412
        assert api.patch(f"/v1/cases/{case['id']}", {"title": "b", "version": 1}).status_code == 409
        assert api.patch(f"/v1/cases/{case['id']}", {"title": "b"}).status_code == 428


class TestLifecycle:
    def walk(self, api, case_id: int, targets, role=Role.INVESTIGATOR, version: int = 1) -> int:
        for target in targets:
            response = api.post(
                f"/v1/cases/{case_id}/transitions", {"to": target, "version": version}, role=role
            )
            assert response.status_code == 200, response.text
            version = response.json()["version"]
        return version

    def test_filing_the_case_files_its_open_alerts(self, api, session):
        case, alerts = open_case(api, session, count=2)
        closed = alerts[1]
        closed.status, closed.disposition = "CLOSED", "DUPLICATE"
        session.flush()
        version = self.walk(
            api, case["id"], ["TRIAGE", "INVESTIGATING", "ESCALATED", "PENDING_FILING_DECISION"]
        )
        escalated = api.get(f"/v1/cases/{case['id']}").json()
        assert escalated["suspicion_determined_at"] is not None
        assert escalated["deadline_at"] is not None
        events = audit_count(session)
        response = api.post(
            f"/v1/cases/{case['id']}/transitions",
            {"to": "FILED", "filing_reference": "BSA-31000000000042", "version": version},
            role=Role.SUPERVISOR,
        )
        assert response.status_code == 200, response.text
        assert audit_count(session) == events + 1
        event = last_audit(session)
        assert event.after["alerts_decided"] == [
            {"alert_id": alerts[0].id, "from": "NEW", "to": "FILED"}
        ]
        session.refresh(alerts[0])
        session.refresh(closed)
        assert (alerts[0].status, alerts[0].filing_reference) == ("FILED", "BSA-31000000000042")
        assert closed.status == "CLOSED"  # already decided: untouched

    def test_closing_the_case_closes_its_alerts_with_the_disposition(self, api, session):
        case, alerts = open_case(api, session, count=2)
        response = api.post(
            f"/v1/cases/{case['id']}/transitions",
            {
                "to": "CLOSED",
                "disposition": "EXPLAINED_LEGITIMATE",
                "rationale": "payroll",
                "version": 1,
            },
        )
        assert response.status_code == 200
        for alert in alerts:
            session.refresh(alert)
            assert (alert.status, alert.disposition) == ("CLOSED", "EXPLAINED_LEGITIMATE")

    def test_illegal_case_transition_is_409(self, api, session):
        case, _ = open_case(api, session, count=1)
        response = api.post(
            f"/v1/cases/{case['id']}/transitions", {"to": "ESCALATED", "version": 1}
        )
        assert response.status_code == 409

    def test_decided_case_is_not_edited(self, api, session):
        case, _ = open_case(api, session, count=1)
        api.post(
            f"/v1/cases/{case['id']}/transitions",
            {"to": "CLOSED", "disposition": "DUPLICATE", "rationale": "dup", "version": 1},
        )
        response = api.patch(f"/v1/cases/{case['id']}", {"title": "late", "version": 2})
        assert response.status_code == 409

    def test_assignment_and_notes(self, api, session):
        case, _ = open_case(api, session, count=1)
        response = api.post(f"/v1/cases/{case['id']}/assignment", {"assignee": "carol"}, if_match=1)
        assert response.json()["assignee"] == "carol"
        assert last_audit(session).action == "case.assign"
        note = api.post(f"/v1/cases/{case['id']}/notes", {"text": "Subpoena sent."})
        assert note.status_code == 201
        assert last_audit(session).action == "case.note"
        timeline = api.get(f"/v1/cases/{case['id']}").json()["timeline"]
        assert any(
            entry["kind"] == "case.note" and "Subpoena" in entry["summary"] for entry in timeline
        )


class TestList:
    def test_list_filters_and_paginates(self, api, session):
        first, _ = open_case(api, session, count=1, assignee="dave")
        second, _ = open_case(api, session, count=1)
        third, _ = open_case(api, session, count=1, jurisdiction="US")
        page = api.get("/v1/cases?limit=2").json()
        assert len(page["items"]) == 2
        rest = api.get(f"/v1/cases?limit=2&cursor={page['next_cursor']}").json()
        ids = [c["id"] for c in page["items"] + rest["items"]]
        assert {first["id"], second["id"], third["id"]} <= set(ids)
        assert len(ids) == len(set(ids))
        dave = api.get("/v1/cases?assignee=dave").json()["items"]
        assert [c["id"] for c in dave] == [first["id"]]
        subject = second["subjects"][0]["subject_key"]
        by_subject = api.get(f"/v1/cases?subject_key={subject}").json()["items"]
        assert second["id"] in [c["id"] for c in by_subject]

    @pytest.mark.parametrize("path", ["/v1/cases/99999999", "/v1/cases/99999999/notes"])
    def test_unknown_case_is_404(self, api, path):
        response = api.get(path) if "notes" not in path else api.post(path, {"text": "x"})
        assert response.status_code == 404
