"""Intake formats: FinCEN CTRX/SARX, ISO 20022 pacs.008, goAML and CSV, read as wire format v1.

Every format ends as validated :class:`~services.reports.wire.ReportV1` objects, so the rest
of the system (publishing to ``aml.reports``, the worker's dedupe, DLQ and detection) never
sees the difference. :func:`convert` reads a file once, incrementally, hands each valid report
to a sink and returns every element- or row-level error; callers publish nothing unless the
whole file converted (a file is accepted or refused whole).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import IO

import orjson
from pydantic import ValidationError

from refdata.wire import ReportV1, describe_errors
from services.reports.formats.common import (
    MAX_ERRORS,
    FileFormat,
    FormatError,
    FormatErrors,
    IntakeContext,
    Located,
)
from services.reports.formats.csv import read_csv
from services.reports.formats.fincen import read_fincen
from services.reports.formats.goaml import read_goaml
from services.reports.formats.iso20022 import read_pacs008

Reader = Callable[[IO[bytes], IntakeContext], Iterator[Located]]
READERS: dict[FileFormat, Reader] = {
    FileFormat.FINCEN: read_fincen,
    FileFormat.ISO20022: read_pacs008,
    FileFormat.GOAML: read_goaml,
    FileFormat.CSV: read_csv,
}
XML_TYPES = frozenset({"application/xml", "text/xml"})
_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s>/]")
_SKIP = re.compile(rb"^(?:\xef\xbb\xbf)?(?:\s|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)

__all__ = [
    "FileFormat",
    "FormatError",
    "IntakeContext",
    "convert",
    "detect",
    "media_format",
]


def media_format(content_type: str | None) -> str:
    """ "xml" or "csv" for those Content-Types; "json" for anything else (JSON intake has
    always parsed bodies whatever they were labelled, and clients rely on it)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in XML_TYPES or media.endswith("+xml"):
        return "xml"
    if media in {"text/csv", "application/csv"}:
        return "csv"
    return "json"


def detect(kind: str, head: bytes) -> FileFormat:
    """The format of an XML or CSV file from its first bytes (root element and namespace)."""
    if kind == "csv":
        return FileFormat.CSV
    skipped = _SKIP.match(head)
    body = head[skipped.end() :] if skipped else head
    match = _ROOT.search(body[:4096])
    root = match.group(1).decode() if match else ""
    if root == "EFilingBatchXML":
        return FileFormat.FINCEN
    if root == "Document" and b"urn:iso:std:iso:20022:tech:xsd:pacs.008" in body[:4096]:
        return FileFormat.ISO20022
    if root == "report":
        return FileFormat.GOAML
    raise FormatError(
        f"/{root or '(document)'}",
        "not a format read here: a FinCEN EFilingBatchXML (CTRX or SARX), an ISO 20022"
        " pacs.008 Document or a goAML report",
    )


def _validation_errors(located: Located, error: ValidationError) -> list[FormatError]:
    row = located.location.startswith("row ")
    problems = []
    for item in describe_errors(error):
        field = item["field"]
        if row:
            column = re.sub(r"\.\d+(\..*)?$", "", field)  # subject.identifiers.0.value → column
            problems.append(FormatError(f"{located.location}, column {column}", item["message"]))
        else:
            problems.append(FormatError(located.location, f"{field}: {item['message']}"))
    return problems


def convert(
    file_format: FileFormat,
    source: IO[bytes],
    context: IntakeContext,
    sink: Callable[[ReportV1], None],
) -> list[FormatError]:
    """Reads ``source`` as ``file_format``; passes each valid report to ``sink``.

    Returns the errors (at most ``MAX_ERRORS``), each naming the element or the row; an empty
    list means every report of the file was valid and given to the sink. Some errors are only
    known at the end (a count in a header, a later element), so the sink may have received
    reports of a file that is then refused: it must hold them until this returns.
    """
    errors: list[FormatError] = []
    try:
        for located in READERS[file_format](source, context):
            try:
                report = ReportV1.model_validate(located.document)
                report.canonical_json()  # storable: no value orjson refuses
            except ValidationError as error:
                errors.extend(_validation_errors(located, error))
            except orjson.JSONEncodeError as error:
                errors.append(FormatError(located.location, f"not storable: {error}"))
            else:
                if not errors:
                    sink(report)
            if len(errors) >= MAX_ERRORS:
                break
    except FormatErrors as failure:
        errors.extend(failure.errors)
    except FormatError as failure:
        errors.append(failure)
    return errors[:MAX_ERRORS]
