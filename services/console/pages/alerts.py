"""The alert queue and the alert page."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from services.alerts import service as alert_service
from services.alerts.enums import OPEN_STATUSES, AlertStatus
from services.alerts.schemas import AlertFilter, AlertSort, AssignmentRequest, TransitionRequest
from services.console import comparison, forms, views
from services.console.repository import DISTINCT_COLUMNS, QueueRepository
from services.console.views import SCORE_BANDS
from services.console.web import ConsoleRoute, PostUserDep, UserDep, render, require, see_other
from services.deps import SessionDep, get_settings
from services.errors import NotFound, ServiceError
from services.kit.concurrency import Precondition, VersionConflict
from services.kit.ids import PathId
from services.kit.time import utc_now

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 50
SORTS = {
    AlertSort.CREATED_DESC: "newest first",
    AlertSort.CREATED_ASC: "oldest first",
    AlertSort.SCORE_DESC: "highest score first",
    AlertSort.SCORE_ASC: "lowest score first",
    AlertSort.DEADLINE_ASC: "earliest deadline first",
    AlertSort.DEADLINE_DESC: "latest deadline first",
}
DEADLINES = {"overdue": "overdue", "week": "due within 7 days", "month": "due within 30 days"}
UNASSIGNED = "(unassigned)"
CHOICES_TTL_S = 60.0
BAND_EPSILON = 1e-9


class QueueQuery(BaseModel):
    """The queue page's query string (every filter optional)."""

    model_config = ConfigDict(extra="ignore")

    status: list[AlertStatus] = Field(default_factory=list)
    band: str | None = Field(None, pattern="^(high|elevated|moderate|low)$")
    typology: str | None = Field(None, max_length=64)
    institution_id: str | None = Field(None, max_length=64)
    jurisdiction: str | None = Field(None, pattern="^[A-Z]{2}$")
    assignee: str | None = Field(None, max_length=64)
    deadline: str | None = Field(None, pattern="^(overdue|week|month)$")
    sort: AlertSort | None = None

    @property
    def effective_sort(self) -> AlertSort:
        """The order asked for; by default newest first, or earliest deadline first when
        filtering on the deadline (what deadline triage wants, and an index range scan:
        overdue alerts are old ones, and newest-first would walk past every recent alert)."""
        if self.sort is not None:
            return self.sort
        return AlertSort.DEADLINE_ASC if self.deadline else AlertSort.CREATED_DESC

    cursor: str | None = Field(None, max_length=400)


def _queue_query(request: Request) -> QueueQuery:
    params = request.query_params
    data: dict[str, Any] = {key: value for key, value in params.items() if value != ""}
    data["status"] = [value for value in params.getlist("status") if value]
    return forms.parse_model(QueueQuery, data)


def _filter(query: QueueQuery) -> AlertFilter:
    score_min, score_max = None, None
    if query.band:
        _label, score_min, score_max = SCORE_BANDS[query.band]
    deadline_before = None
    if query.deadline == "overdue":
        deadline_before = utc_now()
    elif query.deadline == "week":
        deadline_before = utc_now() + timedelta(days=7)
    elif query.deadline == "month":
        deadline_before = utc_now() + timedelta(days=30)
    statuses = list(query.status)
    if query.deadline and not statuses:
        # A deadline only runs on open alerts: filed and closed ones are not "overdue".
        statuses = [status for status in AlertStatus if status in OPEN_STATUSES]
    return AlertFilter(
        status=statuses,
        score_min=score_min,
        # A band's upper bound belongs to the band above (0.9 is "high"); the filter's
        # score_max is inclusive, so it stops just below.
        score_max=(score_max - BAND_EPSILON) if score_max is not None else None,
        typology=query.typology,
        institution_id=query.institution_id,
        jurisdiction=query.jurisdiction,
        assignee=None if query.assignee == UNASSIGNED else query.assignee,
        unassigned=query.assignee == UNASSIGNED,
        deadline_before=deadline_before,
    )


def _safe_back(value: str | None, default: str) -> str:
    if value and value.startswith("/console/") and "//" not in value and "\\" not in value:
        return value
    return default


@router.get("/alerts")
def queue(request: Request, session: SessionDep, user: UserDep) -> Response:
    """The alert queue: filters, sorting, keyset pages, deadline badges, bulk actions."""
    query = _queue_query(request)
    items, next_cursor = alert_service.list_alerts(
        session,
        principal=user.principal,
        filters=_filter(query),
        sort=query.effective_sort,
        cursor=query.cursor,
        limit=PAGE_SIZE,
    )
    choices = _filter_choices(request, session, query)
    params = [(key, value) for key, value in request.query_params.multi_items() if key != "cursor"]
    return render(
        request,
        "alerts.html",
        {
            "section": "alerts",
            "rows": views.queue_rows(items, utc_now()),
            "next_cursor": next_cursor,
            "query": query,
            "params": params,
            "statuses": list(AlertStatus),
            "sorts": SORTS,
            "deadlines": DEADLINES,
            "typologies": choices["typology"],
            "institutions": choices["institution_id"],
            "jurisdictions": choices["jurisdiction"],
            "assignees": choices["assignee"],
            "unassigned": UNASSIGNED,
            "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        },
        user=user,
    )


@dataclass(frozen=True, slots=True)
class _Choices:
    values: dict[str, list[str]]
    expires: float


def _filter_choices(request: Request, session: Session, query: QueueQuery) -> dict[str, list[str]]:
    """The values the filter lists offer, read at most every CHOICES_TTL_S per process.

    New typologies, institutions and assignee names are rare, and reading them costs four
    queries a page; a value in the page's own filters is always offered.
    """
    cached: _Choices | None = getattr(request.app.state, "console_queue_choices", None)
    now = time.monotonic()
    if cached is None or cached.expires <= now:
        repository = QueueRepository(session)
        cached = _Choices(
            {column: repository.distinct_values(column) for column in DISTINCT_COLUMNS},
            now + CHOICES_TTL_S,
        )
        request.app.state.console_queue_choices = cached
    selected = {
        "typology": query.typology,
        "institution_id": query.institution_id,
        "jurisdiction": query.jurisdiction,
        "assignee": None if query.assignee == UNASSIGNED else query.assignee,
    }
    offered = {}
    for column, values in cached.values.items():
        wanted = selected[column]
        offered[column] = sorted({*values, wanted}) if wanted else values
    return offered


def _versioned(value: str) -> tuple[int, int]:
    alert_id, _, version = value.partition(":")
    if not alert_id.isdigit() or not version.isdigit():
        raise ServiceError("the form has errors", 422, [{"field": "alert", "message": value}])
    return int(alert_id), int(version)


@router.post("/alerts/assign")
def bulk_assign(
    request: Request,
    session: SessionDep,
    user: PostUserDep,
    alert: Annotated[list[str], Form()],
    assignee: Annotated[str, Form(max_length=64)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Assigns (or unassigns, with an empty name) every selected alert.

    Each alert is assigned against the version the page showed: one changed since is left
    as it is and listed, the others are assigned (one audit event each).
    """
    name = assignee.strip() or None
    done: list[int] = []
    refused: list[dict[str, Any]] = []
    for value in alert[:500]:
        alert_id, version = _versioned(value)
        try:
            alert_service.assign_alert(
                session,
                principal=user.principal,
                alert_id=alert_id,
                request=AssignmentRequest(assignee=name, version=version),
                precondition=Precondition(version=version, from_header=False),
            )
        except (VersionConflict, NotFound) as error:
            if isinstance(error, VersionConflict) and error.details == {"current_version": None}:
                raise  # lost a race inside the flush: the transaction must roll back
            refused.append({"alert_id": alert_id, "message": error.message})
            continue
        done.append(alert_id)
    target = _safe_back(back, "/console/alerts")
    if not refused:
        return see_other(target, notice="assigned")
    return render(
        request,
        "assign_result.html",
        {"section": "alerts", "done": done, "refused": refused, "back": target, "name": name},
        user=user,
        status_code=409,
    )


def _notes(detail: alert_service.AlertDetail) -> list[alert_service.HistoryItem]:
    return [item for item in detail.history if item.kind.endswith(".note")]


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: PathId, session: SessionDep, user: UserDep) -> Response:
    """One alert: reports, reasons, the subject against its baseline and peers, what to do."""
    detail = alert_service.get_alert(session, principal=user.principal, alert_id=alert_id)
    alert = detail.alert
    moves = forms.alert_moves(alert.status, user.principal.role) if user.can.work_alerts else []
    return render(
        request,
        "alert.html",
        {
            "section": "alerts",
            "detail": detail,
            "alert": alert,
            # Every report of the alert's episode (the subject's reports it gathers).
            "reports": alert_service.episode_reports(session, alert)
            or ([detail.report] if detail.report is not None else []),
            "comparison": comparison.compare(session, alert, detail.report),
            "moves": moves,
            "notes": _notes(detail),
        },
        user=user,
    )


@router.post("/alerts/{alert_id}/transition")
async def transition(
    request: Request, alert_id: PathId, session: SessionDep, user: PostUserDep
) -> Response:
    """Takes one move of the lifecycle, with the version the page showed."""
    form = await request.form()
    body = forms.parse_model(TransitionRequest, transition_data(form))
    moved = alert_service.transition_alert(
        session,
        principal=user.principal,
        alert_id=alert_id,
        request=body,
        precondition=Precondition(version=body.version or 0, from_header=False),
        second_approval_score=get_settings(request).false_positive_second_approval_score,
    )
    if moved.awaiting is not None:
        return see_other(f"/console/alerts/{alert_id}", notice="second-approval")
    return see_other(f"/console/alerts/{alert_id}", notice="moved")


def transition_data(form: Any) -> dict[str, Any]:
    """A transition form (alert or case) as a ``TransitionRequest`` body."""
    data = forms.blank_to_none(
        {
            key: form.get(key, "")
            for key in (
                "to",
                "version",
                "disposition",
                "rationale",
                "filing_reference",
                "typology",
            )
        }
    )
    data["evidence"] = forms.lines(str(form.get("evidence", "")))
    data["suspicion_determined_at"] = forms.utc_datetime(
        str(form.get("suspicion_determined_at", "")), "suspicion_determined_at"
    )
    if data.get("version") is None:
        raise ServiceError("the form has errors", 422, [{"field": "version", "message": "missing"}])
    return data


@router.post("/alerts/{alert_id}/assign")
def assign(
    alert_id: PathId,
    session: SessionDep,
    user: PostUserDep,
    version: Annotated[int, Form(ge=1)],
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    alert_service.assign_alert(
        session,
        principal=user.principal,
        alert_id=alert_id,
        request=AssignmentRequest(assignee=assignee.strip() or None, version=version),
        precondition=Precondition(version=version, from_header=False),
    )
    return see_other(f"/console/alerts/{alert_id}", notice="assigned")


@router.post("/alerts/{alert_id}/notes")
def add_note(
    alert_id: PathId,
    session: SessionDep,
    user: PostUserDep,
    text: Annotated[str, Form(min_length=1, max_length=10_000)],
) -> Response:
    require(user.can.work_alerts, "this role cannot add notes")
    alert_service.add_note(session, principal=user.principal, alert_id=alert_id, text=text)
    return see_other(f"/console/alerts/{alert_id}#notes", notice="noted")
