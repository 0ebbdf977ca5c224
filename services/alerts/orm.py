"""Alerts, investigation notes, and the names of alerted subjects.

The indexes serve the queue (``GET /v1/alerts``): every sort order is a keyset over
``(sort column, id)``, and the common filters lead an index whose tail is that same pair, so
the first page and every next page are index range scans whatever the table size.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
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


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("institution_id", "report_id"),
        Index("ix_alerts_created_at_id", "created_at", "id"),
        Index("ix_alerts_status_created_at_id", "status", "created_at", "id"),
        Index("ix_alerts_score_id", "score", "id"),
        Index("ix_alerts_status_score_id", "status", "score", "id"),
        Index("ix_alerts_deadline_at_id", "deadline_at", "id"),
        Index("ix_alerts_status_deadline_at_id", "status", "deadline_at", "id"),
        Index("ix_alerts_institution_created_at_id", "institution_id", "created_at", "id"),
        Index("ix_alerts_typology_created_at_id", "typology", "created_at", "id"),
        Index("ix_alerts_subject_key_created_at_id", "subject_key", "created_at", "id"),
        Index("ix_alerts_assignee_created_at_id", "assignee", "created_at", "id"),
        Index("ix_alerts_jurisdiction_created_at_id", "jurisdiction", "created_at", "id"),
        Index("ix_alerts_case_id", "case_id"),
        # The episode look-ups: the open alert of a subject, its recent FALSE_POSITIVE closures.
        Index("ix_alerts_subject_key_jurisdiction_status", "subject_key", "jurisdiction", "status"),
    )

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(64))
    report_id: Mapped[str] = mapped_column(String(64))
    report_pk: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("reports.id")
    )
    subject_key: Mapped[str] = mapped_column(String(80))
    subject_identified: Mapped[bool] = mapped_column(Boolean, default=True)
    jurisdiction: Mapped[str] = mapped_column(String(2))
    report_type: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    rule_hits: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    typology: Mapped[str | None] = mapped_column(String(64))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    features: Mapped[dict[str, float]] = mapped_column(JSON)
    source_topic: Mapped[str | None] = mapped_column(String(255))
    source_partition: Mapped[int | None] = mapped_column(Integer)
    source_offset: Mapped[int | None] = mapped_column(BigInteger)
    transaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    status: Mapped[str] = mapped_column(String(32))
    disposition: Mapped[str | None] = mapped_column(String(32))
    rationale: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str] | None] = mapped_column(JSON)
    filing_reference: Mapped[str | None] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("cases.id")
    )

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    suspicion_determined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_kind: Mapped[str | None] = mapped_column(String(16))
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)

    # The episode (services.alerts.policy): how many reports it gathers, the latest one's
    # time, and the threshold (and its budget version, if a budget sets it) when it opened.
    report_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    last_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The event time the alert opened at, when not its report's (``transaction_at``): a pick of
    # the ranked budget opens at the recompute that picked it, and spends the budget from then.
    opened_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    threshold: Mapped[float | None] = mapped_column(Float)
    threshold_version: Mapped[int | None] = mapped_column(Integer)
    # The investigator's own typology, given when filing or closing: the training label.
    investigator_typology: Mapped[str | None] = mapped_column(String(64))

    # Every UPDATE says "WHERE version = <the version read>": a writer that lost a race
    # updates nothing and gets StaleDataError instead of overwriting the winner.
    __mapper_args__ = {"version_id_col": version}


class AlertReport(Base):
    """A report of an alert's episode: the one that opened it and every one that joined it.

    A report belongs to one alert at most (the unique key), which also makes a redelivered
    report join nothing twice.
    """

    __tablename__ = "alert_reports"
    __table_args__ = (
        UniqueConstraint("institution_id", "report_id"),
        Index("ix_alert_reports_alert_id_id", "alert_id", "id"),
    )

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    alert_id: Mapped[int] = mapped_column(_PK, ForeignKey("alerts.id"))
    institution_id: Mapped[str] = mapped_column(String(64))
    report_id: Mapped[str] = mapped_column(String(64))
    report_pk: Mapped[int | None] = mapped_column(_PK, ForeignKey("reports.id"))
    score: Mapped[float] = mapped_column(Float)
    rules: Mapped[list[str]] = mapped_column(JSON)
    typology: Mapped[str | None] = mapped_column(String(64))
    transaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertThreshold(Base):
    """One version of an institution's alert threshold under an alert budget.

    Append-only: a change inserts the next version, so every alert names the version that
    let it through and the history of the threshold is the table itself.
    """

    __tablename__ = "alert_thresholds"
    __table_args__ = (UniqueConstraint("institution_id", "version"),)

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    # Event time (the reports' transaction time) the threshold was computed at.
    computed_for: Mapped[datetime] = mapped_column(UTCDateTime())
    window_days: Mapped[int] = mapped_column(Integer)
    budget: Mapped[str] = mapped_column(String(64))
    subjects: Mapped[int] = mapped_column(Integer)
    reports: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HeldCandidate(Base):
    """A report the ranked alert budget held back: it scored at or above the budget's floor,
    its subject had no open alert, and only the budget's next recompute may open one.

    The row keeps the alert the report would open (``payload``: ``AlertCreate`` as JSON, its
    typology, rule hits, reasons and figures), as detection saw it then: the recompute ranks
    the window's subjects by their held scores and opens the alerts of the best. Rows of a
    picked subject and rows older than the window are deleted.
    """

    __tablename__ = "alert_candidates"
    __table_args__ = (
        Index(
            "ix_alert_candidates_institution_id_transaction_at", "institution_id", "transaction_at"
        ),
        Index("ix_alert_candidates_institution_id_subject_key", "institution_id", "subject_key"),
    )

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(64))
    subject_key: Mapped[str] = mapped_column(String(80))
    report_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    transaction_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Note(Base):
    """A free-text note on an alert or a case; append-only like the audit trail."""

    __tablename__ = "investigation_notes"
    __table_args__ = (Index("ix_investigation_notes_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SubjectName(Base):
    """A normalised name a subject key was reported with (indexed when the subject is alerted).

    The weak link of entity resolution (identifiers, ``services.reports.orm.SubjectIdentifier``,
    are the strong one); the subject profile reads it.
    """

    __tablename__ = "subject_names"
    __table_args__ = (
        UniqueConstraint("name_key", "subject_key"),
        Index("ix_subject_names_subject_key", "subject_key"),
    )

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    # Accents stripped, case folded, punctuation dropped, tokens sorted: "PÉREZ, Juan" and
    # "juan perez" share one key.
    name_key: Mapped[str] = mapped_column(String(200))
    subject_key: Mapped[str] = mapped_column(String(80))
    subject_type: Mapped[str | None] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(2))
    birth_date: Mapped[str | None] = mapped_column(String(10))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
