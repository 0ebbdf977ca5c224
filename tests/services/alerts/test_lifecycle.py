"""Every legal and every illegal move of the alert lifecycle, through the API."""

from __future__ import annotations

import itertools

import pytest

from services.alerts.enums import AlertStatus
from services.alerts.lifecycle import TRANSITIONS
from services.auth.enums import Role
from tests.fixtures.alerts import audit_count, create_alert, last_audit

S = AlertStatus
ALL_PAIRS = list(itertools.product(list(S), list(S)))
LEGAL = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


def body_for(current: AlertStatus, target: AlertStatus) -> dict[str, object]:
    """The fields a move requires, and nothing else."""
    body: dict[str, object] = {"to": target.value}
    if target is S.CLOSED:
        body |= {"disposition": "FALSE_POSITIVE", "rationale": "customer payroll, documented"}
    if target is S.FILED:
        body |= {"filing_reference": "BSA-31000123456789"}
    if current is S.CLOSED:
        body |= {"rationale": "new information from law enforcement"}
    return body


def put_in(session, alert, status: AlertStatus) -> None:
    alert.status = status.value
    if status is S.CLOSED:
        alert.disposition = "DUPLICATE"
    session.flush()


def test_the_table_covers_every_state():
    assert set(TRANSITIONS) == set(S)
    assert len(LEGAL) == 15
    assert len(LEGAL) + len(ILLEGAL) == 64


@pytest.mark.parametrize(("current", "target"), LEGAL, ids=lambda s: s.value)
def test_legal_transition(api, session, current, target):
    alert = create_alert(session)
    put_in(session, alert, current)
    version = alert.version
    events = audit_count(session)
    response = api.post(
        f"/v1/alerts/{alert.id}/transitions",
        body_for(current, target),
        role=Role.SUPERVISOR,
        if_match=version,
    )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["status"] == target.value
    assert payload["version"] == version + 1
    assert response.headers["ETag"] == f'"{version + 1}"'
    assert audit_count(session) == events + 1
    event = last_audit(session)
    assert event.action == "alert.transition"
    assert event.before["status"] == current.value
    assert event.after["status"] == target.value
    assert event.after["version"] == version + 1


@pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=lambda s: s.value)
def test_illegal_transition_is_409_and_changes_nothing(api, session, current, target):
    alert = create_alert(session)
    put_in(session, alert, current)
    events = audit_count(session)
    response = api.post(
        f"/v1/alerts/{alert.id}/transitions",
        body_for(current, target),
        role=Role.SUPERVISOR,
        if_match=alert.version,
    )
    assert response.status_code == 409, response.text
    assert response.json()["errors"]["status"] == current.value
    assert sorted(response.json()["errors"]["allowed"]) == sorted(
        t.value for t in TRANSITIONS[current]
    )
    session.refresh(alert)
    assert alert.status == current.value
    assert audit_count(session) == events


class TestWholeLife:
    def test_new_to_filed_by_the_book(self, api, session):
        alert = create_alert(session, report_type="STR", suspicion={"categories": ["structuring"]})
        path = f"/v1/alerts/{alert.id}/transitions"
        version = 1
        for target, role in [
            (S.TRIAGE, Role.INVESTIGATOR),
            (S.INVESTIGATING, Role.INVESTIGATOR),
            (S.INFO_REQUESTED, Role.INVESTIGATOR),
            (S.INVESTIGATING, Role.INVESTIGATOR),
            (S.ESCALATED, Role.INVESTIGATOR),
            (S.PENDING_FILING_DECISION, Role.INVESTIGATOR),
        ]:
            response = api.post(path, {"to": target.value, "version": version}, role=role)
            assert response.status_code == 200, response.text
            version = response.json()["version"]
        escalated = api.get(f"/v1/alerts/{alert.id}").json()
        # Escalation is the suspicion determination: the US SAR clock now runs (30 days).
        assert escalated["suspicion_determined_at"] is not None
        assert escalated["deadline_kind"] == "US_SAR"
        assert escalated["deadline_at"] is not None
        response = api.post(
            path,
            {"to": "FILED", "filing_reference": "BSA-1", "version": version},
            role=Role.SUPERVISOR,
        )
        assert response.status_code == 200, response.text
        filed = response.json()
        assert filed["status"] == "FILED"
        assert filed["filing_reference"] == "BSA-1"
        assert filed["decided_at"] is not None
        kinds = [entry["kind"] for entry in filed["history"]]
        assert kinds == ["alert.raised"] + ["alert.transition"] * 7


class TestRequirements:
    def test_closing_needs_disposition_and_rationale(self, api, session):
        alert = create_alert(session)
        response = api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "CLOSED"}, if_match=1)
        assert response.status_code == 422
        fields = {error["field"] for error in response.json()["errors"]}
        assert fields == {"disposition", "rationale"}

    def test_unknown_disposition_is_422(self, api, session):
        alert = create_alert(session)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            {"to": "CLOSED", "disposition": "BORED", "rationale": "x"},
            if_match=1,
        )
        assert response.status_code == 422

    @pytest.mark.parametrize(
        "disposition",
        ["FALSE_POSITIVE", "EXPLAINED_LEGITIMATE", "INSUFFICIENT_EVIDENCE", "DUPLICATE"],
    )
    def test_each_disposition_closes(self, api, session, disposition):
        alert = create_alert(session)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            {"to": "CLOSED", "disposition": disposition, "rationale": "reviewed"},
            if_match=1,
        )
        assert response.status_code == 200, response.text
        assert response.json()["disposition"] == disposition
        assert response.json()["rationale"] == "reviewed"

    def test_filing_needs_a_reference(self, api, session):
        alert = create_alert(session)
        put_in(session, alert, S.PENDING_FILING_DECISION)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            {"to": "FILED"},
            role=Role.SUPERVISOR,
            if_match=alert.version,
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "filing_reference"

    def test_disposition_only_when_closing(self, api, session):
        alert = create_alert(session)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            {"to": "TRIAGE", "disposition": "DUPLICATE"},
            if_match=1,
        )
        assert response.status_code == 422

    def test_reopen_needs_a_rationale(self, api, session):
        alert = create_alert(session)
        put_in(session, alert, S.CLOSED)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            {"to": "INVESTIGATING"},
            role=Role.SUPERVISOR,
            if_match=alert.version,
        )
        assert response.status_code == 422

    def test_reopen_clears_the_disposition(self, api, session):
        alert = create_alert(session)
        put_in(session, alert, S.CLOSED)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            {"to": "INVESTIGATING", "rationale": "new facts"},
            role=Role.SUPERVISOR,
            if_match=alert.version,
        )
        assert response.status_code == 200
        assert response.json()["disposition"] is None

    @pytest.mark.parametrize(
        ("current", "target"),
        [
            (S.PENDING_FILING_DECISION, S.FILED),
            (S.PENDING_FILING_DECISION, S.CLOSED),
            (S.CLOSED, S.INVESTIGATING),
        ],
    )
    def test_decisions_and_reopen_need_a_supervisor(self, api, session, current, target):
        alert = create_alert(session)
        put_in(session, alert, current)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            body_for(current, target),
            role=Role.INVESTIGATOR,
            if_match=alert.version,
        )
        assert response.status_code == 403
        admin = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            body_for(current, target),
            role=Role.ADMIN,
            if_match=alert.version,
        )
        assert admin.status_code == 200

    def test_suspicion_determination_cannot_be_in_the_future(self, api, session):
        alert = create_alert(session)
        response = api.post(
            f"/v1/alerts/{alert.id}/transitions",
            {"to": "TRIAGE", "suspicion_determined_at": "2999-01-01T00:00:00Z"},
            if_match=1,
        )
        assert response.status_code == 422

    def test_unknown_alert_is_404(self, api):
        response = api.post("/v1/alerts/987654321/transitions", {"to": "TRIAGE"}, if_match=1)
        assert response.status_code == 404
