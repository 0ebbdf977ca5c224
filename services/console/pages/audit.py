"""The audit trail, for auditors and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.audit import service as audit_service
from services.console import forms
from services.console.web import ConsoleRoute, UserDep, render
from services.deps import SessionDep

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 100


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    user: UserDep,
    entity_type: Annotated[str, Query(max_length=16)] = "",
    entity_id: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=48)] = "",
    at_from: Annotated[str, Query(alias="from", max_length=32)] = "",
    at_to: Annotated[str, Query(alias="to", max_length=32)] = "",
    cursor: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Every audited write, newest first, filtered (the service refuses other roles)."""
    events, next_cursor = audit_service.list_events(
        session,
        principal=user.principal,
        query=audit_service.AuditQuery(
            entity_type=entity_type or None,
            entity_id=entity_id or None,
            actor=actor or None,
            action=action or None,
            at_from=forms.utc_datetime(at_from, "from"),
            at_to=forms.utc_datetime(at_to, "to"),
            cursor=cursor,
            limit=PAGE_SIZE,
        ),
    )
    filters = {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "actor": actor,
        "action": action,
        "from": at_from,
        "to": at_to,
    }
    return render(
        request,
        "audit.html",
        {
            "section": "audit",
            "events": events,
            "next_cursor": next_cursor,
            "filters": filters,
            "params": [(key, value) for key, value in filters.items() if value],
            "cursor": cursor,
        },
        user=user,
    )
