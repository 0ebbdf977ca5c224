from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import AwareDatetime

from services.alerts import service as alert_service
from services.alerts.approvals import AWAITING_HEADER
from services.alerts.enums import AlertStatus
from services.alerts.schemas import (
    AlertSummary,
    AssignmentRequest,
    NoteCreate,
    NoteRead,
    SubjectSummary,
    TransitionRequest,
)
from services.cases import service as case_service
from services.cases.schemas import (
    CaseCreate,
    CasePage,
    CaseRead,
    CaseSummary,
    CaseUpdate,
    TimelineEntry,
    TransactionRead,
)
from services.deps import PrincipalDep, SessionDep, SettingsDep
from services.errors import BAD_ETAG_OR_BODY, MALFORMED_BODY, UNAUTHENTICATED
from services.kit.concurrency import etag, precondition
from services.kit.ids import PathId

router = APIRouter(tags=["cases"], responses=UNAUTHENTICATED)

IfMatch = Annotated[str | None, Header(alias="If-Match")]

_TRANSITION_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": CaseRead,
        "description": "a false-positive closure above the second-approval score was proposed"
        " and waits for another person (the X-Awaiting-Second-Approval header says why);"
        " nothing changed",
        "headers": {AWAITING_HEADER: {"schema": {"type": "string"}}},
    },
}
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **BAD_ETAG_OR_BODY,
    403: {"description": "auditors read only; reporters never see cases"},
    404: {"description": "no such case"},
    409: {"description": "illegal transition, stale body version, alert in another case"},
    412: {"description": "If-Match names a stale version"},
    422: {"description": "invalid or incomplete request (fields listed)"},
    428: {"description": "no version given (If-Match or version)"},
}


def to_read(detail: case_service.CaseDetail) -> CaseRead:
    case = detail.case
    return CaseRead(
        **CaseSummary.model_validate(case).model_dump(),
        narrative=case.narrative,
        rationale=case.rationale,
        evidence=case.evidence,
        filing_reference=case.filing_reference,
        decided_at=case.decided_at,
        subject_identified=case.subject_identified,
        alerts=[
            AlertSummary(**{field: getattr(alert, field) for field in alert_service.SUMMARY_FIELDS})
            for alert in detail.alerts
        ],
        subjects=[
            SubjectSummary(
                subject_key=subject.subject_key,
                name=subject.name,
                type=subject.type,
                country=subject.country,
                identifier_types=subject.identifier_types,
                report_count=subject.report_count,
                alert_count=subject.alert_count,
                open_alert_count=subject.open_alert_count,
                linked_subject_keys=subject.linked_subject_keys,
            )
            for subject in detail.subjects
        ],
        transactions=[
            TransactionRead(
                institution_id=report.institution_id,
                report_id=report.report_id,
                report_type=report.report_type,
                subject_key=report.subject_key,
                transaction_id=report.transaction_id,
                at=report.txn_at,
                amount=case_service.describe_amount(report),
                currency=report.currency,
                instrument=report.instrument,
                direction=report.direction,
                account_id=report.account_id,
                counterparty_account_id=report.counterparty_account_id,
                counterparty_country=report.counterparty_country,
            )
            for report in detail.reports
        ],
        timeline=[
            TimelineEntry(
                at=item.at, kind=item.kind, actor=item.actor, summary=item.summary, data=item.data
            )
            for item in detail.timeline
        ],
    )


def _read(
    session: SessionDep, principal: PrincipalDep, case_id: PathId, response: Response
) -> CaseRead:
    detail = case_service.get_case(session, principal=principal, case_id=case_id)
    response.headers["ETag"] = etag(detail.case.version)
    return to_read(detail)


@router.post(
    "/v1/cases",
    response_model=CaseRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **MALFORMED_BODY,
        403: {},
        409: {"description": "an alert is in another open case"},
        422: {},
    },
)
def create_case(
    body: CaseCreate, session: SessionDep, principal: PrincipalDep, response: Response
) -> CaseRead:
    """Opens a case grouping alerts (same subject or network)."""
    case = case_service.create_case(session, principal=principal, request=body)
    return _read(session, principal, case.id, response)


@router.get("/v1/cases", response_model=CasePage, responses={403: {}, 422: {}})
def list_cases(
    session: SessionDep,
    principal: PrincipalDep,
    status_: Annotated[list[AlertStatus] | None, Query(alias="status")] = None,
    assignee: str | None = None,
    jurisdiction: str | None = None,
    subject_key: str | None = None,
    deadline_before: AwareDatetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CasePage:
    """Returns cases, newest first, with keyset pagination."""
    cases, next_cursor = case_service.list_cases(
        session,
        principal=principal,
        status=status_ or [],
        assignee=assignee,
        jurisdiction=jurisdiction,
        subject_key=subject_key,
        deadline_before=deadline_before,
        cursor=cursor,
        limit=limit,
    )
    return CasePage(
        items=[CaseSummary.model_validate(case) for case in cases], next_cursor=next_cursor
    )


@router.get("/v1/cases/{case_id}", response_model=CaseRead, responses={403: {}, 404: {}})
def read_case(
    case_id: PathId, session: SessionDep, principal: PrincipalDep, response: Response
) -> CaseRead:
    """Returns a case with its alerts, subjects, transactions and timeline."""
    return _read(session, principal, case_id, response)


@router.patch("/v1/cases/{case_id}", response_model=CaseRead, responses=_WRITE_RESPONSES)
def update_case(
    case_id: PathId,
    body: CaseUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    if_match: IfMatch = None,
) -> CaseRead:
    """Edits an open case: title, narrative, suspicion determination, alerts, subjects."""
    case_service.update_case(
        session,
        principal=principal,
        case_id=case_id,
        request=body,
        precondition=precondition(if_match, body.version),
    )
    return _read(session, principal, case_id, response)


@router.post(
    "/v1/cases/{case_id}/transitions",
    response_model=CaseRead,
    responses={**_WRITE_RESPONSES, **_TRANSITION_RESPONSES},
)
def transition_case(
    case_id: PathId,
    body: TransitionRequest,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> CaseRead:
    """Moves the case along the lifecycle; FILED and CLOSED carry over to its open alerts."""
    moved = case_service.transition_case(
        session,
        principal=principal,
        case_id=case_id,
        request=body,
        precondition=precondition(if_match, body.version),
        second_approval_score=settings.false_positive_second_approval_score,
    )
    if moved.awaiting is not None:
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers[AWAITING_HEADER] = moved.awaiting.message
    return _read(session, principal, case_id, response)


@router.post("/v1/cases/{case_id}/assignment", response_model=CaseRead, responses=_WRITE_RESPONSES)
def assign_case(
    case_id: PathId,
    body: AssignmentRequest,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    if_match: IfMatch = None,
) -> CaseRead:
    """Assigns the case to an investigator, or unassigns it with ``"assignee": null``."""
    case_service.assign_case(
        session,
        principal=principal,
        case_id=case_id,
        request=body,
        precondition=precondition(if_match, body.version),
    )
    return _read(session, principal, case_id, response)


@router.post(
    "/v1/cases/{case_id}/notes",
    response_model=NoteRead,
    status_code=status.HTTP_201_CREATED,
    responses={**MALFORMED_BODY, 403: {}, 404: {}},
)
def add_case_note(
    case_id: PathId, body: NoteCreate, session: SessionDep, principal: PrincipalDep
) -> NoteRead:
    """Appends a note to the case."""
    note = case_service.add_note(session, principal=principal, case_id=case_id, text=body.text)
    return NoteRead.model_validate(note)
