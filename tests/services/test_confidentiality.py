"""No tipping off: whatever a reporter token reaches, it learns nothing the unit concluded.

Every route of the app is called with a reporter token of the institution whose report was
flagged: the API routes listed by the OpenAPI document and every console page (a reporter can
sign in to the console). The routes are read from the app, so a new route is covered the day
it is added. No response body (errors included) may carry a score, a reason, an alert, a
typology, a case, a filing or a ledger field, nor any value the unit stored about the report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.alerts.service import raise_alerts
from services.app import create_app
from services.auth.enums import Role
from services.auth.service import Principal, authenticate, create_token
from services.cases.schemas import CaseCreate
from services.cases.service import create_case
from services.config import Settings
from services.console.endpoints import PAGE_ROUTERS
from services.console.endpoints import router as console_router
from services.console.web import PREFIX
from services.reports.repository import ReportRepository
from tests.fixtures.alerts import alert_for, store_reports, unique_index
from tests.fixtures.reports import make_report

INSTITUTION = "US-FI-0001"
# Values only the unit knows about the reporter's report: none may reach the reporter.
SCORE = 0.8731
REASON = "tipping-off-marker reason 7f3a"
TYPOLOGY = "structuring"
CASE_TITLE = "tipping-off-marker case 91c2"
# Field names of what the unit concludes; none may appear in a body a reporter receives.
FORBIDDEN_KEYS = frozenset(
    {
        "score",
        "scores",
        "reason",
        "reasons",
        "alert",
        "alerts",
        "alert_id",
        "alert_ids",
        "typology",
        "typologies",
        "rule_hits",
        "features",
        "model_version",
        "case",
        "cases",
        "case_id",
        "filing",
        "filings",
        "filing_reference",
        "disposition",
        "ledger",
        "entries",
        "subject_key",
    }
)
SECRET_VALUES = (str(SCORE), "87.31", "87.3", REASON, CASE_TITLE)
PARAMETER = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")


class DiscardingPublisher:
    """Ingest is a boundary here: the reports are checked, then dropped."""

    def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        del records


@dataclass
class Seeded:
    app: FastAPI
    reporter: str
    report_id: str
    alert_id: int
    case_id: int


@pytest.fixture
def seeded(sessions: sessionmaker[Session], database_url: str, tmp_path: Path) -> Iterator[Seeded]:
    """The reporter's report, scored, with an alert in a case: everything a reporter must not
    learn is there to leak."""
    with sessions() as session:
        reporter = create_token(session, role=Role.REPORTER, institution_id=INSTITUTION)
        supervisor = create_token(session, role=Role.SUPERVISOR)
        (report,) = store_reports(session, [make_report(unique_index())])
        stored = ReportRepository(session).get(INSTITUTION, report.report_id)
        assert stored is not None
        stored.score = SCORE
        stored.reasons = [REASON]
        (alert,) = raise_alerts(
            session, [alert_for(report, score=SCORE, reasons=[REASON], typology=TYPOLOGY)]
        )
        principal = authenticate(session, supervisor)
        assert isinstance(principal, Principal)
        case = create_case(
            session,
            principal=principal,
            request=CaseCreate(title=CASE_TITLE, alert_ids=[alert.id]),
        )
        seeded_ids = (report.report_id, alert.id, case.id)
        session.commit()
    app = create_app(
        Settings(database_url=database_url, data_dir=tmp_path, ledger_verify_interval_s=0),
        lambda _settings: DiscardingPublisher(),
    )
    with TestClient(app):
        yield Seeded(app, reporter, *seeded_ids)


def _fill(path: str, seeded: Seeded) -> str:
    """Puts the seeded report's and alert's ids in a route's path parameters."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "institution_id":
            return INSTITUTION
        if name == "report_id":
            return seeded.report_id
        if name == "case_id":
            return str(seeded.case_id)
        if name.endswith("_id") or name == "seq":
            return str(seeded.alert_id)
        return "x"

    return PARAMETER.sub(value, path)


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def _assert_clean(label: str, response: Any) -> None:
    assert response.status_code < 500, (label, response.status_code, response.text)
    text = response.text
    for secret in SECRET_VALUES:
        assert secret not in text, (label, secret, text[:2000])
    if "json" in response.headers.get("content-type", ""):
        leaked = FORBIDDEN_KEYS.intersection(_keys(orjson.loads(response.content)))
        assert not leaked, (label, leaked, text[:2000])


def api_operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def console_operations() -> list[tuple[str, str]]:
    """Every (method, path) of the console (which the OpenAPI document leaves out)."""
    routes = [*console_router.routes] + [
        route for router in PAGE_ROUTERS for route in router.routes
    ]
    operations = []
    for route in routes:
        path = getattr(route, "path", "")
        prefix = "" if path.startswith(PREFIX) else PREFIX
        for method in sorted(getattr(route, "methods", ()) or ()):
            operations.append((method, prefix + path))
    return operations


class TestReporterLearnsNothing:
    def test_every_api_route(self, seeded: Seeded) -> None:
        client = TestClient(seeded.app)
        headers = {"Authorization": f"Bearer {seeded.reporter}"}
        operations = api_operations(seeded.app)
        assert ("GET", "/v1/reports/{institution_id}/{report_id}") in operations
        for method, path in operations:
            url = _fill(path, seeded)
            body: dict[str, Any] | None = None if method == "GET" else {}
            response = client.request(method, url, headers=headers, json=body)
            _assert_clean(f"{method} {url}", response)

    def test_own_report_shows_status_only(self, seeded: Seeded) -> None:
        client = TestClient(seeded.app)
        headers = {"Authorization": f"Bearer {seeded.reporter}"}
        response = client.get(f"/v1/reports/{INSTITUTION}/{seeded.report_id}", headers=headers)
        assert response.status_code == 200
        assert response.json()["report_id"] == seeded.report_id
        _assert_clean("own report", response)

    def test_bodies_that_would_conflict(self, seeded: Seeded) -> None:
        """Valid bodies a conflict would answer (the alert is in a case already, the version
        is stale): the reporter is refused before anything about the alert is looked at."""
        client = TestClient(seeded.app)
        headers = {"Authorization": f"Bearer {seeded.reporter}"}
        attempts = [
            ("POST", "/v1/cases", {"title": "mine", "alert_ids": [seeded.alert_id]}),
            ("POST", "/v1/cases", {"title": "mine", "alert_ids": [seeded.alert_id + 10**6]}),
            ("POST", f"/v1/alerts/{seeded.alert_id}/transitions", {"to": "TRIAGE", "version": 99}),
            ("POST", f"/v1/alerts/{seeded.alert_id}/transitions", {"to": "FILED", "version": 99}),
            ("POST", f"/v1/cases/{seeded.case_id}/transitions", {"to": "FILED", "version": 99}),
            ("PATCH", f"/v1/cases/{seeded.case_id}", {"title": "x", "version": 99}),
        ]
        for method, url, body in attempts:
            response = client.request(method, url, headers=headers, json=body)
            assert response.status_code == 403, (method, url, response.text)
            _assert_clean(f"{method} {url}", response)

    def test_every_console_page(self, seeded: Seeded) -> None:
        browser = TestClient(seeded.app, follow_redirects=False)
        page = browser.get(f"{PREFIX}/login")
        login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
        assert login_csrf
        signed_in = browser.post(
            f"{PREFIX}/login",
            data={"token": seeded.reporter, "login_csrf": login_csrf.group(1), "next": "/"},
        )
        assert signed_in.status_code == 303
        own = browser.get(f"{PREFIX}/reports", params={"report_id": seeded.report_id})
        assert own.status_code == 200
        assert seeded.report_id in own.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', own.text)
        assert csrf
        operations = console_operations()
        assert ("GET", f"{PREFIX}/alerts/{{alert_id}}") in operations
        for method, path in operations:
            if path.endswith(("/logout", "/login")):
                continue
            url = _fill(path, seeded)
            if method == "GET":
                response = browser.get(url, params={"report_id": seeded.report_id})
            else:
                response = browser.request(method, url, data={"csrf_token": csrf.group(1)})
            _assert_clean(f"{method} {url}", response)
