"""Cases: alerts about one subject or one network, worked and filed together."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, UTCDateTime

_PK = BigInteger().with_variant(Integer, "sqlite")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_created_at_id", "status", "created_at", "id"),
        Index("ix_cases_created_at_id", "created_at", "id"),
        Index("ix_cases_deadline_at_id", "deadline_at", "id"),
        Index("ix_cases_assignee_created_at_id", "assignee", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    jurisdiction: Mapped[str] = mapped_column(String(2))
    narrative: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    disposition: Mapped[str | None] = mapped_column(String(32))
    rationale: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str] | None] = mapped_column(JSON)
    filing_reference: Mapped[str | None] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64))
    subject_identified: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    suspicion_determined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_kind: Mapped[str | None] = mapped_column(String(16))
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}


class CaseSubject(Base):
    """A subject named in a case: from its alerts, or added by the investigator (network)."""

    __tablename__ = "case_subjects"
    __table_args__ = (
        UniqueConstraint("case_id", "subject_key"),
        Index("ix_case_subjects_subject_key", "subject_key"),
    )

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("cases.id")
    )
    subject_key: Mapped[str] = mapped_column(String(80))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
