"""The one subject-key rule, on validated reports and on raw wire documents."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from refdata.subject import document_subject_key, identifier_digest
from refdata.wire import ReportV1
from tests.fixtures.reports import make_report


def _sha(material: str) -> str:
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _with_subject(subject: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return make_report(1, subject=subject, **overrides)


SUBJECTS: list[dict[str, Any]] = [
    {
        "subject_id": "C-1",
        "type": "person",
        "identifiers": [{"type": "SSN", "value": "900-00-0001", "country": "US"}],
    },
    {
        "subject_id": " C-7 ",
        "type": "entity",
        "identifiers": [
            {"type": "PASSPORT", "value": "x 1", "country": "MX"},
            {"type": "RFC", "value": "abc-850101-xy1", "country": "MX"},
        ],
    },
    {"subject_id": "C-9", "type": "person"},
    {
        "subject_id": "C-10",
        "type": "person",
        "identifiers": [
            {"type": "OTHER", "value": "A-1"},
            {"type": "PASSPORT", "value": " g 123 ", "country": " MX "},
            {"type": "PASSPORT", "value": "G-456", "country": "MX"},
        ],
    },
]


class TestSubjectKey:
    @pytest.mark.parametrize("subject", SUBJECTS)
    def test_raw_documents_and_validated_reports_agree(self, subject: dict[str, Any]) -> None:
        document = _with_subject(subject)
        validated = ReportV1.model_validate(document)
        assert document_subject_key(document["institution_id"], subject) == validated.subject_key

    def test_the_strongest_identifier_wins_whatever_its_place(self) -> None:
        key = document_subject_key("US-FI-0001", SUBJECTS[1])
        assert key == f"RFC-{_sha('RFC|MX|ABC850101XY1')}"

    def test_of_several_identifiers_of_a_type_the_last_counts(self) -> None:
        key = document_subject_key("US-FI-0001", SUBJECTS[3])
        assert key == f"PASSPORT-{_sha('PASSPORT|MX|G456')}"

    def test_the_same_identifier_links_institutions(self) -> None:
        us = ReportV1.model_validate(_with_subject(SUBJECTS[0]))
        mx = ReportV1.model_validate(
            _with_subject(SUBJECTS[0], institution_id="MX-FI-0001", jurisdiction="MX")
        )
        assert us.subject_key == mx.subject_key == f"SSN-{_sha('SSN|US|900000001')}"

    def test_without_a_strong_identifier_the_key_is_local_to_the_institution(self) -> None:
        key = document_subject_key("US-FI-0001", SUBJECTS[2])
        assert key == f"LOCAL-{_sha('US-FI-0001|C-9')}"
        assert document_subject_key("MX-FI-0001", SUBJECTS[2]) != key

    def test_identifier_digests_ignore_separators_and_case(self) -> None:
        assert identifier_digest("SSN", "US", "900-00-0001") == identifier_digest(
            "SSN", "US", "900 00 0001"
        )
        assert identifier_digest("RFC", "MX", "abc") == identifier_digest("RFC", "MX", "ABC")
        assert identifier_digest("RFC", "MX", "ABC") != identifier_digest("RFC", None, "ABC")
