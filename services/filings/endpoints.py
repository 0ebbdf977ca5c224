from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from services.auth.enums import Role
from services.deps import PrincipalDep, SessionDep
from services.errors import UNAUTHENTICATED, Forbidden
from services.filings import service as filing_service
from services.filings.profile import FilingProfile, ProfileInvalid, load_profile
from services.filings.readiness import profile_status
from services.filings.schemas import InvalidProfileStatus, ProfileStatus
from services.kit.ids import PathId

router = APIRouter(tags=["filings"], responses=UNAUTHENTICATED)


def get_filing_profile(request: Request) -> FilingProfile:
    """The profile set on the app (tests, embedding), else the file (AMLSCREEN_FILING_PROFILE)."""
    profile: FilingProfile | None = getattr(request.app.state, "filing_profile", None)
    if profile is not None:
        return profile
    return load_profile(request.app.state.settings.filing_profile_path)


ProfileDep = Annotated[FilingProfile, Depends(get_filing_profile)]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/xml": {"schema": {"type": "string"}}},
        "description": "the filing document",
    },
    403: {"description": "reporters never see filings"},
    404: {"description": "no such case, or nothing to report"},
    422: {"description": "mandatory data missing: every missing field is listed"},
    503: {"description": "the filing profile file is invalid: every problem is listed"},
}


def _xml(export: filing_service.Export) -> Response:
    return Response(
        export.content,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "X-Content-SHA256": export.sha256,
        },
    )


@router.get("/v1/cases/{case_id}/exports/fincen-sar", response_class=Response, responses=_RESPONSES)
def export_fincen_sar(
    case_id: PathId,
    session: SessionDep,
    principal: PrincipalDep,
    profile: ProfileDep,
    filing_date: date | None = None,
    prior_document_number: Annotated[int | None, Query(ge=1, lt=10**14)] = None,
    continuing: bool = False,
) -> Response:
    """Returns the case as a FinCEN SAR batch (BSA E-Filing XML, validated against the XSD)."""
    export = filing_service.export_fincen_sar(
        session,
        principal=principal,
        case_id=case_id,
        profile=profile,
        options=filing_service.SarOptions(
            filing_date=filing_date,
            prior_document_number=prior_document_number,
            continuing=continuing,
        ),
    )
    return _xml(export)


@router.get("/v1/cases/{case_id}/exports/goaml", response_class=Response, responses=_RESPONSES)
def export_goaml(
    case_id: PathId,
    session: SessionDep,
    principal: PrincipalDep,
    profile: ProfileDep,
    fiu: str | None = None,
    report_kind: Literal["STR", "CTR"] | None = None,
    institution_id: str | None = None,
) -> Response:
    """Returns the case as a goAML report (STR; CTR when all its reports are large-value)."""
    export = filing_service.export_goaml(
        session,
        principal=principal,
        case_id=case_id,
        profile=profile,
        fiu=fiu,
        report_kind=report_kind,
        institution_id=institution_id,
    )
    return _xml(export)


@router.get("/v1/reports/exports/fincen-ctr", response_class=Response, responses=_RESPONSES)
def export_fincen_ctr(
    session: SessionDep,
    principal: PrincipalDep,
    profile: ProfileDep,
    institution_id: str,
    date_from: Annotated[date, Query(alias="from")],
    date_to: Annotated[date, Query(alias="to")],
    filing_date: date | None = None,
) -> Response:
    """Returns an institution's CTRs of a period (inclusive dates) as a FinCEN CTR batch."""
    export = filing_service.export_fincen_ctr(
        session,
        principal=principal,
        institution_id=institution_id,
        date_from=date_from,
        date_to=date_to,
        profile=profile,
        filing_date=filing_date,
    )
    return _xml(export)


@router.get(
    "/v1/filing-profile/status",
    response_model=ProfileStatus | InvalidProfileStatus,
    responses={403: {"description": "administrators only"}},
)
def filing_profile_status(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    """Says, per institution, which exports the filing profile makes ready and what each
    still needs (administrators only: the profile names the filers)."""
    if principal.role is not Role.ADMIN:
        raise Forbidden("only administrators read the filing profile's status")
    settings = request.app.state.settings
    source = "app" if getattr(request.app.state, "filing_profile", None) else "file"
    try:
        profile = get_filing_profile(request)
    except ProfileInvalid as error:
        return {
            "path": str(settings.filing_profile_path),
            "valid": False,
            "problems": error.problems,
            "ready": False,
        }
    return {
        "path": str(settings.filing_profile_path) if source == "file" else None,
        "present": source == "app" or settings.filing_profile_path.is_file(),
        "valid": True,
        **profile_status(profile),
    }
