from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Answers while the process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Any:
    """Answers 200 when the database is reachable, 503 otherwise."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means not ready
        return JSONResponse({"status": "unavailable", "database": str(error)[:200]}, 503)
    return {"status": "ready", "database": "ok"}
