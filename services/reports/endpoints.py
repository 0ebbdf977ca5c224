from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool

from refdata.wire import json_schema
from services.deps import PrincipalDep, PublisherDep, SessionDep, SettingsDep
from services.errors import ServiceError
from services.reports import service as report_service
from services.reports.schemas import IngestResponse, ReportRead

router = APIRouter(tags=["reports"])

_REPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/ReportV1"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/ReportV1"}},
                    ]
                }
            }
        },
    }
}


@router.post(
    "/v1/reports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResponse,
    openapi_extra=_REPORT_BODY,
    responses={413: {"description": "too many items or too large"}, 422: {}, 503: {}},
)
async def submit_reports(
    request: Request, principal: PrincipalDep, publisher: PublisherDep, settings: SettingsDep
) -> Any:
    """Accepts one report or a list; answers once the broker has acknowledged them."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.ingest_max_body_bytes:
        raise ServiceError(f"body exceeds {settings.ingest_max_body_bytes} bytes", 413)
    body = await request.body()
    if len(body) > settings.ingest_max_body_bytes:
        raise ServiceError(f"body exceeds {settings.ingest_max_body_bytes} bytes", 413)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ServiceError(f"body is not JSON: {error}", 422) from None
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise ServiceError("empty list: nothing to submit", 422)
    if len(items) > settings.ingest_max_items:
        raise ServiceError(f"at most {settings.ingest_max_items} reports per request", 413)
    result = await run_in_threadpool(
        report_service.ingest, items, principal=principal, publisher=publisher
    )
    return {"accepted": result.accepted, "rejected": result.rejected}


@router.get("/v1/reports/{institution_id}/{report_id}", response_model=ReportRead)
def read_report(
    institution_id: str, report_id: str, session: SessionDep, principal: PrincipalDep
) -> ReportRead:
    """Returns a stored report with its processing status, score and reasons."""
    report = report_service.get_report(
        session, principal=principal, institution_id=institution_id, report_id=report_id
    )
    return ReportRead.from_orm_report(report)


@router.get("/v1/schema/report")
def report_schema() -> dict[str, Any]:
    """Returns the JSON Schema of wire format v1."""
    return json_schema()
