"""Every API write appends exactly one audit event; the trail cannot be changed."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from services.audit.orm import AppendOnlyViolation, AuditEvent
from services.auth.enums import Role
from tests.fixtures.alerts import audit_count, create_alert, last_audit


@pytest.fixture
def world(api, session):
    alert = create_alert(session)
    in_case = create_alert(session)
    case = api.post("/v1/cases", {"title": "c", "alert_ids": [in_case.id]}).json()
    return {"alert": alert, "case": case, "free": create_alert(session)}


def writes(world):
    alert, case, free = world["alert"].id, world["case"]["id"], world["free"].id
    # (method, path, body, role, action, entity, field checked, before value, after value)
    return [
        (
            "post",
            f"/v1/alerts/{alert}/transitions",
            {"to": "TRIAGE", "version": 1},
            Role.INVESTIGATOR,
            "alert.transition",
            ("alert", alert),
            "status",
            "NEW",
            "TRIAGE",
        ),
        (
            "post",
            f"/v1/alerts/{alert}/assignment",
            {"assignee": "ann", "version": 2},
            Role.INVESTIGATOR,
            "alert.assign",
            ("alert", alert),
            "assignee",
            None,
            "ann",
        ),
        (
            "post",
            f"/v1/alerts/{alert}/notes",
            {"text": "n1"},
            Role.SUPERVISOR,
            "alert.note",
            ("alert", alert),
            "text",
            None,
            "n1",
        ),
        (
            "post",
            "/v1/cases",
            {"title": "t", "alert_ids": [free]},
            Role.ADMIN,
            "case.create",
            ("case", None),
            "status",
            None,
            "NEW",
        ),
        (
            "patch",
            f"/v1/cases/{case}",
            {"narrative": "N", "version": 1},
            Role.INVESTIGATOR,
            "case.update",
            ("case", case),
            "narrative",
            None,
            "N",
        ),
        (
            "post",
            f"/v1/cases/{case}/transitions",
            {"to": "TRIAGE", "version": 2},
            Role.INVESTIGATOR,
            "case.transition",
            ("case", case),
            "status",
            "NEW",
            "TRIAGE",
        ),
        (
            "post",
            f"/v1/cases/{case}/assignment",
            {"assignee": "bo", "version": 3},
            Role.INVESTIGATOR,
            "case.assign",
            ("case", case),
            "assignee",
            None,
            "bo",
        ),
        (
            "post",
            f"/v1/cases/{case}/notes",
            {"text": "n2"},
            Role.INVESTIGATOR,
            "case.note",
            ("case", case),
            "text",
            None,
            "n2",
        ),
    ]


def test_every_write_appends_exactly_one_event_with_before_and_after(api, session, world):
    for method, path, body, role, action, (entity, entity_id), field, before, after in writes(
        world
    ):
        events = audit_count(session)
        response = getattr(api, method)(path, body, role=role)
        assert response.status_code in (200, 201), (path, response.text)
        assert audit_count(session) == events + 1, path
        event = last_audit(session)
        assert event.action == action
        assert event.entity_type == entity
        if entity_id is not None:
            assert event.entity_id == str(entity_id)
        assert event.actor == f"token:{_token_id(session, api, role)}"
        assert event.role == role.value
        assert event.at is not None
        if before is None and event.before is None:
            pass
        else:
            assert event.before[field] == before, path
        assert event.after[field] == after, path
        if "version" in (event.after or {}) and event.before is not None:
            assert event.after["version"] == event.before["version"] + 1


def _token_id(session, api, role):
    from services.auth.service import authenticate

    return authenticate(session, api.tokens[role]).token_id


def test_failed_writes_append_nothing(api, session, world):
    alert = world["alert"]
    events = audit_count(session)
    failures = [
        api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "FILED", "version": 1}),  # 409
        api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "TRIAGE", "version": 7}),  # 409
        api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "TRIAGE"}, if_match=7),  # 412
        api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "CLOSED", "version": 1}),  # 422
        api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "TRIAGE"}),  # 428
        api.post(
            "/v1/cases", {"title": "x", "alert_ids": [world["case"]["alerts"][0]["id"]]}
        ),  # 409
    ]
    assert [r.status_code for r in failures] == [409, 409, 412, 422, 428, 409]
    assert audit_count(session) == events


class TestReadingTheTrail:
    def test_filters_and_pagination(self, api, session, world):
        alert = world["alert"]
        api.post(f"/v1/alerts/{alert.id}/transitions", {"to": "TRIAGE", "version": 1})
        api.post(f"/v1/alerts/{alert.id}/notes", {"text": "hello"})
        page = api.get(
            f"/v1/audit?entity_type=alert&entity_id={alert.id}&limit=1", role=Role.AUDITOR
        )
        assert page.status_code == 200
        first = page.json()
        assert [e["action"] for e in first["items"]] == ["alert.note"]
        rest = api.get(
            f"/v1/audit?entity_type=alert&entity_id={alert.id}&limit=1&cursor={first['next_cursor']}",
            role=Role.AUDITOR,
        ).json()
        assert [e["action"] for e in rest["items"]] == ["alert.transition"]
        assert rest["items"][0]["before"]["status"] == "NEW"
        assert rest["next_cursor"] is None
        by_action = api.get("/v1/audit?action=case.create", role=Role.ADMIN).json()["items"]
        assert all(e["action"] == "case.create" for e in by_action)
        assert api.get("/v1/audit?cursor=abc", role=Role.AUDITOR).status_code == 422


class TestAppendOnly:
    def test_the_mapper_refuses_update_and_delete(self, api, session, world):
        api.post(f"/v1/alerts/{world['alert'].id}/notes", {"text": "x"})
        event = session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        event.actor = "someone else"
        with pytest.raises(AppendOnlyViolation):
            session.flush()
        session.rollback()

    def test_the_database_refuses_update(self, api, session, world):
        api.post(f"/v1/alerts/{world['alert'].id}/notes", {"text": "x"})
        session.flush()
        with pytest.raises(Exception, match="append-only"):
            with session.begin_nested():
                session.execute(text("UPDATE audit_events SET actor = 'x'"))
        with pytest.raises(Exception, match="append-only"):
            with session.begin_nested():
                session.execute(text("UPDATE investigation_notes SET body = 'x'"))

    def test_postgres_refuses_delete_to_the_application_role(
        self, api, session, world, database_url
    ):
        if not database_url.startswith("postgresql"):
            pytest.skip("roles exist on PostgreSQL only; SQLite refuses UPDATE, not DELETE")
        api.post(f"/v1/alerts/{world['alert'].id}/notes", {"text": "x"})
        session.flush()
        with session.begin_nested():
            session.execute(
                text(
                    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                    "'amlscreen_app_test') THEN CREATE ROLE amlscreen_app_test; END IF; END $$"
                )
            )
            session.execute(text("GRANT SELECT, DELETE ON audit_events TO amlscreen_app_test"))
        with pytest.raises(Exception, match="append-only"):
            _delete_as(session, "amlscreen_app_test")


def _delete_as(session, role: str) -> None:
    with session.begin_nested():
        session.execute(text(f"SET LOCAL ROLE {role}"))
        session.execute(text("DELETE FROM audit_events"))
