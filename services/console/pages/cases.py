"""Cases: build one from selected alerts, edit the narrative, work it, download its filings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from services.alerts import service as alert_service
from services.alerts.enums import AlertStatus
from services.alerts.schemas import TransitionRequest
from services.cases import service as case_service
from services.cases.schemas import CaseCreate, CaseUpdate
from services.console import forms
from services.console.pages.alerts import transition_data
from services.console.web import ConsoleRoute, PostUserDep, UserDep, render, require, see_other
from services.deps import SessionDep, get_settings
from services.errors import ServiceError
from services.filings import service as filing_service
from services.filings.endpoints import get_filing_profile
from services.kit.concurrency import Precondition
from services.kit.ids import PathId

router = APIRouter(route_class=ConsoleRoute)


@router.get("/cases")
def cases_page(
    request: Request,
    session: SessionDep,
    user: UserDep,
    status: Annotated[list[AlertStatus] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    """Cases, newest first."""
    cases, next_cursor = case_service.list_cases(
        session, principal=user.principal, status=status or [], cursor=cursor, limit=50
    )
    return render(
        request,
        "cases.html",
        {
            "section": "cases",
            "cases": cases,
            "next_cursor": next_cursor,
            "status": status or [],
            "statuses": list(AlertStatus),
            "cursor": cursor,
        },
        user=user,
    )


@router.post("/cases/new")
def new_case(
    request: Request,
    session: SessionDep,
    user: PostUserDep,
    alert: Annotated[list[str], Form()],
) -> Response:
    """The case form for the alerts selected in the queue (nothing is written yet)."""
    require(user.can.work_alerts, "this role cannot open cases")
    heads = (value.partition(":")[0] for value in alert)
    ids = sorted({int(head) for head in heads if head.isdigit()})
    alerts = [
        alert_service.get_alert(session, principal=user.principal, alert_id=alert_id).alert
        for alert_id in ids[:200]
    ]
    jurisdictions = sorted({item.jurisdiction for item in alerts})
    return render(
        request,
        "case_new.html",
        {"section": "cases", "alerts": alerts, "jurisdictions": jurisdictions},
        user=user,
    )


@router.post("/cases")
def create_case(
    session: SessionDep,
    user: PostUserDep,
    title: Annotated[str, Form(max_length=200)],
    alert_ids: Annotated[list[int], Form()],
    narrative: Annotated[str, Form(max_length=17_000)] = "",
    jurisdiction: Annotated[str, Form(max_length=2)] = "",
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Opens the case (the same service as ``POST /v1/cases``)."""
    body = forms.parse_model(
        CaseCreate,
        forms.blank_to_none(
            {
                "title": title,
                "alert_ids": alert_ids,
                "narrative": narrative,
                "jurisdiction": jurisdiction,
                "assignee": assignee,
            }
        ),
    )
    case = case_service.create_case(session, principal=user.principal, request=body)
    return see_other(f"/console/cases/{case.id}", notice="case-created")


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: PathId, session: SessionDep, user: UserDep) -> Response:
    """A case: alerts, subjects, transactions, narrative, timeline, moves and filings."""
    detail = case_service.get_case(session, principal=user.principal, case_id=case_id)
    case = detail.case
    moves = forms.alert_moves(case.status, user.principal.role) if user.can.work_alerts else []
    notes = [item for item in detail.timeline if item.kind == "case.note"]
    return render(
        request,
        "case.html",
        {
            "section": "cases",
            "detail": detail,
            "case": case,
            "moves": moves,
            "notes": notes,
            "editable": user.can.work_alerts and case.status not in ("FILED", "CLOSED"),
        },
        user=user,
    )


@router.post("/cases/{case_id}/edit")
def edit_case(
    case_id: PathId,
    session: SessionDep,
    user: PostUserDep,
    version: Annotated[int, Form(ge=1)],
    title: Annotated[str, Form(max_length=200)],
    narrative: Annotated[str, Form(max_length=17_000)] = "",
) -> Response:
    """Saves the title and narrative against the version the page showed."""
    body = forms.parse_model(
        CaseUpdate, {"version": version, "title": title, "narrative": narrative}
    )
    case_service.update_case(
        session,
        principal=user.principal,
        case_id=case_id,
        request=body,
        precondition=Precondition(version=version, from_header=False),
    )
    return see_other(f"/console/cases/{case_id}", notice="case-saved")


@router.post("/cases/{case_id}/transition")
async def transition_case(
    request: Request, case_id: PathId, session: SessionDep, user: PostUserDep
) -> Response:
    form = await request.form()
    body = forms.parse_model(TransitionRequest, transition_data(form))
    moved = case_service.transition_case(
        session,
        principal=user.principal,
        case_id=case_id,
        request=body,
        precondition=Precondition(version=body.version or 0, from_header=False),
        second_approval_score=get_settings(request).false_positive_second_approval_score,
    )
    if moved.awaiting is not None:
        return see_other(f"/console/cases/{case_id}", notice="second-approval")
    return see_other(f"/console/cases/{case_id}", notice="moved")


@router.post("/cases/{case_id}/notes")
def add_case_note(
    case_id: PathId,
    session: SessionDep,
    user: PostUserDep,
    text: Annotated[str, Form(min_length=1, max_length=10_000)],
) -> Response:
    require(user.can.work_alerts, "this role cannot add notes")
    case_service.add_note(session, principal=user.principal, case_id=case_id, text=text)
    return see_other(f"/console/cases/{case_id}#notes", notice="noted")


@router.get("/cases/{case_id}/exports/{kind}")
def export_case(
    request: Request, case_id: PathId, kind: str, session: SessionDep, user: UserDep
) -> Response:
    """Downloads a filing; what the filing still lacks is a checklist page (the API's 422)."""
    profile = get_filing_profile(request)
    if kind == "fincen-sar":
        export = filing_service.export_fincen_sar(
            session,
            principal=user.principal,
            case_id=case_id,
            profile=profile,
            options=filing_service.SarOptions(filing_date=None, prior_document_number=None),
        )
    elif kind == "goaml":
        export = filing_service.export_goaml(
            session, principal=user.principal, case_id=case_id, profile=profile
        )
    else:
        raise ServiceError(f"no export {kind!r}: fincen-sar or goaml", 404)
    return Response(
        export.content,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "X-Content-SHA256": export.sha256,
            "Cache-Control": "no-store",
        },
    )
