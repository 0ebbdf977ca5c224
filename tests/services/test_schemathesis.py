"""Schemathesis against the OpenAPI document: no operation answers a 5xx, whatever it is sent,
and every status code, content type, declared header and body it answers is the one the
document declares for the operation.

A CI-sized run: a few generated cases per operation, as an admin (the role that reaches the
most code), against the real app served by uvicorn on PostgreSQL. The database holds a small
seeded world: a scored STR and a cash deposit of one institution, alerts, a case with notes,
a watchlist match found by a rescreen, a forfeited asset with a participant and its ledger
postings. It is seeded at the keys the coverage phase sends, so generated requests reach
stored objects as well as missing ones. Deterministic tests then read every object of a fresh
world (every GET of the document, the reporter's own report included), propose closures that
wait for a second person (202), send values PostgreSQL refuses and read the exports with an
invalid filing profile, each answer checked the same way.

Issue 18 found seven distinct 500s this way (ids beyond 64 bits, out-of-range alert ids). The
status code check found 65 (operation, status) pairs the document did not declare: 52 of them
401 (the coverage phase sends requests without the token), the others 404 on reads of one
asset, ledger entry, subject or rescreen job, and 400 for an If-Match that is not an ETag or
a body that cannot be read. The body checks found the ledger's CSV export declaring its (JSON)
errors as text/plain, and the 422s of values the database refuses answered with a body the
document did not allow (docs/security.md). Requests with a method the operation does not have
(the coverage phase's 405 probes) are not held to the operation's responses.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.alerts.approvals import AWAITING_HEADER
from services.alerts.service import raise_alerts
from services.app import create_app
from services.auth.enums import Role
from services.auth.service import create_token
from services.config import Settings
from services.db import make_engine, transaction
from services.migrate import upgrade
from services.orm_registry import make_sessionmaker
from services.reports.repository import ReportRepository
from services.watchlists.service import IndexHolder, run_rescreens
from tests.conftest import _create_postgres_database, _drop_postgres_database, free_port
from tests.fixtures.alerts import alert_for, store_reports
from tests.fixtures.reports import make_report, make_str
from tests.services.filings.conftest import PROFILE
from tests.services.ledger.test_endpoints import CASH
from tests.services.reports.formats.test_csv import HEADER as CSV_HEADER
from tests.services.reports.formats.test_csv import ROWS as CSV_ROWS

EXAMPLES_PER_OPERATION = 3
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CHECKS = [not_a_server_error, *CONFORMANCE]
# The coverage phase sends "0" for a free-text path parameter and 1 (the minimum) for an id:
# the world is seeded there. A fresh database numbers its rows from 1.
INSTITUTION = "0"
REPORT = "0"
ACCOUNT = "0"
SUBJECT_NAME = "Ramon Quintero Salazar"
CLOSE_FP = {"to": "CLOSED", "disposition": "FALSE_POSITIVE", "rationale": "payroll, documented"}


class DiscardingPublisher:
    def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        del records


@dataclass(frozen=True)
class World:
    base_url: str
    database_url: str
    tokens: dict[Role, str]
    subject_key: str
    entry_seq: int

    def headers(self, role: Role = Role.ADMIN) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


# The schema only: building the app touches no database (that happens in its lifespan).
DOCUMENT = create_app(Settings(database_url="sqlite://")).openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)


def checked(response: httpx.Response, method: str, path: str, **parameters: Any) -> Any:
    """The JSON body of a 2xx answer, checked against the document as generated ones are."""
    SCHEMA[path][method].Case(path_parameters=parameters).validate_response(response, checks=CHECKS)
    assert response.status_code < 300, (method, path, response.text[:500])
    return response.json()


def _seed_store(url: str) -> tuple[dict[Role, str], str]:
    """What the worker would have stored: a scored STR, a cash deposit over the CTR threshold
    (another subject), and their alerts, the deposit's above the second-approval score."""
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            tokens = {
                role: create_token(
                    session,
                    role=role,
                    institution_id=INSTITUTION if role is Role.REPORTER else None,
                )
                for role in (Role.ADMIN, Role.SUPERVISOR, Role.REPORTER)
            }
            document = make_str(0, report_id=REPORT, institution_id=INSTITUTION)
            document["subject"]["name"] = SUBJECT_NAME
            document["transaction"].update(
                account_id=ACCOUNT,
                direction="out",
                instrument="wire",
                counterparty={
                    "name": "Comercializadora del Bravo SA",
                    "account_id": "MX-1",
                    "institution_id": "MX-FI-0001",
                    "country": "MX",
                    "type": "entity",
                },
            )
            deposit = make_report(1, report_id="1", institution_id=INSTITUTION)
            deposit["transaction"]["amount"] = "12000.00"
            report, cash = store_reports(session, [document, deposit])
            stored = ReportRepository(session).get(INSTITUTION, REPORT)
            assert stored is not None
            stored.score = 0.91
            stored.reasons = ["4 cash deposits of $9,000-9,900 in 2 days"]
            raise_alerts(session, [alert_for(report), alert_for(cash, score=0.99)])
        return tokens, report.subject_key
    finally:
        engine.dispose()


def _seed_over_http(client: httpx.Client, supervisor: dict[str, str]) -> int:
    """What investigators and supervisors add through the API, every answer checked; returns
    the seq of the forfeiture's ledger entry."""
    case = {
        "title": "Bravo river deposits",
        "alert_ids": [1],
        "narrative": "Four cash deposits just under the threshold, then a wire to Mexico.",
        "suspicion_determined_at": "2026-11-29T12:00:00Z",
    }
    checked(client.post("/v1/cases", json=case), "POST", "/v1/cases")
    note = {"text": "asked the branch for the CCTV"}
    response = client.post("/v1/alerts/1/notes", json=note)
    checked(response, "POST", "/v1/alerts/{alert_id}/notes", alert_id=1)
    response = client.post("/v1/cases/1/notes", json=note)
    checked(response, "POST", "/v1/cases/{case_id}/notes", case_id=1)
    listed = f"id,name,type,country\nW-1,{SUBJECT_NAME},person,MX\n"
    response = client.post(
        "/v1/watchlists/seeded/versions",
        params={"format": "csv"},
        content=listed.encode(),
        headers={"Content-Type": "text/csv"},
    )
    checked(response, "POST", "/v1/watchlists/{name}/versions", name="seeded")
    keys = iter(range(10**6))

    def write(path: str, body: Any, as_supervisor: bool = False, **parameters: Any) -> Any:
        headers = {"Idempotency-Key": f"seed-{next(keys)}", **(supervisor if as_supervisor else {})}
        response = client.post(path.format(**parameters), json=body, headers=headers)
        return checked(response, "POST", path, **parameters)

    asset = write("/v1/assets", CASH)["id"]
    for step in (
        {"to": "SEIZED", "at": "2026-02-01T10:00:00Z", "seizing_authority": "federal"},
        {"to": "NOTICED", "at": "2026-02-10T10:00:00Z"},
        {"to": "FORFEITED_ADMIN", "at": "2026-04-10T10:00:00Z"},
    ):
        change = write("/v1/assets/{asset_id}/transitions", step, asset_id=asset)
    seq: int = change["entries"][0]["seq"]
    write("/v1/ledger/entries/{seq}/approve", None, as_supervisor=True, seq=seq)
    participant = {
        "agency_id": "HPD",
        "agency_name": "Houston PD",
        "country": "US",
        "role": "local",
        "work_hours": 100,
    }
    write("/v1/assets/{asset_id}/participants", participant, asset_id=asset)
    return seq


@contextmanager
def seeded_world(data_dir: Path) -> Iterator[World]:
    """A fresh PostgreSQL database with the world in it, served by uvicorn."""
    name, url = _create_postgres_database()
    try:
        upgrade(url)
        tokens, subject_key = _seed_store(url)
        profile = json.loads(json.dumps(PROFILE))
        profile["institutions"][INSTITUTION] = profile["institutions"]["US-FI-0001"]
        (data_dir / "filing-profile.json").write_text(json.dumps(profile))
        app = create_app(
            Settings(database_url=url, data_dir=data_dir, ledger_verify_interval_s=0),
            lambda _settings: DiscardingPublisher(),
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        try:
            base_url = f"http://127.0.0.1:{port}"
            admin = {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}
            supervisor = {"Authorization": f"Bearer {tokens[Role.SUPERVISOR]}"}
            with httpx.Client(base_url=base_url, headers=admin, timeout=30) as client:
                seq = _seed_over_http(client, supervisor)
            engine = make_engine(url)
            try:
                run_rescreens(make_sessionmaker(engine), IndexHolder())
            finally:
                engine.dispose()
            yield World(base_url, url, tokens, subject_key, seq)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    finally:
        _drop_postgres_database(name)


def _postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        # One backend keeps the run CI-sized; PostgreSQL is the stricter (NUL characters,
        # column ranges). Ids beyond 64 bits on SQLite: tests/services/test_hostile_input.py.
        pytest.skip("schemathesis runs against PostgreSQL")


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The world the generated requests change as they go."""
    _postgresql_only(database_url)
    with seeded_world(tmp_path_factory.mktemp("schemathesis")) as seeded:
        yield seeded


@pytest.fixture(scope="module")
def fresh_world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world no generated request has changed (with pytest-xdist, generated cases may run
    first in the same process)."""
    _postgresql_only(database_url)
    with seeded_world(tmp_path_factory.mktemp("schemathesis-fresh")) as seeded:
        yield seeded


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_requests_answer_as_documented(
    case: schemathesis.Case[Any], world: World
) -> None:
    case.call_and_validate(
        base_url=world.base_url, headers=world.headers(), checks=CHECKS, timeout=30
    )


def _reads(world: World) -> list[tuple[str, dict[str, Any], dict[str, Any], dict[str, str]]]:
    """Every read of the API at the world's keys: (path, path parameters, query, headers)."""
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    report = {"institution_id": INSTITUTION, "report_id": REPORT}
    reads: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, str]]] = [
        (path, {}, {}, {})
        for path in (
            "/healthz",
            "/readyz",
            "/v1/schema/report",
            "/v1/filing-profile/status",
            "/v1/alerts",
            "/v1/cases",
            "/v1/audit",
            "/v1/assets",
            "/v1/ledger/entries",
            "/v1/ledger/balances",
            "/v1/ledger/verify",
            "/v1/ledger/shares",
            "/v1/watchlists",
        )
    ]
    reads += [
        ("/v1/alerts/{alert_id}", {"alert_id": 1}, {}, {}),
        ("/v1/cases/{case_id}", {"case_id": 1}, {}, {}),
        ("/v1/cases/{case_id}/exports/fincen-sar", {"case_id": 1}, {}, {}),
        ("/v1/cases/{case_id}/exports/goaml", {"case_id": 1}, {}, {}),
        ("/v1/reports/exports/fincen-ctr", {}, {"institution_id": INSTITUTION, **period}, {}),
        ("/v1/reports/{institution_id}/{report_id}", report, {}, {}),
        # What a reporter reads of its own report (ReporterReportRead).
        ("/v1/reports/{institution_id}/{report_id}", report, {}, world.headers(Role.REPORTER)),
        ("/v1/subjects/{subject_key}", {"subject_key": world.subject_key}, {}, {}),
        ("/v1/trace/accounts/{account_id}", {"account_id": ACCOUNT}, {}, {}),
        ("/v1/trace/reports/{institution_id}/{report_id}", report, {}, {}),
        ("/v1/assets/{asset_id}", {"asset_id": 1}, {}, {}),
        ("/v1/assets/{asset_id}/participants", {"asset_id": 1}, {}, {}),
        ("/v1/assets/{asset_id}/sharing", {"asset_id": 1}, {}, {}),
        ("/v1/assets/{asset_id}/timeline", {"asset_id": 1}, {}, {}),
        ("/v1/ledger/entries/{seq}", {"seq": world.entry_seq}, {}, {}),
        ("/v1/watchlists/search", {}, {"name": SUBJECT_NAME}, {}),
        ("/v1/watchlists/rescreens/{job_id}", {"job_id": 1}, {}, {}),
        ("/v1/programme-report", {}, period, {}),
        ("/v1/programme-report", {}, period, {"Accept": "text/csv"}),
    ]
    (view,) = DOCUMENT["paths"]["/v1/ledger/exports/{view}.csv"]["get"]["parameters"]
    reads += [
        ("/v1/ledger/exports/{view}.csv", {"view": name}, {}, {}) for name in view["schema"]["enum"]
    ]
    return reads


def test_every_stored_object_reads_as_documented(fresh_world: World) -> None:
    reads = _reads(fresh_world)
    documented = {path for path, operations in DOCUMENT["paths"].items() if "get" in operations}
    assert {path for path, *_ in reads} == documented
    for path, parameters, query, headers in reads:
        case = SCHEMA[path]["GET"].Case(path_parameters=parameters, query=query)
        response = case.call_and_validate(
            base_url=fresh_world.base_url,
            headers={**fresh_world.headers(), **headers},
            checks=CHECKS,
            timeout=30,
        )
        assert response.status_code == 200, (path, parameters, response.text[:500])


def test_a_closure_awaiting_a_second_person_answers_as_documented(fresh_world: World) -> None:
    # Alert 2 scores above the second-approval score. A proposal changes nothing (the audit
    # trail records it), so the reads above hold in any order.
    def propose(client: httpx.Client, path: str, **parameters: Any) -> None:
        url = path.format(**parameters)
        version = checked(client.get(url), "GET", path, **parameters)["version"]
        proposed = client.post(f"{url}/transitions", json={**CLOSE_FP, "version": version})
        checked(proposed, "POST", f"{path}/transitions", **parameters)
        assert proposed.status_code == 202, proposed.text
        assert proposed.headers[AWAITING_HEADER]

    with httpx.Client(
        base_url=fresh_world.base_url, headers=fresh_world.headers(), timeout=30
    ) as client:
        propose(client, "/v1/alerts/{alert_id}", alert_id=2)
        created = client.post("/v1/cases", json={"title": "one deposit", "alert_ids": [2]})
        propose(client, "/v1/cases/{case_id}", case_id=checked(created, "POST", "/v1/cases")["id"])


def test_file_uploads_answer_as_documented(world: World) -> None:
    # Generated bodies are never a valid file: one CSV through both routes (the reports are
    # published to nowhere).
    upload = ("\n".join([CSV_HEADER, *CSV_ROWS]) + "\n").encode()
    with httpx.Client(base_url=world.base_url, headers=world.headers(), timeout=30) as client:
        for path in ("/v1/reports", "/v1/reports/files"):
            response = client.post(path, content=upload, headers={"Content-Type": "text/csv"})
            assert checked(response, "POST", path)["reports"] == len(CSV_ROWS)


def test_values_the_database_refuses_answer_as_documented(world: World) -> None:
    # PostgreSQL refuses a NUL character in text: the app's 422 (an ErrorBody), on routes that
    # FastAPI documented with its own validation error alone.
    report = {"institution_id": INSTITUTION, "report_id": "a\x00"}
    for path, parameters in (
        ("/v1/reports/{institution_id}/{report_id}", report),
        ("/v1/subjects/{subject_key}", {"subject_key": "a\x00"}),
        ("/v1/trace/accounts/{account_id}", {"account_id": "a\x00"}),
        ("/v1/trace/reports/{institution_id}/{report_id}", report),
    ):
        case = SCHEMA[path]["GET"].Case(path_parameters=parameters)
        response = case.call_and_validate(
            base_url=world.base_url, headers=world.headers(), checks=CHECKS, timeout=30
        )
        assert response.status_code == 422, (path, response.text[:500])


def test_an_invalid_filing_profile_answers_as_documented(world: World, tmp_path: Path) -> None:
    (tmp_path / "filing-profile.json").write_text('{"transmitter": 7}')
    app = create_app(
        Settings(database_url=world.database_url, data_dir=tmp_path, ledger_verify_interval_s=0)
    )
    period = {"institution_id": INSTITUTION, "from": "2026-11-01", "to": "2026-11-30"}
    with TestClient(app, headers=world.headers()) as client:
        for path, parameters, query, status in (
            ("/v1/cases/{case_id}/exports/fincen-sar", {"case_id": 1}, {}, 503),
            ("/v1/cases/{case_id}/exports/goaml", {"case_id": 1}, {}, 503),
            ("/v1/reports/exports/fincen-ctr", {}, period, 503),
            ("/v1/filing-profile/status", {}, {}, 200),
        ):
            case = SCHEMA[path]["GET"].Case(path_parameters=parameters, query=query)
            response = client.get(case.formatted_path, params=query)
            # The 503 is declared (the operator must mend the file), not a server error.
            case.validate_response(response, checks=CONFORMANCE)
            assert response.status_code == status, (path, response.text[:500])


def test_every_response_declares_its_body() -> None:
    # A body declared nowhere is never checked: every response declares a schema for each of
    # its media types, and every error (400 or more) a JSON body alone (the CSV and XML routes
    # answer their errors in JSON too).
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                assert content, (method, path, status)
                for media_type, declared in content.items():
                    assert declared.get("schema"), (method, path, status, media_type)
                if int(status) >= 400:
                    assert list(content) == ["application/json"], (method, path, status)


def test_401_is_declared_exactly_where_a_token_is_required() -> None:
    # Generated cases reach a 401 only where the coverage phase drops the token; this holds
    # for every operation, and keeps 401 off the public ones.
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            assert ("401" in operation["responses"]) == bool(operation.get("security")), (
                method,
                path,
            )
