"""Normalised subject names: the weak link of entity resolution (identifiers are the strong one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, UTCDateTime


class SubjectName(Base):
    """A normalised name a subject key was reported with (indexed when the subject is alerted)."""

    __tablename__ = "subject_names"
    __table_args__ = (
        UniqueConstraint("name_key", "subject_key"),
        Index("ix_subject_names_subject_key", "subject_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # Accents stripped, case folded, punctuation dropped, tokens sorted: "PÉREZ, Juan" and
    # "juan perez" share one key.
    name_key: Mapped[str] = mapped_column(String(200))
    subject_key: Mapped[str] = mapped_column(String(80))
    subject_type: Mapped[str | None] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(2))
    birth_date: Mapped[str | None] = mapped_column(String(10))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
