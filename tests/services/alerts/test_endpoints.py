from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.orm import Alert
from services.auth.enums import Role
from tests.fixtures.alerts import audit_count, create_alert, create_alerts, last_audit, unique_index
from tests.fixtures.reports import make_report


def institution() -> str:
    return f"US-FI-{uuid.uuid4().hex[:8]}"


def seed(session, inst: str, count: int, **report_overrides) -> list[Alert]:
    alerts = create_alerts(
        session,
        [
            make_report(unique_index(), institution_id=inst, **report_overrides)
            for _ in range(count)
        ],
    )
    return alerts


def collect(api, query: str, role: Role = Role.INVESTIGATOR) -> list[dict]:
    """Follows next_cursor to the end and returns every item."""
    items: list[dict] = []
    cursor = None
    for _ in range(100):
        url = f"/v1/alerts?{query}" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(url, role=role)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


class TestQueue:
    def test_pages_cover_everything_once_in_order(self, api, session):
        inst = institution()
        alerts = seed(session, inst, 7)
        for index, alert in enumerate(alerts):
            alert.score = round(0.5 + index * 0.05, 2)
            alert.created_at = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=index % 3)
        session.flush()
        newest = collect(api, f"institution_id={inst}&limit=2")
        assert len(newest) == 7
        assert len({item["id"] for item in newest}) == 7
        keys = [(item["created_at"], item["id"]) for item in newest]
        assert keys == sorted(keys, reverse=True)
        by_score = collect(api, f"institution_id={inst}&limit=3&sort=-score")
        assert [item["score"] for item in by_score] == sorted(
            (a.score for a in alerts), reverse=True
        )
        ascending = collect(api, f"institution_id={inst}&limit=3&sort=score")
        assert [item["id"] for item in ascending] == [item["id"] for item in reversed(by_score)]

    def test_filters_combine(self, api, session):
        inst = institution()
        alerts = seed(session, inst, 6)
        alerts[0].status = "TRIAGE"
        alerts[1].typology = "funnel_account"
        alerts[2].assignee = "alice"
        alerts[3].score = 0.2
        alerts[4].subject_key = "SSN-target"
        session.flush()

        def ids(query: str) -> set[int]:
            return {item["id"] for item in collect(api, f"institution_id={inst}&{query}")}

        assert ids("status=TRIAGE") == {alerts[0].id}
        assert ids("status=TRIAGE&status=NEW") == {a.id for a in alerts}
        assert ids("typology=funnel_account") == {alerts[1].id}
        assert ids("assignee=alice") == {alerts[2].id}
        assert ids("unassigned=true") == {a.id for a in alerts} - {alerts[2].id}
        assert ids("score_max=0.5") == {alerts[3].id}
        assert ids("score_min=0.5&score_max=1") == {a.id for a in alerts} - {alerts[3].id}
        assert ids("subject_key=SSN-target") == {alerts[4].id}
        assert ids("jurisdiction=MX") == set()
        assert ids("jurisdiction=US&status=TRIAGE") == {alerts[0].id}

    def test_created_between_and_deadline_before(self, api, session):
        inst = institution()
        alerts = seed(session, inst, 3)
        base = datetime(2026, 6, 1, tzinfo=UTC)
        for index, alert in enumerate(alerts):
            alert.created_at = base + timedelta(days=index)
            alert.deadline_at = base + timedelta(days=10 * (index + 1))
        session.flush()
        found = collect(
            api,
            f"institution_id={inst}&created_from=2026-06-02T00:00:00Z&created_to=2026-06-03T00:00:00Z",
        )
        assert [item["id"] for item in found] == [alerts[1].id]
        due = collect(
            api, f"institution_id={inst}&deadline_before=2026-06-25T00:00:00Z&sort=deadline_at"
        )
        assert [item["id"] for item in due] == [alerts[0].id, alerts[1].id]

    def test_deadline_sort_lists_only_alerts_with_a_deadline(self, api, session):
        inst = institution()
        alerts = seed(session, inst, 3)
        alerts[1].deadline_at = None
        session.flush()
        found = collect(api, f"institution_id={inst}&sort=deadline_at&limit=1")
        assert {item["id"] for item in found} == {alerts[0].id, alerts[2].id}

    def test_cursor_of_another_sort_is_422(self, api, session):
        inst = institution()
        seed(session, inst, 3)
        page = api.get(f"/v1/alerts?institution_id={inst}&limit=1").json()
        response = api.get(
            f"/v1/alerts?institution_id={inst}&sort=-score&cursor={page['next_cursor']}"
        )
        assert response.status_code == 422
        assert api.get("/v1/alerts?cursor=garbage!").status_code == 422

    def test_bad_filters_are_422(self, api):
        assert api.get("/v1/alerts?status=SLEEPING").status_code == 422
        assert api.get("/v1/alerts?score_min=2").status_code == 422
        assert api.get("/v1/alerts?created_from=2026-01-01T00:00:00").status_code == 422
        assert api.get("/v1/alerts?sort=colour").status_code == 422


class TestDetail:
    def test_detail_has_report_reasons_features_subject_and_history(self, api, session):
        alert = create_alert(session)
        response = api.get(f"/v1/alerts/{alert.id}")
        assert response.status_code == 200
        assert response.headers["ETag"] == '"1"'
        body = response.json()
        assert body["report"]["report_id"] == alert.report_id
        assert body["reasons"] == ["4 cash deposits of $9,000-9,900 in 2 days"]
        assert body["features"]["cash_count_7d"] == 4.0
        assert body["rule_hits"][0]["rule"] == "structuring"
        assert body["source"] == {"topic": "aml.reports", "partition": 0, "offset": 1}
        assert body["subject"]["subject_key"] == alert.subject_key
        assert body["subject"]["identifier_types"] == ["SSN"]
        assert body["subject"]["alert_count"] >= 1
        assert body["history"][0]["kind"] == "alert.raised"
        assert body["model_version"] == "test-model-1"

    def test_unknown_alert_is_404(self, api):
        assert api.get("/v1/alerts/99999999").status_code == 404


class TestConcurrency:
    def test_stale_if_match_is_412(self, api, session):
        alert = create_alert(session)
        first = api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "TRIAGE"}, if_match=1)
        assert first.status_code == 200
        events = audit_count(session)
        second = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            {"to": "CLOSED", "disposition": "DUPLICATE", "rationale": "dup"},
            if_match=1,
        )
        assert second.status_code == 412
        assert second.json()["errors"] == {"current_version": 2}
        assert audit_count(session) == events
        assert api.get(f"/v1/alerts/{alert.id}").json()["status"] == "TRIAGE"

    def test_stale_body_version_is_409(self, api, session):
        alert = create_alert(session)
        api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "TRIAGE", "version": 1})
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions", {"to": "INVESTIGATING", "version": 1}
        )
        assert response.status_code == 409

    def test_a_write_without_a_version_is_428(self, api, session):
        alert = create_alert(session)
        response = api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "TRIAGE"})
        assert response.status_code == 428

    @pytest.mark.parametrize("header", ["3", "*", '"abc"'])
    def test_malformed_if_match_is_400(self, api, session, header):
        alert = create_alert(session)
        response = api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "TRIAGE"}, if_match=header)
        assert response.status_code == 400

    def test_weak_etag_is_accepted(self, api, session):
        alert = create_alert(session)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions", {"to": "TRIAGE"}, if_match='W/"1"'
        )
        assert response.status_code == 200

    def test_assignment_is_versioned_too(self, api, session):
        alert = create_alert(session)
        assert (
            api.post(
                f"/v1/alerts/{alert.id}/assignment", {"assignee": "alice"}, if_match=1
            ).status_code
            == 200
        )
        stale = api.post(f"/v1/alerts/{alert.id}/assignment", {"assignee": "bob"}, if_match=1)
        assert stale.status_code == 412
        assert api.get(f"/v1/alerts/{alert.id}").json()["assignee"] == "alice"


class TestAssignmentAndNotes:
    def test_assign_then_unassign(self, api, session):
        alert = create_alert(session)
        events = audit_count(session)
        response = api.post(
            f"/v1/alerts/{alert.id}/assignment", {"assignee": "alice", "version": 1}
        )
        assert response.status_code == 200
        assert response.json()["assignee"] == "alice"
        event = last_audit(session)
        assert (event.action, event.before["assignee"], event.after["assignee"]) == (
            "alert.assign",
            None,
            "alice",
        )
        response = api.post(f"/v1/alerts/{alert.id}/assignment", {"assignee": None, "version": 2})
        assert response.json()["assignee"] is None
        assert audit_count(session) == events + 2

    def test_note_is_appended_and_shows_in_history(self, api, session):
        alert = create_alert(session)
        response = api.post(f"/v1/alerts/{alert.id}/notes", {"text": "Called the branch."})
        assert response.status_code == 201
        note = response.json()
        assert note["body"] == "Called the branch."
        assert note["author"].startswith("token:")
        event = last_audit(session)
        assert event.action == "alert.note"
        assert event.before is None
        assert event.after == {"note_id": note["id"], "text": "Called the branch."}
        history = api.get(f"/v1/alerts/{alert.id}").json()["history"]
        assert history[-1]["kind"] == "alert.note"
        # A note changes no state: the version stays.
        assert api.get(f"/v1/alerts/{alert.id}").json()["version"] == 1

    def test_note_on_unknown_alert_is_404(self, api):
        assert api.post("/v1/alerts/99999999/notes", {"text": "x"}).status_code == 404
