"""Assets under forfeiture, their append-only event history and sharing participants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, UTCDateTime

_BigId = BigInteger().with_variant(Integer, "sqlite")


class Asset(Base):
    """The current state of an asset: a projection of its events, kept for filtering."""

    __tablename__ = "assets"
    __table_args__ = (
        Index("ix_assets_next_deadline_at", "next_deadline_at"),
        Index("ix_assets_status", "status"),
        Index("ix_assets_case_number", "case_number"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    asset_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(1000))
    identifiers: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    value_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    appraised_value_minor: Mapped[int | None] = mapped_column(BigInteger)
    appraised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    appraiser: Mapped[str | None] = mapped_column(String(200))
    jurisdiction: Mapped[str] = mapped_column(String(2))
    custodian: Mapped[str | None] = mapped_column(String(200))
    seizing_authority: Mapped[str | None] = mapped_column(String(16))
    case_number: Mapped[str | None] = mapped_column(String(64))
    seizure_number: Mapped[str | None] = mapped_column(String(64))
    judicial_district: Mapped[str | None] = mapped_column(String(64))
    cats_id: Mapped[str | None] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(200))
    case_ids: Mapped[list[str]] = mapped_column(JSON)
    alert_ids: Mapped[list[str]] = mapped_column(JSON)
    report_refs: Mapped[list[str]] = mapped_column(JSON)
    source_trace: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    status: Mapped[str] = mapped_column(String(24))
    disposition: Mapped[str | None] = mapped_column(String(16))
    seized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    forfeited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sharing_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notice_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    complaint_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sharing_request_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The earliest deadline still open (null when none is): what ``deadline_before`` filters.
    next_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_deadline_kind: Mapped[str | None] = mapped_column(String(24))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)


class AssetEvent(Base):
    """One thing that happened to an asset. Append-only: the asset timeline."""

    __tablename__ = "asset_events"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    asset_id: Mapped[int] = mapped_column(_BigId, ForeignKey("assets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    entry_seqs: Mapped[list[int]] = mapped_column(JSON)


class AssetParticipant(Base):
    """An agency or foreign government that asks for a share (DAG-71 contribution fields)."""

    __tablename__ = "asset_participants"
    __table_args__ = (UniqueConstraint("asset_id", "agency_id"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    asset_id: Mapped[int] = mapped_column(_BigId, ForeignKey("assets.id"), index=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    agency_name: Mapped[str] = mapped_column(String(200))
    ori: Mapped[str | None] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(2))
    role: Mapped[str] = mapped_column(String(16))
    work_hours: Mapped[int] = mapped_column(Integer)
    originated_info: Mapped[bool] = mapped_column(Boolean)
    unique_assistance: Mapped[bool] = mapped_column(Boolean)
    extraordinary_expenses_minor: Mapped[int] = mapped_column(BigInteger)
    agreement_ref: Mapped[str | None] = mapped_column(String(200))
    share_bps: Mapped[int | None] = mapped_column(Integer)
    # Set once, for a foreign participant, when the Secretary of State concurs.
    concurrence_ref: Mapped[str | None] = mapped_column(String(200))
    concurrence_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
