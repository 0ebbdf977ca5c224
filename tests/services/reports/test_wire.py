from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from refdata.wire import ReportV1
from services.reports.decode import DecodeError, DecodeFailure, decode_report
from tests.fixtures.reports import make_report, make_str


def _decode(document: dict) -> ReportV1 | DecodeError:
    return decode_report(orjson.dumps(document), max_bytes=256 * 1024)


class TestWire:
    def test_valid_report_keeps_unknown_fields_and_exact_amount(self) -> None:
        report = _decode(make_report(1, x_extra={"a": 1}))
        assert isinstance(report, ReportV1)
        assert report.model_dump(mode="json")["x_extra"] == {"a": 1}
        assert report.transaction is not None
        assert report.transaction.amount == Decimal("1001.01")
        assert report.transaction.amount_minor == 100101

    def test_numeric_amount_is_exact(self) -> None:
        document = make_report(1)
        document["transaction"]["amount"] = 9500.1
        report = _decode(document)
        assert isinstance(report, ReportV1)
        assert report.transaction is not None
        assert report.transaction.amount_minor == 950010

    @pytest.mark.parametrize(
        ("mutate", "fragment"),
        [
            (lambda d: d.pop("subject"), "subject"),
            (lambda d: d["transaction"].update(currency="XYZ"), "ISO 4217"),
            (lambda d: d["transaction"].update(amount="-1.00"), "positive"),
            (lambda d: d["transaction"].update(amount="1.001"), "decimal places"),
            (lambda d: d["transaction"].update(amount="1e30"), "exceeds"),
            (lambda d: d.update(filed_at="2026-11-28T10:00:00"), "timezone"),
            (lambda d: d["subject"].update(country="ZZ"), "ISO 3166"),
        ],
    )
    def test_invalid_reports_say_why(self, mutate, fragment) -> None:
        document = make_report(1)
        mutate(document)
        result = _decode(document)
        assert isinstance(result, DecodeError)
        assert result.kind is DecodeFailure.INVALID
        assert fragment in result.reason

    @pytest.mark.parametrize(
        ("mutate", "field"),
        [
            (lambda d: d["subject"].update(subject_id="S\u0000bad"), "subject.subject_id"),
            (lambda d: d["subject"].update(name="Ana\u0007 Ruiz"), "subject.name"),
            (lambda d: d["subject"].update(name="Ana\nRuiz"), "subject.name"),
            (lambda d: d["subject"].update(name="Ana \u009b Ruiz"), "subject.name"),  # C1
            (lambda d: d["subject"]["identifiers"][0].update(value="900\u0000"), "identifiers"),
            (lambda d: d["transaction"].update(transaction_id="T\u001f1"), "transaction_id"),
            (lambda d: d["transaction"]["location"].update(region="T\u007fX"), "region"),
            (lambda d: d.update(x_note="a\u0000b"), "(document)"),
            (lambda d: d["subject"].update(x_tags=["ok", {"k\tey": "v"}]), "subject"),
        ],
    )
    def test_control_characters_are_refused_in_text(self, mutate, field) -> None:
        document = make_report(1)
        mutate(document)
        result = _decode(document)
        assert isinstance(result, DecodeError)
        assert result.kind is DecodeFailure.INVALID
        assert field in result.reason
        assert "control character U+" in result.reason

    def test_only_free_text_may_hold_line_breaks(self) -> None:
        text = "First paragraph.\r\n\tSecond paragraph."
        document = make_str(1, x_comment=text)
        document["suspicion"]["narrative"] = text
        report = _decode(document)
        assert isinstance(report, ReportV1)
        assert report.suspicion is not None
        assert report.suspicion.narrative == text.strip()
        document["suspicion"]["narrative"] = "Deposits\u0000 hidden"
        result = _decode(document)
        assert isinstance(result, DecodeError)
        assert "suspicion.narrative" in result.reason

    def test_control_characters_are_refused_from_python_values_too(self) -> None:
        """The HTTP path validates Python values, which may hold what JSON cannot."""
        document = make_report(1)
        document["subject"]["subject_id"] = "S\x00bad"
        with pytest.raises(ValueError, match="U\\+0000"):
            ReportV1.model_validate(document)
        document["subject"]["subject_id"] = "S\ud800"  # a lone surrogate (pydantic refuses it)
        with pytest.raises(ValueError, match="unicode"):
            ReportV1.model_validate(document)

    def test_str_requires_suspicion(self) -> None:
        document = make_str(1)
        assert isinstance(_decode(document), ReportV1)
        del document["suspicion"]
        result = _decode(document)
        assert isinstance(result, DecodeError)
        assert "suspicion" in result.reason

    def test_raw_failures(self) -> None:
        assert decode_report(b"\xff\xfe", max_bytes=100).kind is DecodeFailure.NOT_UTF8  # type: ignore[union-attr]
        assert decode_report(b"{x", max_bytes=100).kind is DecodeFailure.NOT_JSON  # type: ignore[union-attr]
        assert decode_report(b"x" * 101, max_bytes=100).kind is DecodeFailure.TOO_LARGE  # type: ignore[union-attr]

    def test_subject_key_links_institutions_by_identifier(self) -> None:
        a = ReportV1.model_validate(make_report(1))
        b = ReportV1.model_validate(make_report(1, institution_id="MX-FI-0001"))
        assert a.institution_id != b.institution_id
        assert a.subject_key == b.subject_key
        assert a.subject_key.startswith("SSN-")

    def test_values_computed_once_stay_out_of_the_document(self) -> None:
        # subject_key, amount_minor and each identifier's digest are cached on the frozen
        # model; they must never become part of what is stored, hashed or compared.
        fresh = ReportV1.model_validate(make_report(1))
        used = ReportV1.model_validate(make_report(1))
        assert used.transaction is not None
        assert used.transaction.amount_minor == 100_101
        assert used.subject_key == f"SSN-{used.subject.identifiers[0].digest}"
        assert used.model_dump(mode="json") == fresh.model_dump(mode="json")
        assert used.model_dump_json() == fresh.model_dump_json()
        assert used == fresh
        assert b"digest" not in used.canonical_json()
        assert b"amount_minor" not in used.canonical_json()

    def test_amount_precision_is_checked_when_validated(self) -> None:
        document = make_report(1)
        document["transaction"]["amount"] = "10.001"
        result = _decode(document)
        assert isinstance(result, DecodeError)
        assert "at most 2 decimal places" in result.reason
