"""Every watchlist query. Never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from services.alerts.enums import OPEN_STATUSES
from services.alerts.orm import Alert
from services.kit.sql import insert_ignoring_conflicts
from services.reports.orm import Report
from services.watchlists.orm import (
    Watchlist,
    WatchlistDismissal,
    WatchlistEntry,
    WatchlistMatch,
    WatchlistRescreen,
    WatchlistVersion,
)

_IN_CHUNK = 500

MatchKey = tuple[str, int, str, str]  # subject_key, watchlist_id, entry_key, role
DismissalKey = tuple[str, int, str]  # subject_key, watchlist_id, entry_key


class WatchlistRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- lists and versions ------------------------------------------------------------
    def by_name(self, name: str) -> Watchlist | None:
        return self.session.scalar(select(Watchlist).where(Watchlist.name == name))

    def add(self, item: Any) -> None:
        self.session.add(item)
        self.session.flush()

    def all_lists(self) -> Sequence[Watchlist]:
        return self.session.scalars(select(Watchlist).order_by(Watchlist.name)).all()

    def versions_of(self, watchlist_ids: Sequence[int]) -> Sequence[WatchlistVersion]:
        if not watchlist_ids:
            return []
        statement = (
            select(WatchlistVersion)
            .where(WatchlistVersion.watchlist_id.in_(watchlist_ids))
            .order_by(WatchlistVersion.watchlist_id, WatchlistVersion.version.desc())
        )
        return self.session.scalars(statement).all()

    def current_versions(self) -> list[tuple[int, str, int]]:
        """(id, name, current version) of every loaded list: a cheap staleness probe."""
        statement = (
            select(Watchlist.id, Watchlist.name, Watchlist.current_version)
            .where(Watchlist.current_version.is_not(None))
            .order_by(Watchlist.id)
        )
        return [(row[0], row[1], row[2] or 0) for row in self.session.execute(statement)]

    def version(self, version_id: int) -> WatchlistVersion | None:
        return self.session.get(WatchlistVersion, version_id)

    # ---- entries -----------------------------------------------------------------------
    def current_entries(self, watchlist_id: int) -> Sequence[WatchlistEntry]:
        statement = (
            select(WatchlistEntry)
            .where(WatchlistEntry.watchlist_id == watchlist_id, WatchlistEntry.removed_in.is_(None))
            .order_by(WatchlistEntry.id)
        )
        return self.session.scalars(statement).all()

    def current_entry_rows(
        self, watchlist_ids: Sequence[int]
    ) -> list[tuple[int, int, dict[str, Any]]]:
        """(entry id, watchlist id, document) of every current entry of the lists."""
        if not watchlist_ids:
            return []
        statement = (
            select(WatchlistEntry.id, WatchlistEntry.watchlist_id, WatchlistEntry.document)
            .where(
                WatchlistEntry.watchlist_id.in_(watchlist_ids), WatchlistEntry.removed_in.is_(None)
            )
            .order_by(WatchlistEntry.id)
        )
        return [(row[0], row[1], row[2]) for row in self.session.execute(statement)]

    def insert_entries(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(WatchlistEntry), list(rows))

    def retire_entries(self, entry_ids: Sequence[int], version: int) -> None:
        for start in range(0, len(entry_ids), _IN_CHUNK):
            chunk = entry_ids[start : start + _IN_CHUNK]
            self.session.execute(
                update(WatchlistEntry)
                .where(WatchlistEntry.id.in_(chunk))
                .values(removed_in=version)
            )

    # ---- matches and dismissals ----------------------------------------------------------
    def dismissed(self, keys: Iterable[DismissalKey]) -> set[DismissalKey]:
        wanted = sorted(set(keys))
        found: set[DismissalKey] = set()
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            statement = select(
                WatchlistDismissal.subject_key,
                WatchlistDismissal.watchlist_id,
                WatchlistDismissal.entry_key,
            ).where(
                tuple_(
                    WatchlistDismissal.subject_key,
                    WatchlistDismissal.watchlist_id,
                    WatchlistDismissal.entry_key,
                ).in_(chunk)
            )
            found.update((row[0], row[1], row[2]) for row in self.session.execute(statement))
        return found

    def record_matches(self, rows: Sequence[dict[str, Any]], seen_at: datetime) -> None:
        """Inserts new (subject, list, entry, role) matches; refreshes the ones known."""
        if not rows:
            return
        # A listed subject's several reports in one batch: its latest row is written once.
        latest = {
            (row["subject_key"], row["watchlist_id"], row["entry_key"], row["role"]): row
            for row in rows
        }
        rows = list(latest.values())
        self.session.execute(
            insert_ignoring_conflicts(self.session, WatchlistMatch),
            [{**row, "first_seen_at": seen_at, "last_seen_at": seen_at} for row in rows],
        )
        for row in rows:
            self.session.execute(
                update(WatchlistMatch)
                .where(
                    WatchlistMatch.subject_key == row["subject_key"],
                    WatchlistMatch.watchlist_id == row["watchlist_id"],
                    WatchlistMatch.entry_key == row["entry_key"],
                    WatchlistMatch.role == row["role"],
                    WatchlistMatch.last_seen_at < seen_at,
                )
                .values(
                    entry_id=row["entry_id"],
                    score=row["score"],
                    strength=row["strength"],
                    matched=row["matched"],
                    party_name=row["party_name"],
                    institution_id=row["institution_id"],
                    report_id=row["report_id"],
                    last_seen_at=seen_at,
                )
            )

    def known_matches(self, keys: Iterable[MatchKey]) -> set[MatchKey]:
        wanted = sorted(set(keys))
        found: set[MatchKey] = set()
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            statement = select(
                WatchlistMatch.subject_key,
                WatchlistMatch.watchlist_id,
                WatchlistMatch.entry_key,
                WatchlistMatch.role,
            ).where(
                tuple_(
                    WatchlistMatch.subject_key,
                    WatchlistMatch.watchlist_id,
                    WatchlistMatch.entry_key,
                    WatchlistMatch.role,
                ).in_(chunk)
            )
            found.update(
                (row[0], row[1], row[2], row[3]) for row in self.session.execute(statement)
            )
        return found

    def match(self, match_id: int) -> WatchlistMatch | None:
        return self.session.get(WatchlistMatch, match_id)

    def matches_for_subjects(
        self, subject_keys: Sequence[str], limit: int = 100
    ) -> list[tuple[WatchlistMatch, str, WatchlistDismissal | None]]:
        """Matches of the subjects, each with its list's name and its dismissal if any."""
        if not subject_keys:
            return []
        statement = (
            select(WatchlistMatch, Watchlist.name, WatchlistDismissal)
            .join(Watchlist, Watchlist.id == WatchlistMatch.watchlist_id)
            .outerjoin(
                WatchlistDismissal,
                (WatchlistDismissal.subject_key == WatchlistMatch.subject_key)
                & (WatchlistDismissal.watchlist_id == WatchlistMatch.watchlist_id)
                & (WatchlistDismissal.entry_key == WatchlistMatch.entry_key),
            )
            .where(WatchlistMatch.subject_key.in_(subject_keys))
            .order_by(WatchlistMatch.score.desc(), WatchlistMatch.id)
            .limit(limit)
        )
        return [(row[0], row[1], row[2]) for row in self.session.execute(statement)]

    def add_dismissal(self, dismissal: WatchlistDismissal) -> bool:
        """Stores a dismissal; False when the pair was already dismissed."""
        values = {
            "subject_key": dismissal.subject_key,
            "watchlist_id": dismissal.watchlist_id,
            "entry_key": dismissal.entry_key,
            "reason": dismissal.reason,
            "dismissed_by": dismissal.dismissed_by,
            "dismissed_at": dismissal.dismissed_at,
        }
        # RETURNING says whether the row went in (a rowcount after ON CONFLICT DO NOTHING
        # is not reliable through the ORM on every driver).
        statement = (
            insert_ignoring_conflicts(self.session, WatchlistDismissal)
            .values(**values)
            .returning(WatchlistDismissal.id)
        )
        return self.session.execute(statement).first() is not None

    # ---- rescreens ---------------------------------------------------------------------
    def rescreens(self, limit: int = 20) -> Sequence[WatchlistRescreen]:
        statement = select(WatchlistRescreen).order_by(WatchlistRescreen.id.desc()).limit(limit)
        return self.session.scalars(statement).all()

    def next_rescreen(self) -> WatchlistRescreen | None:
        """The oldest job not finished (queued, or running and interrupted)."""
        statement = (
            select(WatchlistRescreen)
            .where(WatchlistRescreen.status.in_(("queued", "running")))
            .order_by(WatchlistRescreen.id)
            .limit(1)
        )
        return self.session.scalar(statement)

    def rescreen(self, job_id: int) -> WatchlistRescreen | None:
        return self.session.get(WatchlistRescreen, job_id)

    # ---- the report store, for rescreening ------------------------------------------------
    def report_count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(Report)) or 0)

    def reports_after(
        self, cursor: int, limit: int
    ) -> list[tuple[int, str, str, str, dict[str, Any]]]:
        """(id, institution_id, report_id, subject_key, document) in id order after ``cursor``."""
        statement = (
            select(
                Report.id,
                Report.institution_id,
                Report.report_id,
                Report.subject_key,
                Report.document,
            )
            .where(Report.id > cursor)
            .order_by(Report.id)
            .limit(limit)
        )
        return [(row[0], row[1], row[2], row[3], row[4]) for row in self.session.execute(statement)]

    def open_alert_of(self, subject_key: str) -> Alert | None:
        """The subject's most recent open alert (the one a new reason joins)."""
        statement = (
            select(Alert)
            .where(
                Alert.subject_key == subject_key, Alert.status.in_([s.value for s in OPEN_STATUSES])
            )
            .order_by(Alert.created_at.desc(), Alert.id.desc())
            .limit(1)
        )
        return self.session.scalar(statement)

    def latest_report_of(self, subject_key: str) -> Report | None:
        statement = (
            select(Report)
            .where(Report.subject_key == subject_key)
            .order_by(Report.filed_at.desc(), Report.id.desc())
            .limit(1)
        )
        return self.session.scalar(statement)
