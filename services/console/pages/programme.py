"""The programme results report as a page with charts, and its CSV and JSON downloads."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.console.web import ConsoleRoute, UserDep, render
from services.deps import SessionDep
from services.kit.time import utc_now
from services.programme import service as programme_service

router = APIRouter(route_class=ConsoleRoute)

DEFAULT_DAYS = 30


def _period(date_from: date | None, date_to: date | None) -> programme_service.Period:
    last = date_to or utc_now().date()
    first = date_from or last - timedelta(days=DEFAULT_DAYS - 1)
    return programme_service.Period.of(first, last)


@router.get("/programme")
def programme_page(
    request: Request,
    session: SessionDep,
    user: UserDep,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """What the programme achieved in a period, per country (memorandum section 13)."""
    period = _period(date_from, date_to)
    report = programme_service.programme_report(session, principal=user.principal, period=period)
    return render(
        request,
        "programme.html",
        {"section": "programme", "report": report, "period": period},
        user=user,
    )


@router.get("/programme.{fmt}")
def programme_download(
    session: SessionDep,
    user: UserDep,
    fmt: str,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """The same report as ``GET /v1/programme-report``, as a CSV or JSON file."""
    period = _period(date_from, date_to)
    report = programme_service.programme_report(session, principal=user.principal, period=period)
    name = f"programme-{period.first:%Y%m%d}-{period.last:%Y%m%d}"
    if fmt == "csv":
        content, media_type = programme_service.to_csv(report), "text/csv"
    elif fmt == "json":
        content, media_type = report.model_dump_json(indent=2), "application/json"
    else:
        return Response("csv or json", status_code=404, media_type="text/plain")
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )
