"""Watchlist matches as the alert and subject pages show them (no import of the services
that raise alerts, so those services can show matches too)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from services.watchlists.repository import WatchlistRepository
from services.watchlists.schemas import SubjectMatchRead


def subject_matches(session: Session, subject_keys: Sequence[str]) -> list[SubjectMatchRead]:
    """The subjects' watchlist matches, best first, each with its dismissal if any."""
    return [
        SubjectMatchRead.of(match, watchlist, dismissal)
        for match, watchlist, dismissal in WatchlistRepository(session).matches_for_subjects(
            subject_keys
        )
    ]
