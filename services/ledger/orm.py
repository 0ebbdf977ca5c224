"""Ledger tables: hash-chained entries, their lines, the chain head and idempotency records.

Entries and lines are append-only: nothing in the code updates or deletes them. The chain
head is a single mutable row whose lock serialises appends, so the chain cannot fork; the
``prev_hash`` uniqueness makes a fork impossible at the database level as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.db import Base, UTCDateTime

_BigId = BigInteger().with_variant(Integer, "sqlite")


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_asset_id_seq", "asset_id", "seq"),)

    # The sequence number is the identity: assigned from the chain head, never by the database.
    seq: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=False)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(240), unique=True)
    asset_id: Mapped[int | None] = mapped_column(BigInteger)
    memo: Mapped[str | None] = mapped_column(String(1000))
    # An approve/void decision names the posting it resolves: at most one decision each.
    decision_for: Mapped[int | None] = mapped_column(
        _BigId, ForeignKey("ledger_entries.seq"), unique=True
    )
    reverses: Mapped[int | None] = mapped_column(_BigId, ForeignKey("ledger_entries.seq"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    lines: Mapped[list[LedgerLine]] = relationship(
        lazy="raise", order_by="LedgerLine.line_no", back_populates="entry"
    )


class LedgerLine(Base):
    """One leg of a posting: positive is a debit (value in), negative a credit (value out)."""

    __tablename__ = "ledger_lines"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="nonzero"),
        Index("ix_ledger_lines_account_currency", "account", "currency"),
    )

    entry_seq: Mapped[int] = mapped_column(
        _BigId, ForeignKey("ledger_entries.seq"), primary_key=True
    )
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    account: Mapped[str] = mapped_column(String(160))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)

    entry: Mapped[LedgerEntry] = relationship(lazy="raise", back_populates="lines")


class LedgerChainHead(Base):
    """The single row naming the last entry; locked by every ledger or asset write."""

    __tablename__ = "ledger_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class IdempotencyRecord(Base):
    """The stored response of a write, replayed when the same key and request come again."""

    __tablename__ = "ledger_idempotency"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
