"""Who may do what: reporters see none of this, auditors read only, investigators no audit."""

from __future__ import annotations

import pytest

from services.auth.enums import Role
from tests.fixtures.alerts import audit_count, create_alert

READS = [
    "/v1/alerts",
    "/v1/alerts/{alert}",
    "/v1/cases",
    "/v1/cases/{case}",
    "/v1/subjects/{subject}",
    "/v1/cases/{case}/exports/fincen-sar",
    "/v1/cases/{case}/exports/goaml",
    "/v1/reports/exports/fincen-ctr?institution_id=US-FI-0001&from=2026-11-01&to=2026-11-30",
]

WRITES = [
    ("post", "/v1/alerts/{alert}/transitions", {"to": "TRIAGE", "version": 1}),
    ("post", "/v1/alerts/{alert}/assignment", {"assignee": "x", "version": 1}),
    ("post", "/v1/alerts/{alert}/notes", {"text": "x"}),
    ("post", "/v1/cases", {"title": "x", "alert_ids": ["{alert}"]}),
    ("patch", "/v1/cases/{case}", {"title": "y", "version": 1}),
    ("post", "/v1/cases/{case}/transitions", {"to": "TRIAGE", "version": 1}),
    ("post", "/v1/cases/{case}/assignment", {"assignee": "x", "version": 1}),
    ("post", "/v1/cases/{case}/notes", {"text": "x"}),
]


@pytest.fixture
def world(api, session):
    alert = create_alert(session)
    other = create_alert(session)
    case = api.post("/v1/cases", {"title": "c", "alert_ids": [other.id]}).json()
    return {"alert": alert.id, "case": case["id"], "subject": alert.subject_key}


def fill(value, world):
    if isinstance(value, str):
        return value.format(**world)
    if isinstance(value, list):
        return [
            int(fill(item, world)) if item == "{alert}" else fill(item, world) for item in value
        ]
    if isinstance(value, dict):
        return {key: fill(item, world) for key, item in value.items()}
    return value


@pytest.mark.parametrize("path", READS)
def test_reporters_see_nothing(api, world, path):
    response = api.get(path.format(**world), role=Role.REPORTER)
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize("role", [Role.REPORTER, Role.AUDITOR])
def test_reporters_and_auditors_cannot_write(api, session, world, method, path, body, role):
    events = audit_count(session)
    response = getattr(api, method)(path.format(**world), fill(body, world), role=role)
    assert response.status_code == 403, response.text
    assert audit_count(session) == events


@pytest.mark.parametrize("path", READS[:5])
@pytest.mark.parametrize("role", [Role.AUDITOR, Role.INVESTIGATOR, Role.SUPERVISOR, Role.ADMIN])
def test_investigative_roles_read(api, world, path, role):
    assert api.get(path.format(**world), role=role).status_code == 200


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.AUDITOR, 200),
        (Role.ADMIN, 200),
        (Role.INVESTIGATOR, 403),
        (Role.SUPERVISOR, 403),
        (Role.REPORTER, 403),
    ],
)
def test_audit_trail_is_for_auditors_and_admins(api, role, status):
    assert api.get("/v1/audit", role=role).status_code == status


def test_no_token_is_401(api):
    assert api.client.get("/v1/alerts").status_code == 401
    assert api.client.get("/v1/audit").status_code == 401
