"""The subject page: one subject across institutions and countries."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.web import ConsoleRoute, UserDep, render
from services.deps import SessionDep
from services.subjects import service as subject_service

router = APIRouter(route_class=ConsoleRoute)


@router.get("/subjects/{subject_key}")
def subject_page(
    request: Request, subject_key: str, session: SessionDep, user: UserDep
) -> Response:
    """Linked identities (basis, confidence), accounts, counterparties, alerts and cases."""
    profile = subject_service.get_profile(
        session, principal=user.principal, subject_key=subject_key, limit=200
    )
    return render(request, "subject.html", {"section": "alerts", "profile": profile}, user=user)
