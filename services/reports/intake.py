"""File intake: a FinCEN, ISO 20022, goAML or CSV file becomes wire-format reports on the
reports topic, all of them or none.

The file is converted once, incrementally; valid reports are spooled (to memory, then to a
temporary file past a few megabytes) and published in chunks only when the whole file
converted without an error, so a malformed file publishes nothing. Report ids of the
FinCEN formats are derived from content and the others come from the file, so sending the
same file again (after a broker failure half-way through publishing, say) stores nothing
twice: the worker recognises the duplicates.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from refdata.wire import ReportV1
from services.auth.enums import Role
from services.auth.service import Principal
from services.errors import Forbidden, ServiceError
from services.filings.profile import FilingProfile
from services.reports.formats import FormatError, IntakeContext, convert, detect
from services.reports.formats.goaml import codes_from_profile
from services.reports.service import SUBMITTING_ROLES, ReportPublisher

PUBLISH_CHUNK = 1000
# Converted reports wait in memory up to this size, then in a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024
_LENGTHS = struct.Struct(">II")


class FileRejected(ServiceError):
    """422 listing every element- or row-level error of the file (nothing was published)."""

    def __init__(self, file_format: str, errors: list[FormatError]) -> None:
        super().__init__(
            f"the {file_format} file was refused whole: {len(errors)} error(s), nothing published",
            422,
            [error.as_dict() for error in errors],
        )


@dataclass(slots=True)
class FileIngestResult:
    format: str
    reports: int = 0
    # The first reports' ids (at most ``listed``): enough to look them up, never the whole file.
    accepted: list[dict[str, Any]] = field(default_factory=list)


def intake_context(
    principal: Principal,
    profile: FilingProfile,
    *,
    institution_id: str | None = None,
    jurisdiction: str | None = None,
    perspective: str = "debtor",
    iso20022_xsd_dir: Path | None = None,
) -> IntakeContext:
    """What a submitted file is read with: a reporter always files for its own institution."""
    if principal.role not in SUBMITTING_ROLES:
        raise Forbidden(f"role {principal.role} cannot submit reports")
    if principal.role is Role.REPORTER:
        if institution_id and institution_id != principal.institution_id:
            raise Forbidden(
                f"a reporter of {principal.institution_id} cannot submit reports of"
                f" {institution_id}"
            )
        institution_id = principal.institution_id
    return file_context(
        profile,
        institution_id=institution_id,
        jurisdiction=jurisdiction,
        perspective=perspective,
        iso20022_xsd_dir=iso20022_xsd_dir,
    )


def file_context(
    profile: FilingProfile,
    *,
    institution_id: str | None = None,
    jurisdiction: str | None = None,
    perspective: str = "debtor",
    iso20022_xsd_dir: Path | None = None,
) -> IntakeContext:
    """The reading context of a file, with the filing profile's goAML code tables."""
    return IntakeContext(
        institution_id=institution_id,
        jurisdiction=jurisdiction,
        perspective=perspective,
        **codes_from_profile(profile.goaml),
        iso20022_xsd_dir=iso20022_xsd_dir,
        goaml_institutions={
            item.goaml_rentity_id: key
            for key, item in profile.institutions.items()
            if item.goaml_rentity_id
        },
    )


class _Spool:
    """Valid reports of a file in conversion order, as (key, value) records, off the heap."""

    def __init__(self, memory_bytes: int) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=memory_bytes)  # noqa: SIM115
        self.count = 0

    def add(self, key: bytes, value: bytes) -> None:
        self._file.write(_LENGTHS.pack(len(key), len(value)))
        self._file.write(key)
        self._file.write(value)
        self.count += 1

    def chunks(self, size: int) -> Iterator[list[tuple[bytes, bytes]]]:
        self._file.seek(0)
        chunk: list[tuple[bytes, bytes]] = []
        while header := self._file.read(_LENGTHS.size):
            key_length, value_length = _LENGTHS.unpack(header)
            chunk.append((self._file.read(key_length), self._file.read(value_length)))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        self._file.close()


def ingest_file(
    source: IO[bytes],
    kind: str,
    *,
    principal: Principal,
    context: IntakeContext,
    publisher: ReportPublisher,
    listed: int = 1000,
    spool_bytes: int = SPOOL_BYTES,
) -> FileIngestResult:
    """Converts a whole file (``kind``: "xml" or "csv"); publishes its reports or none.

    Raises:
        FileRejected: 422 naming every element or row at fault; nothing was published.
        Forbidden: a reporter's file holds another institution's reports.
        PublishFailed: 503; the part already published is stored once the file is resent.
    """
    head = source.read(4096)
    source.seek(0)
    try:
        file_format = detect(kind, head)
    except FormatError as error:
        raise FileRejected(kind, [error]) from None
    result = FileIngestResult(format=file_format.value)
    spool = _Spool(spool_bytes)
    foreign: list[str] = []

    def keep(report: ReportV1) -> None:
        if principal.role is Role.REPORTER and report.institution_id != principal.institution_id:
            foreign.append(report.report_id)
            return
        spool.add(report.subject_key.encode(), report.model_dump_json().encode())
        if len(result.accepted) < listed:
            result.accepted.append(
                {
                    "index": spool.count - 1,
                    "institution_id": report.institution_id,
                    "report_id": report.report_id,
                }
            )

    try:
        errors = convert(file_format, source, context, keep)
        if errors:
            raise FileRejected(file_format.value, errors)
        if foreign:
            raise Forbidden(
                f"a reporter of {principal.institution_id} cannot submit reports of another"
                f" institution ({len(foreign)} in the file)"
            )
        if spool.count == 0:
            raise FileRejected(
                file_format.value, [FormatError("(document)", "no report in the file")]
            )
        for chunk in spool.chunks(PUBLISH_CHUNK):
            publisher.publish(chunk)
            result.reports += len(chunk)
    finally:
        spool.close()
    return result
