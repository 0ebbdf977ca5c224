"""Bounds of the ids clients send: a database id is a positive signed 64-bit integer.

An id beyond 64 bits cannot name a row; SQLite's driver refuses to bind it ("Python int too
large to convert to SQLite INTEGER") and that surfaced as a 500. Bounded here, it is a 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

MAX_DB_ID = 2**63 - 1

PathId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
QueryId = Annotated[int, Query(ge=1, le=MAX_DB_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
