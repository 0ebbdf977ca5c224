"""The audit trail: one append-only row per write (who, when, what, before and after).

Nothing in the code updates or deletes these rows, the mapper refuses to, and the database
refuses too (see migration ``0003_investigations``): UPDATE always, DELETE and TRUNCATE for
every PostgreSQL role but a superuser (the retention purge is a DBA's job).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from services.db import Base, UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_entity", "entity_type", "entity_id", "id"),
        Index("ix_audit_events_actor_id", "actor", "id"),
        Index("ix_audit_events_at_id", "at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(48))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AppendOnlyViolation(RuntimeError):
    """Raised when code tries to change or remove an audit event."""


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(_mapper: Mapper[Any], _connection: Connection, target: AuditEvent) -> None:
    raise AppendOnlyViolation(f"audit event {target.id} is append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(_mapper: Mapper[Any], _connection: Connection, target: AuditEvent) -> None:
    raise AppendOnlyViolation(f"audit event {target.id} is append-only")
