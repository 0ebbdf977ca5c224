from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from services.alerts import service as alert_service
from services.alerts.approvals import AWAITING_HEADER
from services.alerts.schemas import (
    AlertPage,
    AlertQuery,
    AlertRead,
    AssignmentRequest,
    EpisodeReportRead,
    HistoryEntry,
    NoteCreate,
    NoteRead,
    SourceRead,
    SubjectSummary,
    TransitionRequest,
)
from services.deps import PrincipalDep, SessionDep, SettingsDep, run_blocking
from services.errors import BAD_ETAG_OR_BODY, MALFORMED_BODY, UNAUTHENTICATED
from services.kit.concurrency import etag, precondition
from services.kit.ids import PathId
from services.reports.schemas import ReportRead

router = APIRouter(tags=["alerts"], responses=UNAUTHENTICATED)

IfMatch = Annotated[str | None, Header(alias="If-Match")]

_TRANSITION_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": AlertRead,
        "description": "a false-positive closure above the second-approval score was proposed"
        " and waits for another person (the X-Awaiting-Second-Approval header says why);"
        " nothing changed",
        "headers": {AWAITING_HEADER: {"schema": {"type": "string"}}},
    },
}
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **BAD_ETAG_OR_BODY,
    403: {"description": "auditors read only; reporters never see alerts"},
    404: {"description": "no such alert"},
    409: {"description": "illegal transition, or a stale body version"},
    412: {"description": "If-Match names a stale version"},
    422: {"description": "the move lacks what it requires (listed)"},
    428: {"description": "no version given (If-Match or version)"},
}


def to_read(detail: alert_service.AlertDetail) -> AlertRead:
    alert = detail.alert
    subject = detail.subject
    return AlertRead(
        **{field: getattr(alert, field) for field in alert_service.SUMMARY_FIELDS},
        model_version=alert.model_version,
        rule_hits=alert.rule_hits,
        reasons=alert.reasons,
        features=alert.features,
        source=SourceRead(
            topic=alert.source_topic, partition=alert.source_partition, offset=alert.source_offset
        ),
        transaction_at=alert.transaction_at,
        suspicion_determined_at=alert.suspicion_determined_at,
        decided_at=alert.decided_at,
        rationale=alert.rationale,
        evidence=alert.evidence,
        filing_reference=alert.filing_reference,
        report_count=alert.report_count or 1,
        last_report_at=alert.last_report_at,
        threshold=alert.threshold,
        threshold_version=alert.threshold_version,
        investigator_typology=alert.investigator_typology,
        episode_reports=[EpisodeReportRead.model_validate(link) for link in detail.episode],
        report=ReportRead.from_orm_report(detail.report) if detail.report else None,
        watchlist_matches=detail.watchlist_matches,
        subject=SubjectSummary(
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
        if subject
        else None,
        history=[
            HistoryEntry(
                at=item.at,
                kind=item.kind,
                actor=item.actor,
                entity_type=item.entity_type,
                entity_id=item.entity_id,
                before=item.before,
                after=item.after,
            )
            for item in detail.history
        ],
    )


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {key: value for key, value in node.items() if key != "$ref"}
            return {**_inline_refs(definitions[ref.removeprefix("#/$defs/")], definitions), **rest}
        return {key: _inline_refs(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def _query_parameters(model: type[AlertQuery]) -> list[dict[str, Any]]:
    """The OpenAPI ``parameters`` of a query model (what ``Query()`` on a model documents)."""
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})
    return [
        {"name": name, "in": "query", "required": False, "schema": _inline_refs(prop, definitions)}
        for name, prop in schema["properties"].items()
    ]


_LIST_FIELDS = frozenset(
    name
    for name, field in AlertQuery.model_fields.items()
    if field.annotation is not None and getattr(field.annotation, "__origin__", None) is list
)


async def alert_query(request: Request) -> AlertQuery:
    """``GET /v1/alerts``' query string as one model, validated once.

    FastAPI's own ``Annotated[AlertQuery, Query()]`` walks every field of the model with its
    aliases on every request (about a seventh of the endpoint's CPU); this reads the few keys
    that were sent. Same rules: a repeated key is a list for list fields (``status``) and the
    last value otherwise, unknown keys are ignored, and errors are FastAPI's 422 with
    ``["query", field]`` locations. The parameters are documented through ``openapi_extra``.
    """
    params = request.query_params
    data: dict[str, Any] = {
        key: params.getlist(key) if key in _LIST_FIELDS else value for key, value in params.items()
    }
    try:
        return AlertQuery.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(
            [
                {**detail, "loc": ("query", *detail["loc"])}
                for detail in error.errors(include_url=False)
            ]
        ) from None


AlertQueryDep = Annotated[AlertQuery, Depends(alert_query)]


@router.get(
    "/v1/alerts",
    response_model=AlertPage,
    responses={200: {"model": AlertPage}, 403: {}, 422: {"description": "bad filter or cursor"}},
    openapi_extra={"parameters": _query_parameters(AlertQuery)},
)
async def list_alerts(
    request: Request, session: SessionDep, principal: PrincipalDep, query: AlertQueryDep
) -> Response:
    """Returns the alert queue: filters combine (AND); keyset pagination via ``next_cursor``."""
    items, next_cursor = await run_blocking(
        request,
        alert_service.list_alerts,
        session,
        principal=principal,
        filters=query,
        sort=query.sort,
        cursor=query.cursor,
        limit=query.limit,
    )
    # The queue is the hot path: rows go straight to JSON, without a pydantic round trip.
    body = orjson.dumps({"items": items, "next_cursor": next_cursor}, option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json")


@router.get("/v1/alerts/{alert_id}", response_model=AlertRead, responses={403: {}, 404: {}})
def read_alert(
    alert_id: PathId, session: SessionDep, principal: PrincipalDep, response: Response
) -> AlertRead:
    """Returns an alert with its report, reasons, features, subject summary and history."""
    detail = alert_service.get_alert(session, principal=principal, alert_id=alert_id)
    response.headers["ETag"] = etag(detail.alert.version)
    return to_read(detail)


@router.post(
    "/v1/alerts/{alert_id}/transitions",
    response_model=AlertRead,
    responses={**_WRITE_RESPONSES, **_TRANSITION_RESPONSES},
)
def transition_alert(
    alert_id: PathId,
    body: TransitionRequest,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> AlertRead:
    """Moves the alert to ``to``: closing needs a disposition and rationale, filing a reference."""
    moved = alert_service.transition_alert(
        session,
        principal=principal,
        alert_id=alert_id,
        request=body,
        precondition=precondition(if_match, body.version),
        second_approval_score=settings.false_positive_second_approval_score,
    )
    if moved.awaiting is not None:
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers[AWAITING_HEADER] = moved.awaiting.message
    detail = alert_service.get_alert(session, principal=principal, alert_id=alert_id)
    response.headers["ETag"] = etag(detail.alert.version)
    return to_read(detail)


@router.post(
    "/v1/alerts/{alert_id}/assignment", response_model=AlertRead, responses=_WRITE_RESPONSES
)
def assign_alert(
    alert_id: PathId,
    body: AssignmentRequest,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    if_match: IfMatch = None,
) -> AlertRead:
    """Assigns the alert to an investigator, or unassigns it with ``"assignee": null``."""
    alert_service.assign_alert(
        session,
        principal=principal,
        alert_id=alert_id,
        request=body,
        precondition=precondition(if_match, body.version),
    )
    detail = alert_service.get_alert(session, principal=principal, alert_id=alert_id)
    response.headers["ETag"] = etag(detail.alert.version)
    return to_read(detail)


@router.post(
    "/v1/alerts/{alert_id}/notes",
    response_model=NoteRead,
    status_code=status.HTTP_201_CREATED,
    responses={**MALFORMED_BODY, 403: {}, 404: {}},
)
def add_alert_note(
    alert_id: PathId, body: NoteCreate, session: SessionDep, principal: PrincipalDep
) -> NoteRead:
    """Appends a note to the alert."""
    note = alert_service.add_note(session, principal=principal, alert_id=alert_id, text=body.text)
    return NoteRead.model_validate(note)
