"""Wire format v1: the typed contract for one report (DESIGN.md §4).

Every nested object keeps unknown fields (``extra="allow"``) so that nothing a reporter sends
is dropped. Amounts are exact decimals (strings or JSON numbers); JSON numbers are exact up to
15 significant digits, which covers every amount the format accepts, but strings are the
recommended form.

Control characters. No text field may hold a C0 control (U+0000–U+001F), DEL or a C1 control
(U+0080–U+009F); pydantic already refuses lone surrogates. PostgreSQL refuses NUL in text,
XML 1.0 (goAML, FinCEN) the other C0 controls, and none of them belongs in a name, an
identifier or a code.
Only multi-line free text — the suspicion narrative and string values of extension fields —
may hold tab, line feed and carriage return (a narrative has paragraphs). A report that breaks
this rule is refused at validation, so it reaches the DLQ with the field named, never the store.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from refdata.countries import check_country
from refdata.enums import (
    Channel,
    Direction,
    IdentifierType,
    Instrument,
    Jurisdiction,
    ReportType,
    SubjectType,
)
from refdata.money import currency_exponent, to_minor_units
from refdata.once import computed_once
from refdata.subject import identifier_digest, normalize_identifier, subject_key

SCHEMA_VERSION = 1
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# The same, less tab, line feed and carriage return: for multi-line free text.
_CONTROL_IN_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
# A decimal amount as text: ASCII digits, an optional fraction and exponent. Decimal() alone
# would also read "5_000" and other scripts' digits ("١٢٣"), which no reporter means.
_DECIMAL_TEXT = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
# Extension values are kept as sent and stored as JSON (orjson, PostgreSQL jsonb): integers
# must fit 64 bits and floats be finite, and nesting is bounded. Deeper values failed later,
# where the refusal is less clear: the serialisers' recursion limits (a 500 on HTTP) or the
# worker's JSON parser (a report the API had accepted, dead-lettered).
_INT64 = range(-(2**63), 2**63)
MAX_EXTENSION_DEPTH = 32


def _refuse_control(value: str, pattern: re.Pattern[str] = _CONTROL) -> str:
    found = pattern.search(value)
    if found is not None:
        raise ValueError(f"control character U+{ord(found.group()):04X} is not allowed in text")
    return value


def _refuse_control_in_lines(value: str) -> str:
    return _refuse_control(value, _CONTROL_IN_LINES)


def _check_extension(value: Any, depth: int = 0) -> None:
    """Extension fields (kept as sent) follow the text rule too, their names strictly; their
    numbers must be storable as sent and their nesting is bounded (see ``_INT64``).

    ``depth``: the number of objects and lists around ``value`` within the field (the model's
    extra fields are depth 0).
    """
    if isinstance(value, str):
        _refuse_control_in_lines(value)
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if value not in _INT64:
            raise ValueError("an integer in an extension field exceeds 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a number in an extension field is not finite (NaN, Infinity)")
    elif isinstance(value, (dict, list)):
        if depth > MAX_EXTENSION_DEPTH:
            raise ValueError(f"extension fields nest deeper than {MAX_EXTENSION_DEPTH} levels")
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str):
                    _refuse_control(key)
        for item in items:
            _check_extension(item, depth + 1)


def _check_currency(code: str) -> str:
    currency_exponent(code)  # raises ValueError with a clear message
    return code


CountryCode = Annotated[str, Field(min_length=2, max_length=2), AfterValidator(check_country)]
CurrencyCode = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_check_currency)]
Identifier = Annotated[str, Field(pattern=_ID_PATTERN)]
ShortText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_refuse_control)]
Code = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_refuse_control)]
Narrative = Annotated[str, Field(max_length=17_000), AfterValidator(_refuse_control_in_lines)]
_AMOUNT_TYPES = (str, int, float, Decimal)
# Amounts leave the model as strings so that a round trip never goes through a float.
Amount = Annotated[Decimal, PlainSerializer(lambda value: str(value), return_type=str)]


class _Open(BaseModel):
    model_config = ConfigDict(
        extra="allow", str_strip_whitespace=True, frozen=True, ignored_types=(computed_once,)
    )

    @model_validator(mode="after")
    def _check_extensions(self) -> Any:
        if self.__pydantic_extra__:
            _check_extension(self.__pydantic_extra__)
        return self


class PartyIdentifier(_Open):
    type: IdentifierType
    value: Code
    country: CountryCode | None = None

    def normalized(self) -> str:
        """Returns the identifier value without separators, upper-cased."""
        return normalize_identifier(self.value)

    @computed_once
    def digest(self) -> str:
        """:func:`refdata.subject.identifier_digest` of this identifier, computed once (the
        model is frozen): the subject key and the identifier links of the store both need it."""
        return identifier_digest(self.type, self.country, self.value)


class Subject(_Open):
    subject_id: Code
    type: SubjectType
    name: ShortText | None = None
    country: CountryCode | None = None
    identifiers: list[PartyIdentifier] = Field(default_factory=list, max_length=20)
    occupation: ShortText | None = None
    naics: Annotated[str, Field(pattern=r"^[0-9]{2,6}$")] | None = None


class Location(_Open):
    country: CountryCode
    region: ShortText | None = None
    branch_id: ShortText | None = None


class Counterparty(_Open):
    name: ShortText | None = None
    account_id: ShortText | None = None
    institution_id: ShortText | None = None
    country: CountryCode | None = None
    type: SubjectType | None = None


class Transaction(_Open):
    transaction_id: Code
    timestamp: AwareDatetime
    amount: Amount
    currency: CurrencyCode
    instrument: Instrument
    direction: Direction
    channel: Channel = Channel.OTHER
    account_id: ShortText | None = None
    location: Location | None = None
    counterparty: Counterparty | None = None

    @field_validator("amount", mode="before")
    @classmethod
    def _exact_amount(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, _AMOUNT_TYPES):
            raise ValueError("amount must be a decimal string or a number")
        if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
            raise ValueError("amount must be a finite decimal in ASCII digits, e.g. 9500.00")
        # repr() of a float is the shortest string that round-trips, so 9500.1 stays 9500.1.
        return Decimal(repr(value)) if isinstance(value, float) else value

    @model_validator(mode="after")
    def _check_amount(self) -> Transaction:
        if self.amount <= 0:
            raise ValueError("amount must be positive")
        self.amount_minor  # noqa: B018 - precision and size checks (to_minor_units)
        return self

    @computed_once
    def amount_minor(self) -> int:
        """The amount in integer minor units of ``currency`` (computed once, when validated)."""
        return to_minor_units(self.amount, self.currency)


class Suspicion(_Open):
    categories: list[Code] = Field(min_length=1, max_length=50)
    narrative: Narrative | None = None
    activity_from: AwareDatetime | None = None
    activity_to: AwareDatetime | None = None

    @model_validator(mode="after")
    def _check_period(self) -> Suspicion:
        if self.activity_from and self.activity_to and self.activity_from > self.activity_to:
            raise ValueError("activity_from is after activity_to")
        return self


class ReportV1(_Open):
    """One report as it travels on ``aml.reports`` or arrives at ``POST /v1/reports``."""

    schema_version: Literal[1]
    report_id: Identifier
    report_type: ReportType
    institution_id: Identifier
    jurisdiction: Jurisdiction
    filed_at: AwareDatetime
    subject: Subject
    transaction: Transaction | None = None
    suspicion: Suspicion | None = None

    @model_validator(mode="after")
    def _check_type_rules(self) -> ReportV1:
        if self.report_type is ReportType.STR and self.suspicion is None:
            raise ValueError("an STR requires 'suspicion'")
        if self.report_type is not ReportType.STR and self.transaction is None:
            raise ValueError(f"a {self.report_type} report requires 'transaction'")
        return self

    def canonical_json(self) -> bytes:
        """Returns the report as canonical JSON (sorted keys, UTC-normalised values)."""
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)

    @computed_once
    def subject_key(self) -> str:
        """The partition and lookup key of the report's subject (``refdata.subject``).

        Computed once per report (the model is frozen): the worker reads it several times.
        """
        subject = self.subject
        return subject_key(self.institution_id, subject.subject_id, subject.identifiers)


def json_schema() -> dict[str, Any]:
    """Returns the JSON Schema of wire format v1."""
    schema = ReportV1.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://amlscreen.dev/schema/report-v1.json"
    schema["title"] = "amlscreen report, wire format v1"
    return schema


def describe_errors(error: ValidationError) -> list[dict[str, str]]:
    """Turns a pydantic error into a list of ``{"field", "message"}`` pairs without input echo."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "(document)",
            "message": item["msg"],
        }
        for item in error.errors(include_url=False, include_input=False)
    ]
