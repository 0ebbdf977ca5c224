"""Opaque keyset cursors: ``(sort name, last sort value, last id)``, never an OFFSET.

A cursor is only valid with the sort order it was issued for; anything else is a 422.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from services.errors import ServiceError


class BadCursor(ServiceError):
    def __init__(self, message: str = "invalid cursor") -> None:
        super().__init__(message, 422)


@dataclass(frozen=True, slots=True)
class Cursor:
    sort: str
    value: Any
    id: int


def encode(sort: str, value: Any, row_id: int) -> str:
    """Returns the cursor that resumes after the row ``(value, row_id)`` of order ``sort``."""
    if isinstance(value, datetime):
        payload: Any = {"s": sort, "t": value.isoformat(), "i": row_id}
    else:
        payload = {"s": sort, "v": value, "i": row_id}
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def decode(token: str, sort: str) -> Cursor:
    """Parses a cursor issued for ``sort``.

    Raises:
        BadCursor: not a cursor of ours, or issued for another sort order.
    """
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadCursor() from None
    if not isinstance(payload, dict) or not isinstance(payload.get("i"), int):
        raise BadCursor()
    if payload.get("s") != sort:
        raise BadCursor("the cursor was issued for another sort order")
    if "t" in payload:
        try:
            value: Any = datetime.fromisoformat(str(payload["t"]))
        except ValueError:
            raise BadCursor() from None
        if value.tzinfo is None:
            raise BadCursor()
    else:
        value = payload.get("v")
        if value is not None and not isinstance(value, int | float | str):
            raise BadCursor()
    return Cursor(sort=sort, value=value, id=payload["i"])
