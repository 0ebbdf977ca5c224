"""Time helpers: every datetime in the system is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Returns the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Converts an aware datetime to UTC; refuses naive ones."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must carry a timezone")
    return value.astimezone(UTC)
