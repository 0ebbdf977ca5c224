"""CSV upload: one report per row, columns named by their wire-format path.

The header names wire-format fields with dots (``subject.name``, ``transaction.amount``,
``transaction.counterparty.account_id``; docs/usage.md lists them). Two columns hold lists:
``subject.identifiers`` (``TYPE:VALUE`` or ``TYPE:VALUE:COUNTRY``, separated by ``;``) and
``suspicion.categories`` (separated by ``;``). An empty cell leaves the field out; a column
the wire format does not know is kept on the report like any unknown field.
``schema_version`` may be left out (1).

Rows are read one at a time from the byte stream (UTF-8, a byte-order mark allowed), so a
large file is never held in memory.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import IO, Any

from services.reports.formats.common import FormatError, IntakeContext, Located

LIST_SEPARATOR = ";"
REQUIRED_COLUMNS = ("report_id", "report_type", "filed_at", "subject.subject_id", "subject.type")
_COLUMN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
# A single cell larger than this is refused (csv's own default limit is 128 KiB).
MAX_CELL_CHARS = 20_000


def read_csv(source: IO[bytes], context: IntakeContext) -> Iterator[Located]:
    """Yields one wire document per data row; raises FormatError naming the row and column."""
    text_stream = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    csv.field_size_limit(MAX_CELL_CHARS)
    reader = csv.reader(text_stream, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise FormatError("row 1", "empty file: a header row is required") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise FormatError("row 1", f"not CSV: {error}") from None
    columns = [name.strip() for name in header]
    for number, name in enumerate(columns, 1):
        if not _COLUMN.match(name):
            raise FormatError(f"row 1, column {number}", f"{name!r} is not a wire-format path")
    duplicates = {name for name in columns if columns.count(name) > 1}
    if duplicates:
        raise FormatError("row 1", f"duplicate columns: {sorted(duplicates)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if not context.institution_id and "institution_id" not in columns:
        missing.append("institution_id")
    if not context.jurisdiction and "jurisdiction" not in columns:
        missing.append("jurisdiction")
    if missing:
        raise FormatError("row 1", f"missing columns: {', '.join(missing)}")
    row_number = 1
    try:
        for row in reader:
            row_number += 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                raise FormatError(
                    f"row {row_number}", f"{len(row)} cells for {len(columns)} columns"
                )
            yield Located(f"row {row_number}", _document(columns, row, context, row_number))
    except (csv.Error, UnicodeDecodeError) as error:
        raise FormatError(f"row {row_number + 1}", f"not CSV: {error}") from None
    finally:
        text_stream.detach()


def _document(
    columns: list[str], row: list[str], context: IntakeContext, row_number: int
) -> dict[str, Any]:
    document: dict[str, Any] = {"schema_version": 1}
    if context.institution_id:
        document["institution_id"] = context.institution_id
    if context.jurisdiction:
        document["jurisdiction"] = context.jurisdiction
    for name, cell in zip(columns, row, strict=True):
        value: Any = cell.strip()
        if not value:
            continue
        if name == "subject.identifiers":
            value = _identifiers(value, f"row {row_number}, column {name}")
        elif name == "suspicion.categories":
            value = [item.strip() for item in value.split(LIST_SEPARATOR) if item.strip()]
        elif name == "schema_version" and value.isdigit():
            value = int(value)
        target = document
        *parents, leaf = name.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise FormatError(f"row {row_number}, column {name}", f"{part} is not an object")
        target[leaf] = value
    return document


def _identifiers(value: str, location: str) -> list[dict[str, str]]:
    identifiers = []
    for item in value.split(LIST_SEPARATOR):
        item = item.strip()
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or not all(parts[:2]):
            raise FormatError(location, "an identifier is TYPE:VALUE or TYPE:VALUE:COUNTRY")
        identifier = {"type": parts[0].strip().upper(), "value": parts[1].strip()}
        if len(parts) == 3 and parts[2].strip():
            identifier["country"] = parts[2].strip().upper()
        identifiers.append(identifier)
    return identifiers
