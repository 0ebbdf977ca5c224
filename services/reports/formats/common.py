"""What every intake format shares: the reading context, element-level errors, XML helpers.

A format reader turns one file (or one Kafka message) into wire-format v1 documents, one at a
time, so a large file never sits in memory whole. Each document carries where it came from
(an XML element path or a CSV row), so that a validation error names the element or the row.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET  # noqa: S405 - element types only; parsing goes through defusedxml
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import orjson
from defusedxml.ElementTree import iterparse

# Reading stops after this many errors: the caller fixes those first.
MAX_ERRORS = 50
# Files rarely name the country that issued a national identifier; the wire format's
# convention (and the subject key's digest) includes it, so it is implied from the type.
ISSUING_COUNTRY = {"SSN": "US", "ITIN": "US", "EIN": "US", "RFC": "MX", "CURP": "MX"}


class FileFormat(StrEnum):
    """The intake formats besides JSON (also the suffix of their Kafka topics)."""

    FINCEN = "fincen"
    ISO20022 = "iso20022"
    GOAML = "goaml"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class IntakeContext:
    """What a file does not say itself, supplied by whoever submits it.

    ``institution_id`` is the submitting reporter's institution (HTTP) or the
    ``aml.institution_id`` header (Kafka); without it, readers derive one from the file (the
    filer's TIN, goAML ``rentity_id``, the instructing agent's BIC). ``jurisdiction`` overrides
    what a reader would infer. ``goaml_report_types`` maps an FIU's goAML report codes to
    report types (from the filing profile); ``goaml_institutions`` maps ``rentity_id`` to
    institution ids. ``perspective`` says whose bank reports a pacs.008 (debtor's: the subject
    is the debtor and money goes out; creditor's: the subject is the creditor, money comes in).
    """

    institution_id: str | None = None
    jurisdiction: str | None = None
    perspective: str = "debtor"
    goaml_report_types: Mapping[str, str] = field(default_factory=dict)
    goaml_instruments: Mapping[str, str] = field(default_factory=dict)
    goaml_funds: Mapping[str, str] = field(default_factory=dict)
    goaml_indicators: Mapping[str, str] = field(default_factory=dict)
    goaml_institutions: Mapping[str, str] = field(default_factory=dict)
    # Where an operator keeps the official pacs.008.001.NN.xsd files (none are shipped).
    iso20022_xsd_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class Located:
    """A wire-format document and the element or row it was read from."""

    location: str
    document: dict[str, Any]


class FormatError(Exception):
    """A file that cannot be read as its format: names the element or row at fault."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"location": self.location, "message": self.message}


class FormatErrors(FormatError):
    """Several element-level errors of one file (the first is also this error's own)."""

    def __init__(self, errors: list[FormatError]) -> None:
        super().__init__(errors[0].location, errors[0].message)
        self.errors = errors


def local(tag: str) -> str:
    """The local name of a (possibly namespaced) tag."""
    return tag.rpartition("}")[2]


def child(element: ET.Element, name: str) -> ET.Element | None:
    for item in element:
        if local(item.tag) == name:
            return item
    return None


def children(element: ET.Element, name: str) -> list[ET.Element]:
    return [item for item in element if local(item.tag) == name]


def text(element: ET.Element | None, *path: str) -> str | None:
    """The stripped text at ``path`` below ``element``; None when absent or empty."""
    for name in path:
        if element is None:
            return None
        element = child(element, name)
    if element is None or element.text is None:
        return None
    value = element.text.strip()
    return value or None


def tree(element: ET.Element, *, skip: frozenset[str] = frozenset()) -> Any:
    """An element as JSON values: leaves as text, repeated children as lists.

    Attributes other than ``SeqNum`` (a batch-local counter) are kept under ``@name``. This
    is how elements the mapping does not use are kept on the stored document.
    """
    attributes = {f"@{local(k)}": v for k, v in element.attrib.items() if local(k) != "SeqNum"}
    if len(element) == 0:
        value = (element.text or "").strip()
        if attributes:
            return {**attributes, "#text": value} if value else attributes
        return value
    result: dict[str, Any] = dict(attributes)
    for item in element:
        name = local(item.tag)
        if name in skip:
            continue
        value = tree(item, skip=skip)
        if name in result:
            existing = result[name]
            if isinstance(existing, list):
                existing.append(value)
            else:
                result[name] = [existing, value]
        else:
            result[name] = value
    return result


def content_id(value: Any, length: int = 20) -> str:
    """A short, stable digest of JSON values: ids derived from content make a resubmitted
    file produce the same report ids, which the store then recognises as duplicates."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:length]


def parse_date(value: str | None, location: str, *, compact: bool = False) -> date:
    """A date (``YYYYMMDD`` when ``compact``, else ISO ``YYYY-MM-DD``)."""
    if not value:
        raise FormatError(location, "a date is required")
    try:
        if compact:
            if len(value) != 8 or not value.isdigit():
                raise ValueError
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        return date.fromisoformat(value[:10])
    except ValueError:
        expected = "YYYYMMDD" if compact else "YYYY-MM-DD"
        raise FormatError(location, f"{value!r} is not a date ({expected})") from None


def at_noon(day: date) -> datetime:
    """A date as an instant: noon UTC falls on the same calendar day from UTC-11 to UTC+11,
    so a business day read back is the same day in the institution's own time zone."""
    return datetime.combine(day, time(12), UTC)


def at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def parse_datetime(value: str | None, location: str) -> datetime:
    """An ISO date-time; one without an offset is taken as UTC (ISO 20022 and goAML allow
    local times without one, and the files we read write UTC)."""
    if not value:
        raise FormatError(location, "a date-time is required")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FormatError(location, f"{value!r} is not an ISO date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stream_elements(
    source: IO[bytes], wanted: frozenset[str]
) -> Iterator[tuple[str, ET.Element, list[ET.Element]]]:
    """Yields each complete element whose local name is in ``wanted``, with its ancestors.

    Elements are parsed incrementally (defusedxml: no DTD, no entity expansion) and removed
    from their parent once yielded, so memory holds one element at a time, not the file.
    ``("start", root)`` is yielded first with the root's attributes available.
    """
    stack: list[ET.Element] = []
    try:
        for event, element in iterparse(source, events=("start", "end")):
            if event == "start":
                stack.append(element)
                if len(stack) == 1:
                    yield "start", element, []
                continue
            stack.pop()
            if local(element.tag) in wanted:
                yield "end", element, stack
                if stack:
                    stack[-1].remove(element)
    except ET.ParseError as error:
        line, column = error.position
        raise FormatError(
            f"line {line}, column {column}", f"not well-formed XML: {error}"
        ) from None
    except Exception as error:  # defusedxml's refusals (DTDs, entities) and decoding errors
        name = type(error).__name__
        if name in {"DTDForbidden", "EntitiesForbidden", "ExternalReferenceForbidden"}:
            raise FormatError("(document)", f"refused: {name}") from None
        raise


def path_of(stack: list[ET.Element], element: ET.Element, index: int | None = None) -> str:
    names = [local(item.tag) for item in stack] + [local(element.tag)]
    suffix = f"[{index}]" if index is not None else ""
    return "/" + "/".join(names) + suffix
