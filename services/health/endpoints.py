from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from services.health.schemas import NotReady, Ready
from services.kit.logs import describe_error

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Answers while the process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": NotReady, "description": "the database is unreachable"}},
)
def readyz(request: Request) -> Ready | JSONResponse:
    """Answers 200 when the database is reachable, 503 otherwise."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means not ready
        # Unauthenticated callers learn that the database is unreachable, never why: the
        # driver's text names hosts, users and databases. The log has the kind of error.
        log.warning("not ready: database unreachable: %s", describe_error(error))
        return JSONResponse(NotReady().model_dump(), 503)
    return Ready()
