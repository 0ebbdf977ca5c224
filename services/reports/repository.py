"""Every query on stored reports. Never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from services.kit.sql import insert_ignoring_conflicts
from services.reports.orm import Report, SubjectIdentifier

ReportKey = tuple[str, str]
_JSON_COLUMNS = frozenset({"document", "reasons"})


class ReportRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[ReportKey]:
        """Inserts rows whose (institution_id, report_id) is new; returns the keys inserted."""
        if not rows:
            return set()
        if self.session.get_bind().dialect.name == "postgresql":
            return self._copy_new(rows)
        statement = insert_ignoring_conflicts(self.session, Report).returning(
            Report.institution_id, Report.report_id
        )
        result = self.session.execute(statement, list(rows))
        return {(institution, report) for institution, report in result.all()}

    def _copy_new(self, rows: Sequence[dict[str, Any]]) -> set[ReportKey]:
        """PostgreSQL: COPY into a session temp table, then one INSERT … ON CONFLICT.

        A multi-row INSERT of thousands of rows spends most of its time in client-side
        query conversion; COPY streams the rows instead.
        """
        # Column names come from our own row builder, never from input: safe to interpolate.
        columns = list(rows[0])
        column_list = ", ".join(columns)
        connection = self.session.connection().connection.driver_connection
        assert connection is not None
        with connection.cursor() as cursor:
            create = (
                "CREATE TEMP TABLE IF NOT EXISTS incoming_reports ON COMMIT DELETE ROWS AS"
                f" SELECT {column_list} FROM reports WITH NO DATA"
            )
            cursor.execute(create)
            cursor.execute("TRUNCATE incoming_reports")
            with cursor.copy(f"COPY incoming_reports ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        [
                            orjson.dumps(value).decode() if name in _JSON_COLUMNS else value
                            for name, value in row.items()
                        ]
                    )
            cursor.execute(
                f"INSERT INTO reports ({column_list}) SELECT {column_list} FROM incoming_reports"
                " ON CONFLICT (institution_id, report_id) DO NOTHING"
                " RETURNING institution_id, report_id"
            )
            return {(institution, report) for institution, report in cursor.fetchall()}

    def content_hashes(self, keys: Iterable[ReportKey]) -> dict[ReportKey, str]:
        """Returns the stored content hash of each of these keys that exists."""
        keys = list(keys)
        found: dict[ReportKey, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            statement = select(
                Report.institution_id, Report.report_id, Report.content_sha256
            ).where(tuple_(Report.institution_id, Report.report_id).in_(chunk))
            for institution, report, sha in self.session.execute(statement):
                found[(institution, report)] = sha
        return found

    def link_identifiers(self, rows: Sequence[dict[str, Any]]) -> None:
        """Records identifier digests seen for subject keys (idempotent)."""
        if rows:
            self.session.execute(insert_ignoring_conflicts(self.session, SubjectIdentifier), rows)

    def get(self, institution_id: str, report_id: str) -> Report | None:
        return self.session.scalar(
            select(Report).where(
                Report.institution_id == institution_id, Report.report_id == report_id
            )
        )

    def for_subjects(self, subject_keys: Sequence[str], limit: int) -> Sequence[Report]:
        statement = (
            select(Report)
            .where(Report.subject_key.in_(subject_keys))
            .order_by(Report.filed_at.desc(), Report.id.desc())
            .limit(limit)
        )
        return self.session.scalars(statement).all()

    def count_for_subjects(self, subject_keys: Sequence[str]) -> int:
        statement = select(func.count()).where(Report.subject_key.in_(subject_keys))
        return int(self.session.scalar(statement) or 0)

    def identifiers_of(self, subject_key: str) -> Sequence[SubjectIdentifier]:
        statement = select(SubjectIdentifier).where(SubjectIdentifier.subject_key == subject_key)
        return self.session.scalars(statement).all()

    def subject_keys_sharing(self, digests: Sequence[str]) -> set[str]:
        """Returns every subject key reported with any of these identifier digests."""
        if not digests:
            return set()
        statement = select(SubjectIdentifier.subject_key).where(
            SubjectIdentifier.digest.in_(digests)
        )
        return set(self.session.scalars(statement).all())
