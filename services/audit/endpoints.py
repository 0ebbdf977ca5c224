from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.audit import service as audit_service
from services.deps import PrincipalDep, SessionDep
from services.errors import UNAUTHENTICATED, ServiceError
from services.kit.ids import MAX_DB_ID

router = APIRouter(tags=["audit"], responses=UNAUTHENTICATED)


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEventRead]
    next_cursor: str | None


@router.get(
    "/v1/audit",
    response_model=AuditPage,
    responses={403: {"description": "not an auditor or admin"}, 422: {}},
)
def read_audit(
    session: SessionDep,
    principal: PrincipalDep,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    at_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    at_to: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Returns the audit trail, newest first (auditors and admins only)."""
    if cursor is not None and not (
        cursor.isascii() and cursor.isdigit() and len(cursor) <= 19 and int(cursor) <= MAX_DB_ID
    ):
        raise ServiceError("invalid cursor", 422)
    events, next_cursor = audit_service.list_events(
        session,
        principal=principal,
        query=audit_service.AuditQuery(
            entity_type=entity_type,
            entity_id=entity_id,
            actor=actor,
            action=action,
            at_from=at_from,
            at_to=at_to,
            cursor=int(cursor) if cursor is not None else None,
            limit=limit,
        ),
    )
    return AuditPage(
        items=[AuditEventRead.model_validate(event) for event in events],
        next_cursor=str(next_cursor) if next_cursor is not None else None,
    )
