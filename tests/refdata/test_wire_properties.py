"""Property tests of the wire decoder (issue 18, item 6): hostile input is a clear refusal.

Both decoding paths are exercised: the worker's (``decode_report`` on the message bytes, i.e.
``ReportV1.model_validate_json``) and the API's (``pydantic_core.from_json`` then
``ReportV1.model_validate``). Whatever either accepts must serialise, hash and decode again
to the same report: the API publishes ``model_dump_json()`` for the worker to decode.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import from_json

from refdata.enums import (
    Channel,
    Direction,
    IdentifierType,
    Instrument,
    Jurisdiction,
    ReportType,
    SubjectType,
)
from refdata.money import MAX_MAJOR_UNITS, Money, currency_exponent, to_minor_units
from refdata.wire import MAX_EXTENSION_DEPTH, ReportV1, describe_errors
from services.reports.decode import DecodeError, DecodeFailure, decode_report
from tests.fixtures.reports import make_report, make_str

PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_BYTES = 1024 * 1024
# JPY 0 decimals, USD and MXN 2, KWD 3, CLF 4.
CURRENCIES = ["JPY", "USD", "MXN", "KWD", "CLF"]

# Text without controls: letters, digits, punctuation and symbols of any script, inner spaces.
_TEXT_CHARS = st.characters(categories=["L", "N", "P", "S"], exclude_characters="\x7f")
short_text = st.builds(
    lambda head, rest: (head + rest).strip() or head,
    _TEXT_CHARS,
    st.text(st.one_of(_TEXT_CHARS, st.just(" ")), max_size=30),
)
codes = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,20}", fullmatch=True)
countries = st.sampled_from(["US", "MX", "CA", "GT", "CO", "ES", "CN", "KW", "JP"])


def _json_scalars() -> st.SearchStrategy[Any]:
    """Values an extension field may carry (storable JSON)."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.one_of(_TEXT_CHARS, st.sampled_from(" \t\n\r")), max_size=20),
    )


extension_values = st.recursive(
    _json_scalars(),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(_TEXT_CHARS, min_size=1, max_size=8), inner, max_size=3),
    ),
    max_leaves=8,
)
extensions = st.dictionaries(
    st.from_regex(r"x_[a-z]{1,8}", fullmatch=True), extension_values, max_size=2
)
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets
)


@st.composite
def amounts(draw: st.DrawFn) -> tuple[Any, str, int]:
    """(amount as sent, currency, the exact minor units it must become)."""
    currency = draw(st.sampled_from(CURRENCIES))
    exponent = currency_exponent(currency)
    minor = draw(st.integers(1, int(MAX_MAJOR_UNITS) * 10**exponent))
    exact = Decimal(minor).scaleb(-exponent)
    form = draw(st.sampled_from(["plain", "zeros", "scientific", "number"]))
    if form == "plain":
        sent: Any = f"{exact:f}"
    elif form == "zeros":  # trailing zeros beyond the currency's digits are harmless
        sent = f"{exact:f}" + ("." if exponent == 0 else "") + "0" * draw(st.integers(1, 30))
    elif form == "scientific":
        sent = f"{exact:E}"
    else:  # a JSON number: exact, since every amount accepted has at most 15 digits
        sent = float(exact)
        if sent.is_integer():
            sent = int(sent)
    return sent, currency, minor


@st.composite
def reports(draw: st.DrawFn) -> dict[str, Any]:
    """A valid wire-format v1 document, every optional part drawn or left out."""
    report_type = draw(st.sampled_from(ReportType))
    identifiers = draw(
        st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(IdentifierType), "value": codes},
                optional={"country": countries},
            ),
            max_size=3,
        )
    )
    subject = draw(
        st.fixed_dictionaries(
            {"subject_id": codes, "type": st.sampled_from(SubjectType)},
            optional={
                "name": short_text,
                "country": countries,
                "occupation": short_text,
                "naics": st.from_regex(r"[0-9]{2,6}", fullmatch=True),
            },
        )
    )
    subject["identifiers"] = identifiers
    subject.update(draw(extensions))
    document: dict[str, Any] = {
        "schema_version": 1,
        "report_id": draw(codes),
        "report_type": report_type.value,
        "institution_id": draw(codes),
        "jurisdiction": draw(st.sampled_from(Jurisdiction)).value,
        "filed_at": draw(aware_times).isoformat(),
        "subject": subject,
        **draw(extensions),
    }
    if report_type is not ReportType.STR or draw(st.booleans()):
        amount, currency, _minor = draw(amounts())
        transaction = draw(
            st.fixed_dictionaries(
                {
                    "transaction_id": codes,
                    "timestamp": aware_times.map(datetime.isoformat),
                    "instrument": st.sampled_from(Instrument),
                    "direction": st.sampled_from(Direction),
                },
                optional={
                    "channel": st.sampled_from(Channel),
                    "account_id": short_text,
                    "location": st.fixed_dictionaries(
                        {"country": countries},
                        optional={"region": short_text, "branch_id": short_text},
                    ),
                    "counterparty": st.fixed_dictionaries(
                        {},
                        optional={
                            "name": short_text,
                            "account_id": short_text,
                            "institution_id": short_text,
                            "country": countries,
                            "type": st.sampled_from(SubjectType),
                        },
                    ),
                },
            )
        )
        transaction.update(amount=amount, currency=currency)
        document["transaction"] = transaction
    if report_type is ReportType.STR or draw(st.booleans()):
        start, end = sorted(draw(st.lists(aware_times, min_size=2, max_size=2)))
        document["suspicion"] = {
            "categories": draw(st.lists(codes, min_size=1, max_size=3)),
            "narrative": draw(st.text(st.one_of(_TEXT_CHARS, st.sampled_from(" \n\r\t")))),
            "activity_from": start.isoformat(),
            "activity_to": end.isoformat(),
        }
    return document


def _worker_decode(raw: bytes) -> ReportV1 | DecodeError:
    return decode_report(raw, max_bytes=MAX_BYTES)


def _api_decode(raw: bytes) -> ReportV1:
    """What POST /v1/reports does with one item; raises ValueError (ValidationError is one)."""
    return ReportV1.model_validate(from_json(raw, allow_inf_nan=False))


def _to_json(value: Any) -> bytes:
    """JSON text as a hostile producer could write it: NaN, Infinity, integers of any size."""
    return json.dumps(value, allow_nan=True).encode()


def _assert_stable(report: ReportV1) -> None:
    """A decoded report serialises, hashes and decodes again to itself (the API publishes
    model_dump_json for the worker to decode; the store keeps canonical_json)."""
    dumped = report.model_dump(mode="json")
    again = _worker_decode(orjson.dumps(dumped))
    assert isinstance(again, ReportV1), again
    assert again == report
    assert again.subject_key == report.subject_key
    assert again.canonical_json() == report.canonical_json()
    published = _worker_decode(report.model_dump_json().encode())
    assert published == report
    if report.transaction is not None:
        assert again.transaction is not None
        assert again.transaction.amount_minor == report.transaction.amount_minor


class TestRoundTrip:
    @PROPERTIES
    @given(reports())
    def test_every_valid_report_round_trips(self, document: dict[str, Any]) -> None:
        raw = orjson.dumps(document)
        decoded = _worker_decode(raw)
        assert isinstance(decoded, ReportV1), decoded
        assert _api_decode(raw) == decoded
        _assert_stable(decoded)

    @PROPERTIES
    @given(amounts())
    def test_amounts_become_exact_minor_units(self, sent: tuple[Any, str, int]) -> None:
        amount, currency, minor = sent
        document = make_report(1)
        document["transaction"].update(amount=amount, currency=currency)
        decoded = _worker_decode(orjson.dumps(document))
        assert isinstance(decoded, ReportV1), decoded
        assert decoded.transaction is not None
        assert decoded.transaction.amount_minor == minor
        assert _api_decode(orjson.dumps(document)).transaction.amount_minor == minor  # type: ignore[union-attr]
        assert Money(minor, currency).to_decimal() == decoded.transaction.amount


# Values a hostile producer may put anywhere in a report.
hostile_scalars = st.one_of(
    _json_scalars(),
    st.integers(),
    st.integers(min_value=2**63).map(lambda value: value * 10**300),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324]),
    st.text(max_size=20).filter(lambda text: not any(0xD800 <= ord(c) < 0xE000 for c in text)),
    st.sampled_from(["1e400", "-0", "NaN", "Infinity", "1e-400", "", " ", "١٢٣", "5_000"]),
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated_reports(draw: st.DrawFn) -> Any:
    """A valid report with one value replaced, one key removed or one key added anywhere."""
    document = draw(reports())
    parent: Any = document
    while True:
        keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = parent[key]
        if isinstance(child, (dict, list)) and child and draw(st.booleans()):
            parent = child
            continue
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[key] = draw(hostile_values)
        elif action == "remove":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(hostile_values)
        else:
            parent.append(draw(hostile_values))
        break
    return document


def _check_refusal_or_stable(raw: bytes) -> None:
    """Either path: a report that decodes completely, or a clear refusal; nothing else."""
    decoded = _worker_decode(raw)
    if isinstance(decoded, DecodeError):
        assert decoded.kind in {
            DecodeFailure.INVALID,
            DecodeFailure.NOT_JSON,
            DecodeFailure.NOT_UTF8,
            DecodeFailure.TOO_LARGE,
        }
        assert decoded.reason
    else:
        _assert_stable(decoded)
    try:
        payload = from_json(raw, allow_inf_nan=False)
    except ValueError:
        return  # the API's 422 "body is not JSON"
    try:
        accepted = ReportV1.model_validate(payload)
    except ValidationError as error:
        refused = describe_errors(error)
        assert refused
        assert all(item["field"] and item["message"] for item in refused)
        return
    # The API accepted it: the worker must accept the very same report.
    assert accepted == decoded
    _assert_stable(accepted)


class TestHostileValues:
    @PROPERTIES
    @given(mutated_reports())
    def test_mutated_reports_are_refused_clearly_or_decoded_whole(self, document: Any) -> None:
        _check_refusal_or_stable(_to_json(document))

    @PROPERTIES
    @given(reports(), hostile_values)
    def test_hostile_extension_fields_are_refused_clearly_or_kept_exactly(
        self, document: dict[str, Any], value: Any
    ) -> None:
        document["x_value"] = value
        document["subject"]["x_value"] = value
        _check_refusal_or_stable(_to_json(document))

    @PROPERTIES
    @given(hostile_values)
    def test_arbitrary_json_values_are_refused_clearly(self, value: Any) -> None:
        _check_refusal_or_stable(_to_json(value))

    @PROPERTIES
    @given(st.binary(max_size=200))
    def test_arbitrary_bytes_are_refused_clearly(self, raw: bytes) -> None:
        _check_refusal_or_stable(raw)

    @pytest.mark.parametrize("depth", [MAX_EXTENSION_DEPTH + 1, 150, 10_000])
    def test_deep_nesting_is_refused(self, depth: int) -> None:
        document = orjson.dumps(make_report(1)).decode()
        for nested in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            raw = (document[:-1] + ',"x_deep":' + nested + "}").encode()
            decoded = _worker_decode(raw)
            assert isinstance(decoded, DecodeError)
            assert decoded.kind in {DecodeFailure.INVALID, DecodeFailure.NOT_JSON}
            assert "nest deeper than 32 levels" in decoded.reason or (
                "recursion limit exceeded" in decoded.reason
            )
            with pytest.raises(ValueError, match="nest deeper|recursion limit"):
                _api_decode(raw)

    def test_nesting_up_to_the_limit_is_kept(self) -> None:
        value: Any = 1
        for _ in range(MAX_EXTENSION_DEPTH):
            value = [value]
        decoded = _worker_decode(orjson.dumps(make_report(1, x_deep=value)))
        assert isinstance(decoded, ReportV1), decoded
        _assert_stable(decoded)


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (str(2**63), "exceeds 64 bits"),
        (str(-(2**63) - 1), "exceeds 64 bits"),
        (str(2**64), "exceeds 64 bits"),
        ("1" + "0" * 400, "exceeds 64 bits"),
        ("NaN", "not finite"),
        ("Infinity", "not finite"),
        ("-Infinity", "not finite"),
        ("1e309", "not finite"),
        ('{"k": [1, NaN]}', "not finite"),
    ],
)
def test_unstorable_extension_numbers_are_refused(literal: str, message: str) -> None:
    """Storage is JSON (orjson, jsonb): NaN became null and 2**64 an error after validation."""
    document = orjson.dumps(make_report(1)).decode()
    raw = (document[:-1] + ',"x_value":' + literal + "}").encode()
    decoded = _worker_decode(raw)
    assert isinstance(decoded, DecodeError)
    assert decoded.kind is DecodeFailure.INVALID
    assert message in decoded.reason
    try:
        payload = from_json(raw, allow_inf_nan=False)
    except ValueError:
        return  # NaN and Infinity are not JSON to the API: a 422 before validation
    with pytest.raises(ValidationError, match=message):
        ReportV1.model_validate(payload)


def test_extension_integers_within_64_bits_are_kept() -> None:
    for value in (2**63 - 1, -(2**63), 0):
        decoded = _worker_decode(orjson.dumps(make_report(1, x_value=value)))
        assert isinstance(decoded, ReportV1)
        assert decoded.model_dump(mode="json")["x_value"] == value


class TestAmounts:
    @pytest.mark.parametrize(
        ("amount", "currency", "minor"),
        [
            ("0.29", "USD", 29),
            (0.29, "USD", 29),
            ("1.10", "USD", 110),
            ("1.100000", "USD", 110),
            ("99999999999.99", "USD", 9_999_999_999_999),
            (99999999999.99, "USD", 9_999_999_999_999),
            ("100000000000", "JPY", 100_000_000_000),
            ("1.234", "KWD", 1234),
            ("12345678901.234", "KWD", 12_345_678_901_234),
            ("1E+3", "USD", 100_000),
            ("1e2", "JPY", 100),
            ("0.5e1", "JPY", 5),
            (" 12.5 ", "USD", 1250),
        ],
    )
    def test_exact_minor_units(self, amount: Any, currency: str, minor: int) -> None:
        document = make_report(1)
        document["transaction"].update(amount=amount, currency=currency)
        decoded = _worker_decode(orjson.dumps(document))
        assert isinstance(decoded, ReportV1), decoded
        assert decoded.transaction is not None
        assert decoded.transaction.amount_minor == minor
        assert type(decoded.transaction.amount_minor) is int

    @pytest.mark.parametrize(
        ("literal", "message"),
        [
            ('"1e400"', "exceeds"),
            ('"1e999999999999"', "exceeds"),  # was decimal.Overflow, not a ValueError
            ('"-1e999999999999"', "positive"),
            ('"1e-400"', "at most 2 decimal places"),
            ('"1e-999999999999"', "at most 2 decimal places"),  # was 0 minor units, accepted
            ('"0E+999999999999"', "positive"),
            ('"1234567890123456.78"', "exceeds"),
            ("1234567890123456.78", "exceeds"),
            ("1e309", "finite"),
            ("1" + "0" * 400, "exceeds"),
            ('"-0"', "positive"),
            ("-0", "positive"),
            ('"-5.00"', "positive"),
            ('"NaN"', "finite"),
            ("NaN", "finite"),
            ('"Infinity"', "finite"),
            ("-Infinity", "finite"),
            ('"sNaN"', "finite"),
            ('"1.001"', "at most 2 decimal places"),
            ('"0.' + "0" * 5000 + '1"', "at most 2 decimal places"),
            ('"5_000"', "ASCII digits"),  # Decimal() reads it as 5000
            ('"\u0661\u0662\u0663"', "ASCII digits"),  # Arabic-Indic 123
            ('"0x10"', "ASCII digits"),
            ('""', "ASCII digits"),
            ("true", "decimal string or a number"),
            ("[1]", "decimal string or a number"),
        ],
    )
    def test_refused_amounts_say_why(self, literal: str, message: str) -> None:
        document = orjson.dumps(make_report(1)).decode()
        raw = document.replace('"amount":"1001.01"', f'"amount":{literal}').encode()
        assert raw != document.encode()
        decoded = _worker_decode(raw)
        assert isinstance(decoded, DecodeError)
        assert decoded.kind is DecodeFailure.INVALID
        assert "transaction" in decoded.reason
        assert message in decoded.reason

    @pytest.mark.parametrize(
        ("amount", "currency", "message"),
        [
            ("100.5", "JPY", "JPY amounts have at most 0 decimal places"),
            ("1.2345", "KWD", "KWD amounts have at most 3 decimal places"),
            ("0.001", "USD", "USD amounts have at most 2 decimal places"),
        ],
    )
    def test_too_many_decimals_for_the_currency(
        self, amount: str, currency: str, message: str
    ) -> None:
        document = make_report(1)
        document["transaction"].update(amount=amount, currency=currency)
        decoded = _worker_decode(orjson.dumps(document))
        assert isinstance(decoded, DecodeError)
        assert message in decoded.reason

    @PROPERTIES
    @given(
        st.decimals(allow_nan=True, allow_infinity=True),
        st.sampled_from(CURRENCIES),
    )
    def test_to_minor_units_is_exact_or_a_value_error(self, value: Decimal, currency: str) -> None:
        try:
            minor = to_minor_units(value, currency)
        except ValueError:
            return
        assert value.is_finite()
        assert Decimal(minor).scaleb(-currency_exponent(currency)) == value

    @PROPERTIES
    @given(
        st.integers(-(10**20), 10**20),
        st.integers(-(10**12), 10**12),
        st.sampled_from(CURRENCIES),
    )
    def test_to_minor_units_on_any_exponent(self, digits: int, power: int, currency: str) -> None:
        """Exponents far beyond the decimal context's (Emax 999999) never raise an
        ArithmeticError, and a tiny amount never becomes zero minor units."""
        value = Decimal((int(digits < 0), tuple(map(int, str(abs(digits)))), power))
        try:
            minor = to_minor_units(value, currency)
        except ValueError as error:
            message = str(error)
            assert "exceeds" in message or "decimal places" in message
            return
        assert (minor == 0) == (digits == 0)
        assert Decimal(minor).scaleb(-currency_exponent(currency)) == value


@pytest.mark.parametrize(
    "field",
    ["filed_at", "transaction.timestamp", "suspicion.activity_from", "suspicion.activity_to"],
)
class TestNaiveTimestamps:
    """DESIGN.md §4 timestamps are instants: a naive one (no offset) is refused, never read
    as UTC or local time (refdata.wire: AwareDatetime)."""

    @settings(max_examples=40, deadline=None)
    @given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
    def test_naive_timestamps_are_refused(self, field: str, naive: datetime) -> None:
        for text in (naive.isoformat(), naive.isoformat(sep=" "), naive.date().isoformat()):
            document = make_str(1)
            part, _, name = field.rpartition(".")
            (document[part] if part else document)[name] = text
            decoded = _worker_decode(orjson.dumps(document))
            assert isinstance(decoded, DecodeError), text
            assert decoded.kind is DecodeFailure.INVALID
            assert f"{field}: " in decoded.reason
            assert "timezone" in decoded.reason
            with pytest.raises(ValidationError, match="timezone"):
                _api_decode(orjson.dumps(document))

    def test_the_same_instant_with_an_offset_is_kept(self, field: str) -> None:
        document = make_str(1)
        part, _, name = field.rpartition(".")
        (document[part] if part else document)[name] = "2026-11-28T04:00:00-06:00"
        decoded = _worker_decode(orjson.dumps(document))
        assert isinstance(decoded, ReportV1), decoded
        value = orjson.loads(decoded.canonical_json())
        for step in field.split("."):
            value = value[step]
        assert datetime.fromisoformat(value) == datetime(2026, 11, 28, 10, tzinfo=UTC)
