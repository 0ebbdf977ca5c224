from __future__ import annotations

import io
import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic_core import from_json

from refdata.wire import json_schema
from services.auth.enums import Role
from services.auth.service import Principal
from services.config import Settings
from services.deps import PrincipalDep, PublisherDep, SessionDep, SettingsDep
from services.errors import UNAUTHENTICATED, ServiceError
from services.filings.profile import FilingProfile, ProfileInvalid, load_profile
from services.reports import intake
from services.reports import service as report_service
from services.reports.formats import IntakeContext, media_format
from services.reports.schemas import (
    FileIngestResponse,
    IngestResponse,
    ReporterReportRead,
    ReportRead,
)

router = APIRouter(tags=["reports"])

_REPORT_BODY: dict[str, Any] = {
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
            },
            "application/xml": {
                "schema": {
                    "type": "string",
                    "description": "a FinCEN CTRX/SARX batch, an ISO 20022 pacs.008 message"
                    " or a goAML report",
                }
            },
            "text/csv": {"schema": {"type": "string", "description": "docs/usage.md#csv"}},
        },
    }
}
_FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": _REPORT_BODY["requestBody"]["content"]["application/xml"],
            "text/csv": _REPORT_BODY["requestBody"]["content"]["text/csv"],
        },
    }
}
InstitutionQuery = Annotated[
    str | None, Query(description="files only: the institution (admins; reporters: their own)")
]
JurisdictionQuery = Annotated[
    Literal["US", "MX"] | None, Query(description="files only: overrides the inferred one")
]
PerspectiveQuery = Annotated[
    Literal["debtor", "creditor"],
    Query(description="pacs.008 only: whose bank reports it (the subject's side)"),
]


def _profile(settings: Settings, request: Request) -> FilingProfile:
    """The filing profile's goAML codes help read goAML files; a broken profile must not
    stop intake (GET /v1/filing-profile/status reports it), so it then reads as empty."""
    profile: FilingProfile | None = getattr(request.app.state, "filing_profile", None)
    if profile is not None:
        return profile
    try:
        return load_profile(settings.filing_profile_path)
    except ProfileInvalid:
        return FilingProfile()


def _context(
    request: Request,
    principal: Principal,
    settings: Settings,
    institution_id: str | None,
    jurisdiction: str | None,
    perspective: str,
) -> IntakeContext:
    return intake.intake_context(
        principal,
        _profile(settings, request),
        institution_id=institution_id,
        jurisdiction=jurisdiction,
        perspective=perspective,
        iso20022_xsd_dir=settings.iso20022_xsd_dir,
    )


@router.post(
    "/v1/reports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResponse,
    response_model_exclude_none=True,  # format and reports: files only
    openapi_extra=_REPORT_BODY,
    responses={
        **UNAUTHENTICATED,
        403: {},
        413: {"description": "too many items or too large"},
        422: {"description": "invalid: per item (JSON) or per element / row (files)"},
        503: {},
    },
)
async def submit_reports(
    request: Request,
    principal: PrincipalDep,
    publisher: PublisherDep,
    settings: SettingsDep,
    institution_id: InstitutionQuery = None,
    jurisdiction: JurisdictionQuery = None,
    perspective: PerspectiveQuery = "debtor",
) -> Any:
    """Accepts one report or a list (JSON), or a whole file by content type: FinCEN CTRX/SARX,
    ISO 20022 pacs.008 or goAML XML (``application/xml``), CSV (``text/csv``). A file is
    accepted or refused whole; answers once the broker has acknowledged the reports."""
    kind = media_format(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.ingest_max_body_bytes:
        raise ServiceError(
            f"body exceeds {settings.ingest_max_body_bytes} bytes (large files: POST"
            " /v1/reports/files)",
            413,
        )
    body = await request.body()
    if len(body) > settings.ingest_max_body_bytes:
        raise ServiceError(f"body exceeds {settings.ingest_max_body_bytes} bytes", 413)
    if kind != "json":
        context = _context(request, principal, settings, institution_id, jurisdiction, perspective)
        done = await run_in_threadpool(
            intake.ingest_file,
            io.BytesIO(body),
            kind,
            principal=principal,
            context=context,
            publisher=publisher,
            listed=settings.ingest_max_items,
        )
        return {
            "accepted": done.accepted,
            "rejected": [],
            "format": done.format,
            "reports": done.reports,
        }
    try:
        # The parser of the worker (pydantic's, as in ReportV1.model_validate_json): what the
        # API accepts, the worker accepts too. orjson turned integers beyond 64 bits into
        # floats silently and allowed five times the worker's nesting depth.
        payload = from_json(body, allow_inf_nan=False)
    except ValueError as error:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as utf_error:
            raise ServiceError(f"body is not UTF-8: {utf_error.reason}", 422) from None
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


@router.post(
    "/v1/reports/files",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=FileIngestResponse,
    openapi_extra=_FILE_BODY,
    responses={**UNAUTHENTICATED, 403: {}, 413: {}, 415: {}, 422: {}, 503: {}},
)
async def submit_file(
    request: Request,
    principal: PrincipalDep,
    publisher: PublisherDep,
    settings: SettingsDep,
    institution_id: InstitutionQuery = None,
    jurisdiction: JurisdictionQuery = None,
    perspective: PerspectiveQuery = "debtor",
) -> Any:
    """Accepts one large file (XML or CSV, as for POST /v1/reports), streamed to a temporary
    file and converted incrementally: all its reports are published, or none."""
    kind = media_format(request.headers.get("content-type"))
    if kind == "json":
        raise ServiceError("send application/xml or text/csv (JSON: POST /v1/reports)", 415)
    context = _context(request, principal, settings, institution_id, jurisdiction, perspective)
    limit = settings.ingest_max_file_bytes
    with tempfile.TemporaryFile(
        dir=settings.data_dir if settings.data_dir.is_dir() else None
    ) as spooled:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ServiceError(f"file exceeds {limit} bytes", 413)
            await run_in_threadpool(spooled.write, chunk)
        await run_in_threadpool(spooled.seek, 0)
        done = await run_in_threadpool(
            intake.ingest_file,
            spooled,
            kind,
            principal=principal,
            context=context,
            publisher=publisher,
            listed=settings.ingest_max_items,
        )
    return {"format": done.format, "reports": done.reports, "accepted": done.accepted}


@router.get(
    "/v1/reports/{institution_id}/{report_id}",
    response_model=ReportRead | ReporterReportRead,
    responses={**UNAUTHENTICATED, 403: {}, 404: {}},
)
def read_report(
    institution_id: str, report_id: str, session: SessionDep, principal: PrincipalDep
) -> ReportRead | ReporterReportRead:
    """Returns a stored report: its processing status, and for the investigative roles its
    score and reasons (a reporter never reads what the unit made of its report)."""
    report = report_service.get_report(
        session, principal=principal, institution_id=institution_id, report_id=report_id
    )
    if principal.role is Role.REPORTER:
        return ReporterReportRead.model_validate(report)
    return ReportRead.from_orm_report(report)


@router.get("/v1/schema/report")
def report_schema() -> dict[str, Any]:
    """Returns the JSON Schema of wire format v1."""
    return json_schema()
