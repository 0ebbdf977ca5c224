"""Hostile input is a 4xx, never a 500: ids beyond 64 bits, odd cursors, formula cells.

The operations come from the OpenAPI document (and the console's routes), so a new route
with an integer id in its path is covered the day it is added.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.assets.exports import cell
from services.auth.enums import Role
from services.console.endpoints import PAGE_ROUTERS
from services.console.web import PREFIX
from services.kit.ids import MAX_DB_ID
from tests.fixtures import alerts as alert_fixtures
from tests.fixtures.alerts import Api

api = alert_fixtures.api  # the fixture: a client in the test's rolled-back session

PARAMETER = re.compile(r"\{([a-z_]+)\}")
HUGE = [2**64, MAX_DB_ID + 1, 10**30, -(2**64), 0]


def _integer_path_operations(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) whose path has an integer parameter."""
    document = api.client.app.openapi()  # type: ignore[attr-defined]
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            if any(
                p["in"] == "path" and p.get("schema", {}).get("type") == "integer"
                for p in parameters
            ):
                found.append((method.upper(), path))
    return found


def _fill(path: str, operation: dict[str, Any], value: int) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        for parameter in operation.get("parameters", []):
            if parameter["name"] == name and parameter["in"] == "path":
                if parameter.get("schema", {}).get("type") == "integer":
                    return str(value)
        return "x"

    return PARAMETER.sub(replace, path)


def test_ids_beyond_64_bits_are_refused_never_a_500(api: Api) -> None:
    operations = _integer_path_operations(api)
    for expected in (
        ("GET", "/v1/alerts/{alert_id}"),
        ("GET", "/v1/cases/{case_id}"),
        ("GET", "/v1/cases/{case_id}/exports/goaml"),
        ("POST", "/v1/assets/{asset_id}/concurrences"),
        ("POST", "/v1/assets/{asset_id}/custody"),
        ("POST", "/v1/cases/{case_id}/assignment"),
    ):
        assert expected in operations
    document = api.client.app.openapi()  # type: ignore[attr-defined]
    headers = api.headers(Role.ADMIN)
    for method, path in operations:
        operation = document["paths"][path][method.lower()]
        for value in HUGE:
            url = _fill(path, operation, value)
            body = None if method == "GET" else {}
            response = api.client.request(method, url, headers=headers, json=body)
            assert response.status_code in {404, 422}, (url, response.status_code, response.text)


def test_console_pages_refuse_huge_ids(api: Api) -> None:
    """The console's pages with an integer id (signed-out: the id is checked first)."""
    paths = [
        f"{PREFIX}{route.path}"  # type: ignore[attr-defined]
        for router in PAGE_ROUTERS
        for route in router.routes
        if "GET" in getattr(route, "methods", set()) and re.search(r"_id\}|\{seq\}", route.path)  # type: ignore[attr-defined]
    ]
    assert f"{PREFIX}/alerts/{{alert_id}}" in paths
    for path in paths:
        url = PARAMETER.sub(lambda m: str(2**64) if m.group(1).endswith("_id") else "x", path)
        response = api.client.get(url, follow_redirects=False)
        assert response.status_code < 500, (url, response.status_code)


@pytest.mark.parametrize(
    "body",
    [
        {"title": "t", "alert_ids": [2**64]},
        {"title": "t", "alert_ids": [MAX_DB_ID + 1]},
        {"title": "t", "alert_ids": [-1]},
    ],
)
def test_out_of_range_alert_ids_in_a_new_case(api: Api, body: dict[str, Any]) -> None:
    response = api.post("/v1/cases", body, role=Role.SUPERVISOR)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", "alert_ids"]


@pytest.mark.parametrize("cursor", [str(10**30), "９", "1" * 5000, "-1"])
def test_odd_audit_cursors(api: Api, cursor: str) -> None:
    response = api.get("/v1/audit", role=Role.AUDITOR, params={"cursor": cursor})
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("", ""),
        ("plain", "plain"),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        (-5, -5),
        (None, None),
    ],
)
def test_csv_cells(value: Any, written: Any) -> None:
    assert cell(value) == written


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/alerts", {"institution_id": "US\x00FI"}),
        ("/v1/cases", {"assignee": "ana\x00"}),
        ("/v1/audit", {"actor": "token:\x00"}),
    ],
)
def test_nul_characters_never_make_a_500(api: Api, path: str, params: dict[str, str]) -> None:
    """PostgreSQL refuses NUL in text (a DataError): the request's fault, a 422."""
    response = api.get(path, role=Role.ADMIN, params=params)
    assert response.status_code in {200, 422}, response.text
    if api.session.get_bind().dialect.name == "postgresql":
        assert response.status_code == 422
        assert "\x00" not in response.text
