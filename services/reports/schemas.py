from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class SourcePositionRead(BaseModel):
    topic: str | None
    partition: int | None
    offset: int | None


class ReporterReportRead(BaseModel):
    """What a reporter may read of its own report: reception and processing status only.

    Never a score, a reason, the subject the unit resolved, or anything else the unit made of
    the report (no tipping off: DESIGN.md §8, 31 U.S.C. 5318(g)(2)).
    """

    model_config = ConfigDict(from_attributes=True)

    institution_id: str
    report_id: str
    report_type: str
    jurisdiction: str
    status: str
    filed_at: datetime
    received_at: datetime
    processed_at: datetime | None
    document: dict[str, Any]


class ReportRead(BaseModel):
    """A stored report as the investigative roles read it."""

    model_config = ConfigDict(from_attributes=True)

    institution_id: str
    report_id: str
    report_type: str
    jurisdiction: str
    status: str
    subject_key: str
    filed_at: datetime
    received_at: datetime
    processed_at: datetime | None
    score: float | None
    reasons: list[Any] | None
    source: SourcePositionRead
    document: dict[str, Any]

    @classmethod
    def from_orm_report(cls, report: Any) -> ReportRead:
        return cls.model_validate(
            {
                **{name: getattr(report, name) for name in cls.model_fields if name != "source"},
                "source": SourcePositionRead(
                    topic=report.source_topic,
                    partition=report.source_partition,
                    offset=report.source_offset,
                ),
            }
        )


class AcceptedItem(BaseModel):
    index: int
    institution_id: str
    report_id: str


class FieldError(BaseModel):
    field: str
    message: str


class RejectedItem(BaseModel):
    index: int
    errors: list[FieldError]


class IngestResponse(BaseModel):
    accepted: list[AcceptedItem]
    rejected: list[RejectedItem]
    # Files (XML, CSV): the format read and how many reports it held (``accepted`` lists the
    # first of them).
    format: str | None = None
    reports: int | None = None


class FileIngestResponse(BaseModel):
    format: str
    reports: int
    accepted: list[AcceptedItem]
