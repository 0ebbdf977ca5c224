"""Hostile bodies at POST /v1/reports (issue 18, item 6): a clear 4xx, never a 500; injection
strings are stored and returned verbatim. Real broker and worker, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from refdata.wire import MAX_EXTENSION_DEPTH
from services.app import create_app
from services.auth.enums import Role
from services.config import Settings
from streaming.metrics import WorkerMetrics
from streaming.producer import KafkaReportPublisher, make_producer
from streaming.worker import Worker, make_consumer
from tests.fixtures.reports import make_report, make_str
from tests.services.reports.test_endpoints import _token

BODY_LIMIT = 64 * 1024
FILE_LIMIT = 32 * 1024


@pytest.fixture
def limited(settings_factory) -> Settings:
    return settings_factory(ingest_max_body_bytes=BODY_LIMIT, ingest_max_file_bytes=FILE_LIMIT)


@pytest.fixture
def client(limited: Settings, sessions) -> Iterator[TestClient]:
    def publisher(current: Settings) -> KafkaReportPublisher:
        return KafkaReportPublisher(current.bootstrap_servers, current.topic_reports)

    with TestClient(create_app(limited, publisher)) as running:
        yield running


@pytest.fixture
def bank(sessions) -> dict[str, str]:
    return _token(sessions, Role.REPORTER, "US-FI-0001")


def _post(client: TestClient, headers: dict[str, str], body: bytes) -> Any:
    return client.post(
        "/v1/reports", content=body, headers={**headers, "content-type": "application/json"}
    )


def _refused(response: Any, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert fragment in response.text, response.text


def _refused_item(response: Any, field: str, fragment: str) -> None:
    """A 422 naming the field (or a field within it) of the one item sent."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] == "no valid report in the request"
    errors = body["errors"]["rejected"][0]["errors"]
    assert any(e["field"].startswith(field) and fragment in e["message"] for e in errors), errors


class TestOversized:
    def test_a_body_beyond_the_limit_is_a_413(self, client, bank) -> None:
        reports = [make_report(i) for i in range(200)]
        body = orjson.dumps(reports)
        assert len(body) > BODY_LIMIT
        _refused(_post(client, bank, body), 413, f"body exceeds {BODY_LIMIT} bytes")
        # Without a Content-Length (chunked): counted as it is read.
        chunked = client.post(
            "/v1/reports",
            content=iter([body[:1000], body[1000:]]),
            headers={**bank, "content-type": "application/json"},
        )
        assert "content-length" not in chunked.request.headers
        _refused(chunked, 413, f"body exceeds {BODY_LIMIT} bytes")

    def test_one_huge_string_is_a_413(self, client, bank) -> None:
        body = orjson.dumps(make_report(1, x_note="A" * BODY_LIMIT))
        _refused(_post(client, bank, body), 413, "body exceeds")

    def test_a_file_beyond_the_limit_is_a_413(self, client, bank) -> None:
        body = b"report_id,amount\n" + b"R-1,1.00\n" * (FILE_LIMIT // 9 + 1)
        response = client.post(
            "/v1/reports/files", content=body, headers={**bank, "content-type": "text/csv"}
        )
        _refused(response, 413, f"file exceeds {FILE_LIMIT} bytes")


class TestMalformed:
    @pytest.mark.parametrize("depth", [10_000, 1_000, 250])
    def test_deeply_nested_json_is_a_422(self, client, bank, depth: int) -> None:
        for nested in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
            _refused(_post(client, bank, nested), 422, "recursion limit exceeded")
            document = orjson.dumps(make_report(1))
            inside = document[:-1] + b',"x_deep":' + nested + b"}"
            _refused(_post(client, bank, inside), 422, "recursion limit exceeded")

    def test_nesting_beyond_the_extension_limit_is_a_422(self, client, bank) -> None:
        depth = MAX_EXTENSION_DEPTH + 1
        document = orjson.dumps(make_report(1))
        body = document[:-1] + b',"x_deep":' + b"[" * depth + b"]" * depth + b"}"
        _refused_item(_post(client, bank, body), "(document)", "nest deeper than 32 levels")

    @pytest.mark.parametrize(
        "body",
        [
            b"\xff\xfe\xfa",
            orjson.dumps(make_report(1)).replace(b"Subject 1", b"Subject \xc3\x28"),
            orjson.dumps(make_report(1)).replace(b"Subject 1", b"Subject \xed\xa0\x80"),  # U+D800
            b'{"a": "\xc0\xaf"}',  # overlong "/"
        ],
        ids=["not-text", "bad-continuation", "encoded-surrogate", "overlong"],
    )
    def test_invalid_utf8_is_a_422(self, client, bank, body: bytes) -> None:
        _refused(_post(client, bank, body), 422, "body is not UTF-8")

    def test_escaped_lone_surrogate_is_a_422(self, client, bank) -> None:
        body = orjson.dumps(make_report(1)).replace(b"Subject 1", b"Subject \\ud800")
        _refused(_post(client, bank, body), 422, "body is not JSON")


def _with_amount(literal: bytes) -> bytes:
    document = orjson.dumps(make_report(1))
    return document.replace(b'"amount":"1001.01"', b'"amount":' + literal)


class TestOverflowingNumbers:
    @pytest.mark.parametrize(
        ("literal", "fragment"),
        [
            (b"1e309", "finite"),
            (b"-1e309", "finite"),
            (b"1" + b"0" * 400, "exceeds"),
            (b'"1e400"', "exceeds"),
            (b'"1e999999999999"', "exceeds"),  # a 500 before (decimal.Overflow)
            (b'"1e-999999999999"', "decimal places"),  # accepted as 0 minor units before
            (b"1234567890123456.78", "exceeds"),
        ],
    )
    def test_overflowing_amounts_are_a_422(self, client, bank, literal, fragment) -> None:
        _refused_item(_post(client, bank, _with_amount(literal)), "transaction", fragment)

    @pytest.mark.parametrize(
        ("literal", "fragment"),
        [
            (str(2**64).encode(), "exceeds 64 bits"),  # orjson made it a float: 202 before
            (str(-(2**63) - 1).encode(), "exceeds 64 bits"),
            (b"1" + b"0" * 400, "exceeds 64 bits"),  # orjson: "not JSON"
            (b"1e309", "not finite"),
        ],
    )
    def test_overflowing_extension_numbers_are_a_422(self, client, bank, literal, fragment) -> None:
        document = orjson.dumps(make_report(1))
        body = document[:-1] + b',"x_value":' + literal + b"}"
        _refused_item(_post(client, bank, body), "(document)", fragment)

    @pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
    def test_non_json_numbers_are_a_422(self, client, bank, literal) -> None:
        _refused(_post(client, bank, _with_amount(literal)), 422, "body is not JSON")

    def test_schema_version_beyond_64_bits_is_a_422(self, client, bank) -> None:
        body = orjson.dumps(make_report(1)).replace(
            b'"schema_version":1', b'"schema_version":' + b"9" * 400
        )
        _refused_item(_post(client, bank, body), "schema_version", "integer")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("filed_at", "2026-11-28T10:00:00"),
        ("filed_at", "2026-11-28 10:00:00"),
        ("filed_at", "2026-11-28"),
        ("transaction.timestamp", "2026-11-28T09:00:00.123456"),
        ("suspicion.activity_from", "2026-11-01T00:00:00"),
        ("suspicion.activity_to", "2026-11-27T23:59:59"),
    ],
)
def test_naive_timestamps_are_a_422(client, bank, field: str, value: str) -> None:
    document = make_str(1)
    document["transaction"] = make_report(1)["transaction"]
    part, _, name = field.rpartition(".")
    (document[part] if part else document)[name] = value
    _refused_item(_post(client, bank, orjson.dumps(document)), field, "timezone")


INJECTIONS = [
    "'; DROP TABLE reports;--",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "../../etc/passwd",
]
# Every text field of the wire format but the two identifiers (a strict pattern, below).
TEXT_FIELDS = [
    ("subject", "subject_id"),
    ("subject", "name"),
    ("subject", "occupation"),
    ("subject", "identifiers", 0, "value"),
    ("transaction", "transaction_id"),
    ("transaction", "account_id"),
    ("transaction", "location", "region"),
    ("transaction", "location", "branch_id"),
    ("transaction", "counterparty", "name"),
    ("transaction", "counterparty", "account_id"),
    ("transaction", "counterparty", "institution_id"),
    ("suspicion", "categories", 0),
    ("suspicion", "narrative"),
    ("x_note",),
    ("subject", "x_note"),
]


def _set(document: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        document = document[step]
    document[path[-1]] = value


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def _injected(index: int, text: str) -> dict[str, Any]:
    document = make_str(900 + index)
    document["transaction"] = make_report(900 + index)["transaction"]
    document["transaction"]["counterparty"] = {"country": "MX"}
    for path in TEXT_FIELDS:
        _set(document, path, text)
    return document


def test_injection_strings_are_stored_and_returned_verbatim(
    client, bank, limited, sessions
) -> None:
    documents = [_injected(index, text) for index, text in enumerate(INJECTIONS)]
    response = client.post("/v1/reports", json=documents, headers=bank)
    assert response.status_code == 202, response.text
    assert response.json()["rejected"] == []

    worker = Worker(
        settings=limited,
        sessions=sessions,
        consumer=make_consumer(limited),
        producer=make_producer(limited.bootstrap_servers),
        metrics=WorkerMetrics(),
    )
    worker.run(idle_exit_s=6.0)

    investigator = _token(sessions, Role.INVESTIGATOR)
    for document, text in zip(documents, INJECTIONS, strict=True):
        for headers in (bank, investigator):
            read = client.get(f"/v1/reports/US-FI-0001/{document['report_id']}", headers=headers)
            assert read.status_code == 200, read.text
            stored = read.json()["document"]
            for path in TEXT_FIELDS:
                assert _get(stored, path) == text, path
        assert (
            read.json()["document"]["transaction"]["amount"] == (document["transaction"]["amount"])
        )


@pytest.mark.parametrize("text", INJECTIONS)
@pytest.mark.parametrize("field", ["report_id", "institution_id"])
def test_injection_strings_in_identifiers_are_a_422(client, bank, field, text) -> None:
    document = make_report(1)
    document[field] = text
    _refused_item(_post(client, bank, orjson.dumps(document)), field, "should match pattern")
