"""Every audit query. There is an ``append`` and there are reads: no update, no delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from services.audit.orm import AuditEvent


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, event: AuditEvent) -> AuditEvent:
        self.session.add(event)
        self.session.flush()
        return event

    def append_all(self, events: Sequence[AuditEvent]) -> None:
        """Appends several events in one flush."""
        if events:
            self.session.add_all(events)
            self.session.flush()

    def page(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        at_from: datetime | None = None,
        at_to: datetime | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEvent]:
        """Returns events newest first, resuming below ``after_id`` (keyset on id)."""
        statement: Select[Any] = select(AuditEvent)
        if entity_type is not None:
            statement = statement.where(AuditEvent.entity_type == entity_type)
        if entity_id is not None:
            statement = statement.where(AuditEvent.entity_id == entity_id)
        if actor is not None:
            statement = statement.where(AuditEvent.actor == actor)
        if action is not None:
            statement = statement.where(AuditEvent.action == action)
        if at_from is not None:
            statement = statement.where(AuditEvent.at >= at_from)
        if at_to is not None:
            statement = statement.where(AuditEvent.at < at_to)
        if after_id is not None:
            statement = statement.where(AuditEvent.id < after_id)
        statement = statement.order_by(AuditEvent.id.desc()).limit(limit)
        return self.session.scalars(statement).all()

    def for_entities(
        self, entities: Sequence[tuple[str, str]], limit: int = 1000
    ) -> Sequence[AuditEvent]:
        """Returns the events of these ``(entity_type, entity_id)`` pairs, oldest first."""
        if not entities:
            return []
        by_type: dict[str, list[str]] = {}
        for entity_type, entity_id in entities:
            by_type.setdefault(entity_type, []).append(entity_id)
        condition = or_(
            *(
                and_(AuditEvent.entity_type == kind, AuditEvent.entity_id.in_(ids))
                for kind, ids in by_type.items()
            )
        )
        statement = select(AuditEvent).where(condition).order_by(AuditEvent.id).limit(limit)
        return self.session.scalars(statement).all()
