"""The authorization matrix: every operation of the OpenAPI document × every role, plus an
expired token, a revoked token, no token and a reporter of another institution.

``MATRIX`` has one row per operation: the roles that may use it. The test fails when the
document has an operation without a row (a new route must be given one) or a row without an
operation. Each operation is called with a deterministic request valid for its schema (the
simplest one hypothesis finds; ids name nothing, so an allowed role gets a 2xx, a 404 or a
422, never a 401 or a 403); a role outside its row must get a 403, a dead token a 401.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, find, settings
from sqlalchemy.orm import Session, sessionmaker

from services.app import create_app
from services.auth.enums import Role
from services.auth.service import authenticate, create_token, revoke_token
from services.config import Settings
from services.kit.time import utc_now
from tests.fixtures.reports import make_report
from tests.services.ledger.test_endpoints import CASH

R, INV, SUP, AUD, ADM = (
    Role.REPORTER,
    Role.INVESTIGATOR,
    Role.SUPERVISOR,
    Role.AUDITOR,
    Role.ADMIN,
)
EVERYONE = frozenset(Role)
READ = frozenset({INV, SUP, AUD, ADM})  # the investigative roles: never a reporter
WRITE = frozenset({INV, SUP, ADM})  # auditors read only
DECIDE = frozenset({SUP, ADM})
PUBLIC = None  # no token needed
INSTITUTION = "US-FI-0001"

MATRIX: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/v1/schema/report"): PUBLIC,
    ("POST", "/v1/reports"): frozenset({R, ADM}),
    ("POST", "/v1/reports/files"): frozenset({R, ADM}),
    ("GET", "/v1/reports/{institution_id}/{report_id}"): EVERYONE,
    ("GET", "/v1/reports/exports/fincen-ctr"): READ,
    ("GET", "/v1/filing-profile/status"): frozenset({ADM}),
    ("GET", "/v1/cases/{case_id}/exports/fincen-sar"): READ,
    ("GET", "/v1/cases/{case_id}/exports/goaml"): READ,
    ("GET", "/v1/subjects/{subject_key}"): READ,
    ("GET", "/v1/alerts"): READ,
    ("GET", "/v1/alerts/{alert_id}"): READ,
    ("POST", "/v1/alerts/{alert_id}/transitions"): WRITE,
    ("POST", "/v1/alerts/{alert_id}/assignment"): WRITE,
    ("POST", "/v1/alerts/{alert_id}/notes"): WRITE,
    ("POST", "/v1/cases"): WRITE,
    ("GET", "/v1/cases"): READ,
    ("GET", "/v1/cases/{case_id}"): READ,
    ("PATCH", "/v1/cases/{case_id}"): WRITE,
    ("POST", "/v1/cases/{case_id}/transitions"): WRITE,
    ("POST", "/v1/cases/{case_id}/assignment"): WRITE,
    ("POST", "/v1/cases/{case_id}/notes"): WRITE,
    ("GET", "/v1/audit"): frozenset({AUD, ADM}),
    ("GET", "/v1/trace/accounts/{account_id}"): READ,
    ("GET", "/v1/trace/reports/{institution_id}/{report_id}"): READ,
    ("POST", "/v1/assets"): WRITE,
    ("GET", "/v1/assets"): READ,
    ("POST", "/v1/assets/from-trace"): WRITE,
    ("GET", "/v1/assets/{asset_id}"): READ,
    ("POST", "/v1/assets/{asset_id}/transitions"): WRITE,
    ("POST", "/v1/assets/{asset_id}/participants"): WRITE,
    ("GET", "/v1/assets/{asset_id}/participants"): READ,
    ("POST", "/v1/assets/{asset_id}/concurrences"): WRITE,
    ("POST", "/v1/assets/{asset_id}/custody"): WRITE,
    ("POST", "/v1/assets/{asset_id}/proceeds"): WRITE,
    ("POST", "/v1/assets/{asset_id}/expenses"): WRITE,
    ("POST", "/v1/assets/{asset_id}/disbursements"): WRITE,
    ("GET", "/v1/assets/{asset_id}/sharing"): READ,
    ("GET", "/v1/assets/{asset_id}/timeline"): READ,
    ("GET", "/v1/ledger/entries"): READ,
    ("GET", "/v1/ledger/entries/{seq}"): READ,
    ("POST", "/v1/ledger/entries/{seq}/approve"): DECIDE,
    ("POST", "/v1/ledger/entries/{seq}/void"): DECIDE,
    ("POST", "/v1/ledger/entries/{seq}/reverse"): WRITE,
    ("GET", "/v1/ledger/balances"): READ,
    ("GET", "/v1/ledger/shares"): READ,
    ("GET", "/v1/ledger/verify"): READ,
    ("GET", "/v1/ledger/exports/{view}.csv"): READ,
    ("GET", "/v1/watchlists"): READ,
    ("GET", "/v1/watchlists/search"): READ,
    ("POST", "/v1/watchlists/{name}/versions"): DECIDE,
    ("POST", "/v1/watchlists/matches/{match_id}/dismissal"): WRITE,
    ("GET", "/v1/watchlists/rescreens/{job_id}"): READ,
    ("GET", "/v1/programme-report"): READ,
}

# Where the simplest request of the schema is refused before the role is looked at (or
# carries what decides the answer), the request is given here.
OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/reports"): {"json": make_report(1), "params": {}},
    ("POST", "/v1/assets"): {"json": CASH},
    ("GET", "/v1/reports/{institution_id}/{report_id}"): {
        "url": f"/v1/reports/{INSTITUTION}/R-00000001"
    },
    ("GET", "/v1/audit"): {"params": {}},
    ("GET", "/v1/programme-report"): {"params": {"from": "2026-01-01", "to": "2026-01-31"}},
}


class DiscardingPublisher:
    def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        del records


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def schema() -> Any:
    app = create_app(Settings(database_url="sqlite://"))
    return schemathesis.openapi.from_dict(app.openapi())


@pytest.fixture
def world(sessions: sessionmaker[Session], database_url: str, tmp_path: Path) -> Iterator[World]:
    with sessions() as session:
        tokens = {
            role.value: create_token(
                session, role=role, institution_id=INSTITUTION if role is R else None
            )
            for role in Role
        }
        tokens["other-institution"] = create_token(session, role=R, institution_id="US-FI-0002")
        tokens["expired"] = create_token(
            session, role=ADM, expires_at=utc_now() - timedelta(seconds=1)
        )
        revoked = create_token(session, role=ADM)
        session.flush()
        principal = authenticate(session, revoked)
        assert principal is not None
        revoke_token(session, principal.token_id)
        tokens["revoked"] = revoked
        session.commit()
    app = create_app(
        Settings(database_url=database_url, data_dir=tmp_path, ledger_verify_interval_s=0),
        lambda _settings: DiscardingPublisher(),
    )
    with TestClient(app) as client:
        yield World(client, tokens)


def _request(schema: Any, method: str, path: str) -> dict[str, Any]:
    """The simplest request the schema allows for the operation, with OVERRIDES applied."""
    operation = schema[path][method]
    case = find(
        operation.as_strategy(),
        lambda _case: True,
        settings=settings(
            database=None,
            derandomize=True,
            phases=[Phase.generate],  # the first valid request: no shrinking (slow)
            suppress_health_check=list(HealthCheck),
        ),
    )
    kwargs = case.as_transport_kwargs(base_url="")
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "params": kwargs.get("params"),
        "headers": {
            **(kwargs.get("headers") or {}),
            "If-Match": '"1"',
            "Idempotency-Key": f"matrix-{uuid.uuid4().hex}",
        },
    }
    if kwargs.get("json") is not None:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"]
    request.update(OVERRIDES.get((method, path), {}))
    return request


def _operations(schema: Any) -> list[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = schema.raw_schema["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_operation_has_a_row(schema: Any) -> None:
    operations = set(_operations(schema))
    assert operations - set(MATRIX) == set(), "give the new operations a row in MATRIX"
    assert set(MATRIX) - operations == set(), "rows of operations that no longer exist"


def test_the_matrix(schema: Any, world: World) -> None:
    wrong: list[str] = []
    for (method, path), allowed in MATRIX.items():
        request = _request(schema, method, path)
        callers = [*(role.value for role in Role), "other-institution", "expired", "revoked"]
        for caller in itertools.chain(callers, ["anonymous"]):
            headers = dict(request["headers"])
            if caller != "anonymous":
                headers["Authorization"] = f"Bearer {world.tokens[caller]}"
            else:
                headers.pop("Authorization", None)
            response = world.client.request(**{**request, "headers": headers})
            status = response.status_code
            if allowed is PUBLIC:
                expected_ok = True
            elif caller in {"anonymous", "expired", "revoked"}:
                expected_ok = status == 401
                if not expected_ok:
                    wrong.append(f"{method} {path} {caller}: {status}, expected 401")
                continue
            elif caller == "other-institution":
                # A reporter of another institution is refused whatever the role row says
                # about reporters: it never reaches this institution's reports.
                expected_ok = R not in allowed or status == 403
                if not expected_ok and path in {
                    "/v1/reports",
                    "/v1/reports/{institution_id}/{report_id}",
                }:
                    wrong.append(f"{method} {path} {caller}: {status}, expected 403")
                continue
            else:
                expected_ok = Role(caller) in allowed
            if status >= 500:
                wrong.append(f"{method} {path} {caller}: {status} {response.text[:200]}")
            elif expected_ok and status in {401, 403}:
                wrong.append(f"{method} {path} {caller}: {status}, expected access")
            elif not expected_ok and status != 403:
                wrong.append(f"{method} {path} {caller}: {status}, expected 403")
    assert not wrong, "\n".join(wrong)
