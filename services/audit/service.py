"""Appending to and reading the audit trail.

Every write endpoint of the investigation API calls ``record`` exactly once, inside the same
transaction as the change it describes: the change and its trace commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from services.audit.orm import AuditEvent
from services.audit.repository import AuditRepository
from services.auth.enums import Role
from services.auth.service import Principal
from services.errors import Forbidden
from services.kit.time import utc_now

AUDIT_READ_ROLES = frozenset({Role.AUDITOR, Role.ADMIN})


def jsonable(value: Any) -> Any:
    """Returns ``value`` with datetimes, enums and decimals as JSON-friendly strings."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(item) for item in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def record(
    session: Session,
    *,
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: int | str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> AuditEvent:
    """Appends one event: who (the token), when (now), what, and the entity before and after."""
    event = AuditEvent(
        at=utc_now(),
        actor=principal.actor,
        role=principal.role.value,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=jsonable(dict(before)) if before is not None else None,
        after=jsonable(dict(after)) if after is not None else None,
    )
    return AuditRepository(session).append(event)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    entity_type: str | None = None
    entity_id: str | None = None
    actor: str | None = None
    action: str | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None
    cursor: int | None = None
    limit: int = 100


def list_events(
    session: Session, *, principal: Principal, query: AuditQuery
) -> tuple[Sequence[AuditEvent], int | None]:
    """Returns a page of events, newest first, and the cursor of the next page.

    Raises:
        Forbidden: the caller is neither an auditor nor an admin.
    """
    if principal.role not in AUDIT_READ_ROLES:
        raise Forbidden("the audit trail is for auditors and admins")
    rows = AuditRepository(session).page(
        entity_type=query.entity_type,
        entity_id=query.entity_id,
        actor=query.actor,
        action=query.action,
        at_from=query.at_from,
        at_to=query.at_to,
        after_id=query.cursor,
        limit=query.limit + 1,
    )
    page = list(rows[: query.limit])
    next_cursor = page[-1].id if len(rows) > query.limit and page else None
    return page, next_cursor
