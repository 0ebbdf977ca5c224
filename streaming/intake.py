"""File-format topics: one message is one whole file, expanded into wire-format reports.

A message on ``aml.reports.fincen``, ``.iso20022``, ``.goaml`` or ``.csv`` (the
``AMLSCREEN_TOPIC_REPORTS_*`` settings) is read with the same readers as HTTP file intake. A
file that does not convert whole goes to the DLQ with its element- or row-level errors; one
that does is re-published report by report to the reports topic, keyed by subject key, in the
same batch (its offset is committed only after the broker acknowledged them). The reports then
take the one worker path every JSON report takes (dedupe, DLQ, detection) and land on the
partition of their subject, which keeps a subject's window state in one worker (DESIGN.md §6)
whatever partition the file arrived on.

Headers a producer may set: ``aml.institution_id`` (the filing institution, when the file
does not say it), ``aml.jurisdiction`` (US or MX) and ``aml.perspective`` (pacs.008: debtor or
creditor).
"""

from __future__ import annotations

import io
from typing import Any

from refdata.wire import ReportV1
from services.config import Settings
from services.filings.profile import FilingProfile, ProfileInvalid, load_profile
from services.reports.decode import DecodeError, DecodeFailure
from services.reports.formats import FileFormat, FormatError, convert, detect
from services.reports.intake import file_context

# The DLQ reason header is cut at 4,000 bytes; the first errors are the useful ones.
_REASONS_SHOWN = 10


def _header(message: Any, name: str) -> str | None:
    for key, value in message.headers or ():
        if key == name and value:
            text: str = value.decode("utf-8", "replace")
            return text
    return None


class FileRelay:
    """Expands the messages of the file-format topics into (key, value) report records."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.formats = {topic: FileFormat(name) for topic, name in settings.format_topics.items()}

    @property
    def topics(self) -> list[str]:
        return list(self.formats)

    def handles(self, topic: str) -> bool:
        return topic in self.formats

    def _profile(self) -> FilingProfile:
        try:
            return load_profile(self.settings.filing_profile_path)
        except ProfileInvalid:
            return FilingProfile()  # goAML code tables fall back to the defaults

    def expand(self, message: Any) -> list[tuple[bytes, bytes]] | DecodeError:
        expected = self.formats[message.topic]
        raw: bytes | None = message.value
        if not raw:
            return DecodeError(DecodeFailure.INVALID, "empty message: one whole file expected")
        limit = self.settings.max_file_message_bytes
        if len(raw) > limit:
            return DecodeError(
                DecodeFailure.TOO_LARGE, f"file of {len(raw)} bytes exceeds {limit} bytes"
            )
        jurisdiction = _header(message, "aml.jurisdiction")
        context = file_context(
            self._profile(),
            institution_id=_header(message, "aml.institution_id"),
            jurisdiction=jurisdiction.upper() if jurisdiction else None,
            perspective=_header(message, "aml.perspective") or "debtor",
            iso20022_xsd_dir=self.settings.iso20022_xsd_dir,
        )
        kind = "csv" if expected is FileFormat.CSV else "xml"
        try:
            found = detect(kind, raw[:4096])
        except FormatError as error:
            return DecodeError(DecodeFailure.INVALID, f"{error.location}: {error.message}")
        if found is not expected:
            return DecodeError(
                DecodeFailure.INVALID,
                f"a {found.value} file on the {expected.value} topic {message.topic}",
            )
        records: list[tuple[bytes, bytes]] = []

        def keep(report: ReportV1) -> None:
            records.append((report.subject_key.encode(), report.model_dump_json().encode()))

        errors = convert(expected, io.BytesIO(raw), context, keep)
        if errors:
            shown = "; ".join(f"{e.location}: {e.message}" for e in errors[:_REASONS_SHOWN])
            more = (
                f" (and {len(errors) - _REASONS_SHOWN} more)"
                if len(errors) > _REASONS_SHOWN
                else ""
            )
            return DecodeError(
                DecodeFailure.INVALID, f"{expected.value} file refused: {shown}{more}"
            )
        if not records:
            return DecodeError(DecodeFailure.INVALID, "no report in the file")
        return records
