"""A reporter's page: its own institution's reports and their processing status, nothing else.

A reporter never learns what the unit concluded (no score, reason, alert, typology or case), so
this page shows when a report was received and whether it was processed, and nothing more.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.console.web import ConsoleRoute, UserDep, render, require
from services.deps import SessionDep
from services.reports import service as report_service

router = APIRouter(route_class=ConsoleRoute)

# What a reporter may read of its own report (never score, reasons or anything derived).
REPORTER_FIELDS = ("report_id", "report_type", "jurisdiction", "filed_at", "received_at", "status")


@router.get("/reports")
def reports_page(
    request: Request,
    session: SessionDep,
    user: UserDep,
    report_id: Annotated[str | None, Query(max_length=64)] = None,
    institution_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Look up a report by id: its reception and processing status."""
    principal = user.principal
    require(user.can.own_reports or user.can.investigate, "this role cannot look up reports")
    institution = principal.institution_id if user.can.own_reports else institution_id
    found = None
    if report_id and institution:
        report = report_service.get_report(
            session, principal=principal, institution_id=institution, report_id=report_id
        )
        found = {name: getattr(report, name) for name in REPORTER_FIELDS}
        found["processed"] = report.processed_at is not None
    return render(
        request,
        "reports.html",
        {
            "section": "reports",
            "report": found,
            "report_id": report_id or "",
            "institution_id": institution or "",
        },
        user=user,
    )
