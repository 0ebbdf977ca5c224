"""Every console-session query. Never commits: the request owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from services.alerts.orm import Alert
from services.auth.orm import ApiToken
from services.console.orm import ConsoleKey, ConsoleSession
from services.kit.sql import insert_ignoring_conflicts
from services.reports.orm import Report

KEY_ID = 1


class SessionRow(NamedTuple):
    """A console session with what its token says about the user."""

    id: int
    token_id: int
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    role: str
    institution_id: str | None
    token_revoked_at: datetime | None
    token_expires_at: datetime | None


class ConsoleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def key(self, candidate: str, now: datetime) -> str:
        """Returns the signing key, storing ``candidate`` if there is none yet.

        Concurrent first requests of several processes insert the same row id: one wins, and
        every one of them reads the winner back.
        """
        stored = self.session.scalar(select(ConsoleKey.secret).where(ConsoleKey.id == KEY_ID))
        if stored is not None:
            return stored
        self.session.execute(
            insert_ignoring_conflicts(self.session, ConsoleKey),
            [{"id": KEY_ID, "secret": candidate, "created_at": now}],
        )
        stored = self.session.scalar(select(ConsoleKey.secret).where(ConsoleKey.id == KEY_ID))
        if stored is None:  # pragma: no cover - the insert or a concurrent one stored it
            raise RuntimeError("the console key could not be stored")
        return stored

    def add(self, row: ConsoleSession) -> ConsoleSession:
        self.session.add(row)
        self.session.flush()
        return row

    def find(self, sid_sha256: str) -> SessionRow | None:
        statement = (
            select(
                ConsoleSession.id,
                ConsoleSession.token_id,
                ConsoleSession.last_seen_at,
                ConsoleSession.expires_at,
                ConsoleSession.ended_at,
                ApiToken.role,
                ApiToken.institution_id,
                ApiToken.revoked_at,
                ApiToken.expires_at,
            )
            .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
            .where(ConsoleSession.sid_sha256 == sid_sha256)
        )
        row = self.session.execute(statement).first()
        return SessionRow(*row) if row is not None else None

    def touch(self, session_id: int, now: datetime) -> None:
        self.session.execute(
            update(ConsoleSession).where(ConsoleSession.id == session_id).values(last_seen_at=now)
        )

    def end(self, session_id: int, now: datetime) -> None:
        self.session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id == session_id, ConsoleSession.ended_at.is_(None))
            .values(ended_at=now)
        )


class WindowRow(NamedTuple):
    txn_at: datetime
    amount_minor: int | None
    currency: str | None
    instrument: str | None
    counterparty_country: str | None
    jurisdiction: str


class PeerTotals(NamedTuple):
    subject_key: str
    reports: int
    amount_minor: int
    cash_minor: int
    cross_border_minor: int


# Columns whose distinct values the queue's filter lists offer; each leads an alerts index.
DISTINCT_COLUMNS: dict[str, Any] = {
    "typology": Alert.typology,
    "institution_id": Alert.institution_id,
    "jurisdiction": Alert.jurisdiction,
    "assignee": Alert.assignee,
}


class QueueRepository:
    """Queries behind the console's pages that the domain repositories do not have."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def distinct_values(self, column: str, limit: int = 200) -> list[str]:
        """The distinct non-null values of an indexed alerts column, in order.

        A loose index scan (one index probe per value, as a recursive CTE that SQLite and
        PostgreSQL both run): ``SELECT DISTINCT`` would read the whole index, a million
        entries at 1M alerts, for the dozen institutions or typologies there are.
        """
        target = DISTINCT_COLUMNS[column]
        seed = select(func.min(target).label("value")).scalar_subquery()
        values = select(seed.label("value")).cte("distinct_values", recursive=True)
        following = (
            select(func.min(target))
            .where(target > values.c.value)
            .scalar_subquery()
            .correlate(values)
        )
        values = values.union_all(
            select(following.label("value")).select_from(values).where(values.c.value.is_not(None))
        )
        statement = select(values.c.value).where(values.c.value.is_not(None)).limit(limit)
        return [str(value) for value in self.session.scalars(statement)]

    def subject_window(
        self, subject_key: str, start: datetime, end: datetime, limit: int = 5000
    ) -> list[WindowRow]:
        """The subject's transactions in ``(start, end]``, newest first (subject-time index)."""
        statement = (
            select(
                Report.txn_at,
                Report.amount_minor,
                Report.currency,
                Report.instrument,
                Report.counterparty_country,
                Report.jurisdiction,
            )
            .where(
                Report.subject_key == subject_key,
                Report.txn_at > start,
                Report.txn_at <= end,
            )
            .order_by(Report.txn_at.desc())
            .limit(limit)
        )
        return [
            WindowRow(txn_at, amount, currency, instrument, country, jurisdiction)
            for txn_at, amount, currency, instrument, country, jurisdiction in self.session.execute(
                statement
            )
            if txn_at is not None
        ]

    def peer_subjects(
        self,
        institution_id: str,
        exclude: str,
        start: datetime,
        end: datetime,
        *,
        sample_rows: int = 2000,
        limit: int = 200,
    ) -> list[str]:
        """Up to ``limit`` other subjects the institution reported in ``(start, end]``.

        Read from at most ``sample_rows`` matching reports, so the cost is bounded whatever
        the institution's size: a sample of its active subjects, not all of them.
        """
        sample = (
            select(Report.subject_key)
            .where(
                Report.institution_id == institution_id,
                Report.txn_at > start,
                Report.txn_at <= end,
                Report.subject_key != exclude,
            )
            .limit(sample_rows)
            .subquery()
        )
        statement = select(sample.c.subject_key).distinct().limit(limit)
        return [str(key) for key in self.session.scalars(statement)]

    def peer_totals(
        self, subject_keys: list[str], start: datetime, end: datetime, currency: str | None
    ) -> list[PeerTotals]:
        """Per subject: reports, amount, cash amount and cross-border amount in the window."""
        if not subject_keys:
            return []
        in_currency = Report.currency == currency if currency else Report.currency.is_(None)
        amount = case((in_currency, func.coalesce(Report.amount_minor, 0)), else_=0)
        cash = case((and_(in_currency, Report.instrument == "cash"), Report.amount_minor), else_=0)
        cross_border = case(
            (
                and_(
                    in_currency,
                    Report.counterparty_country.is_not(None),
                    Report.counterparty_country != Report.jurisdiction,
                ),
                Report.amount_minor,
            ),
            else_=0,
        )
        statement = (
            select(
                Report.subject_key,
                func.count(),
                func.sum(amount),
                func.sum(cash),
                func.sum(cross_border),
            )
            .where(
                Report.subject_key.in_(subject_keys),
                Report.txn_at > start,
                Report.txn_at <= end,
            )
            .group_by(Report.subject_key)
        )
        return [
            PeerTotals(str(key), int(n), int(total or 0), int(cash_total or 0), int(xb or 0))
            for key, n, total, cash_total, xb in self.session.execute(statement)
        ]
