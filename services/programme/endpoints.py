from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from services.deps import PrincipalDep, SessionDep
from services.errors import UNAUTHENTICATED
from services.programme import service as programme_service
from services.programme.schemas import ProgrammeReport

router = APIRouter(tags=["programme"], responses=UNAUTHENTICATED)


def wants_csv(accept: str | None) -> bool:
    """True when the client asks for CSV (and does not prefer JSON)."""
    if not accept:
        return False
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return "text/csv" in kinds and kinds.index("text/csv") < (
        kinds.index("application/json") if "application/json" in kinds else len(kinds)
    )


@router.get(
    "/v1/programme-report",
    response_model=ProgrammeReport,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "JSON, or CSV with Accept: text/csv",
        },
        403: {"description": "reporters never see what the unit concluded"},
        422: {"description": "bad period"},
    },
)
def programme_report(
    session: SessionDep,
    principal: PrincipalDep,
    date_from: Annotated[date, Query(alias="from", description="first day (UTC)")],
    date_to: Annotated[date, Query(alias="to", description="last day (UTC), included")],
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The programme results report for a period, per country and in total."""
    report = programme_service.programme_report(
        session,
        principal=principal,
        period=programme_service.Period.of(date_from, date_to),
    )
    if wants_csv(accept):
        filename = f"programme-{date_from:%Y%m%d}-{date_to:%Y%m%d}.csv"
        return Response(
            programme_service.to_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return Response(report.model_dump_json(), media_type="application/json")
