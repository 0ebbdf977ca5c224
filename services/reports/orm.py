"""The stored report: queryable columns plus the full document as received."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, UTCDateTime


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("institution_id", "report_id"),
        Index("ix_reports_subject_key_txn_at", "subject_key", "txn_at"),
        # Fund-flow tracing reads an account's transfers in time order (docs/ledger.md §8).
        Index("ix_reports_account_id_txn_at", "account_id", "txn_at"),
        Index("ix_reports_counterparty_account_id_txn_at", "counterparty_account_id", "txn_at"),
        # The alert budget reads an institution's trailing window (AlertRepository.window_scores).
        Index("ix_reports_institution_id_txn_at", "institution_id", "txn_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(64))
    report_id: Mapped[str] = mapped_column(String(64))
    report_type: Mapped[str] = mapped_column(String(8))
    jurisdiction: Mapped[str] = mapped_column(String(2))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    subject_key: Mapped[str] = mapped_column(String(80))
    subject_id: Mapped[str] = mapped_column(String(64))
    # Transaction columns are null for an STR that reports activity without a transaction.
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    txn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    instrument: Mapped[str | None] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(3))
    account_id: Mapped[str | None] = mapped_column(String(200))
    counterparty_account_id: Mapped[str | None] = mapped_column(String(200))
    counterparty_country: Mapped[str | None] = mapped_column(String(2))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source_topic: Mapped[str | None] = mapped_column(String(255))
    source_partition: Mapped[int | None] = mapped_column(Integer)
    source_offset: Mapped[int | None] = mapped_column(BigInteger)
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[Any] | None] = mapped_column(JSON)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SubjectIdentifier(Base):
    """Which identifier digests a subject key was reported with (entity-resolution links)."""

    __tablename__ = "subject_identifiers"
    __table_args__ = (UniqueConstraint("digest", "subject_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(32), index=True)
    id_type: Mapped[str] = mapped_column(String(16))
    country: Mapped[str | None] = mapped_column(String(2))
    subject_key: Mapped[str] = mapped_column(String(80), index=True)


class PeerCount(Base):
    """Reports per peer group, event day, peer feature and bin (``models.peers``), summed
    over every worker: the baselines of the peer-relative features are read from here."""

    __tablename__ = "peer_counts"

    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    pgroup: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    feature: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    bin: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger)
