"""Watchlists in the store: lists, their versions, entries, matches, dismissals, rescreens.

An entry row lives from the version that added it (``added_in``) until the version that
removed or amended it (``removed_in``); the current list is the rows whose ``removed_in`` is
null. An amended entry is a removal and an addition under the same ``entry_key``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
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


class Watchlist(Base):
    __tablename__ = "watchlists"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    current_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WatchlistVersion(Base):
    """One load of a list file: when, by whom, what it held, what changed."""

    __tablename__ = "watchlist_versions"
    __table_args__ = (UniqueConstraint("watchlist_id", "version"),)

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(_PK, ForeignKey("watchlists.id"))
    version: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # "cli:<operating-system user>" or the API principal's actor ("token:<id>").
    loaded_by: Mapped[str] = mapped_column(String(64))
    entry_count: Mapped[int] = mapped_column(Integer)
    added: Mapped[int] = mapped_column(Integer)
    removed: Mapped[int] = mapped_column(Integer)
    changed: Mapped[int] = mapped_column(Integer)


class WatchlistEntry(Base):
    __tablename__ = "watchlist_entries"
    __table_args__ = (
        Index("ix_watchlist_entries_current", "watchlist_id", "removed_in", "id"),
        Index("ix_watchlist_entries_key", "watchlist_id", "entry_key"),
    )

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(_PK, ForeignKey("watchlists.id"))
    entry_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(300))
    content_sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    added_in: Mapped[int] = mapped_column(Integer)
    removed_in: Mapped[int | None] = mapped_column(Integer)


class WatchlistMatch(Base):
    """A subject whose own name, or a counterparty's, matched a list entry.

    One row per (subject, list, entry, role); ``last_*`` follow the latest report that matched.
    """

    __tablename__ = "watchlist_matches"
    __table_args__ = (
        UniqueConstraint("subject_key", "watchlist_id", "entry_key", "role"),
        Index("ix_watchlist_matches_subject_key", "subject_key", "id"),
    )

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(80))
    watchlist_id: Mapped[int] = mapped_column(_PK, ForeignKey("watchlists.id"))
    entry_id: Mapped[int] = mapped_column(_PK, ForeignKey("watchlist_entries.id"))
    entry_key: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # subject | counterparty
    party_name: Mapped[str | None] = mapped_column(String(300))
    score: Mapped[float] = mapped_column(Float)
    strength: Mapped[str] = mapped_column(String(8))
    matched: Mapped[dict[str, Any]] = mapped_column(JSON)
    institution_id: Mapped[str] = mapped_column(String(64))
    report_id: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # "worker" (a new report) or "rescreen:<job id>" (a list reload found it).
    found_by: Mapped[str] = mapped_column(String(32))


class WatchlistDismissal(Base):
    """An investigator's verdict that a subject is not the listed entry: no alert again."""

    __tablename__ = "watchlist_dismissals"
    __table_args__ = (UniqueConstraint("subject_key", "watchlist_id", "entry_key"),)

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(80))
    watchlist_id: Mapped[int] = mapped_column(_PK, ForeignKey("watchlists.id"))
    entry_key: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    dismissed_by: Mapped[str] = mapped_column(String(64))
    dismissed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WatchlistRescreen(Base):
    """The rescreening of stored reports after a list version was loaded (a bounded job)."""

    __tablename__ = "watchlist_rescreens"
    __table_args__ = (Index("ix_watchlist_rescreens_status", "status", "id"),)

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    version_id: Mapped[int] = mapped_column(_PK, ForeignKey("watchlist_versions.id"))
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    reports_total: Mapped[int] = mapped_column(Integer)
    reports_done: Mapped[int] = mapped_column(Integer)
    # The last reports.id screened: a job stopped midway resumes after it.
    cursor: Mapped[int] = mapped_column(BigInteger)
    matches: Mapped[int] = mapped_column(Integer)
    alerts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
