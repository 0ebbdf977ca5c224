from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    database: Literal["ok"] = "ok"


class NotReady(BaseModel):
    """Says that the database is unreachable, never why (the driver's text names hosts)."""

    status: Literal["unavailable"] = "unavailable"
    database: Literal["unreachable"] = "unreachable"
