"""Every query on stored reports. Never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import func, select, text, tuple_
from sqlalchemy.orm import Session

from services.kit.sql import insert_ignoring_conflicts
from services.reports.orm import Report, SubjectIdentifier

ReportKey = tuple[str, str]

# The columns of a row handed to ``insert_new``, in order.
REPORT_COLUMNS: tuple[str, ...] = (
    "institution_id",
    "report_id",
    "report_type",
    "jurisdiction",
    "filed_at",
    "subject_key",
    "subject_id",
    "transaction_id",
    "txn_at",
    "amount_minor",
    "currency",
    "instrument",
    "direction",
    "account_id",
    "counterparty_account_id",
    "counterparty_country",
    "document",
    "content_sha256",
    "status",
    "received_at",
    "source_topic",
    "source_partition",
    "source_offset",
    "score",
    "reasons",
    "processed_at",
)
_JSON_POSITIONS = tuple(
    index for index, name in enumerate(REPORT_COLUMNS) if name in {"document", "reasons"}
)
# The columns of an identifier link handed to ``link_identifiers``, in order.
LINK_COLUMNS: tuple[str, ...] = ("digest", "id_type", "country", "subject_key")
_CHUNK = 500


class ReportRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"

    def insert_new(self, rows: Sequence[tuple[Any, ...]]) -> set[ReportKey]:
        """Inserts rows (``REPORT_COLUMNS`` order) whose (institution_id, report_id) is new.

        Returns the keys inserted; rows whose key exists are left out, never written over.
        """
        if not rows:
            return set()
        if self._postgres:
            return self._copy_new(rows)
        statement = insert_ignoring_conflicts(self.session, Report).returning(
            Report.institution_id, Report.report_id
        )
        result = self.session.execute(
            statement, [dict(zip(REPORT_COLUMNS, row, strict=True)) for row in rows]
        )
        return {(institution, report) for institution, report in result.all()}

    def _copy_new(self, rows: Sequence[tuple[Any, ...]]) -> set[ReportKey]:
        """PostgreSQL: COPY into a session temp table, then one INSERT … ON CONFLICT.

        A multi-row INSERT of thousands of rows spends most of its time in client-side
        query conversion; COPY streams the rows instead.
        """
        column_list = ", ".join(REPORT_COLUMNS)
        connection = self.session.connection().connection.driver_connection
        assert connection is not None
        dumps = orjson.dumps
        with connection.cursor() as cursor:
            create = (
                "CREATE TEMP TABLE IF NOT EXISTS incoming_reports ON COMMIT DELETE ROWS AS"
                f" SELECT {column_list} FROM reports WITH NO DATA"
            )
            cursor.execute(create)
            cursor.execute("TRUNCATE incoming_reports")
            with cursor.copy(f"COPY incoming_reports ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    values = list(row)
                    for index in _JSON_POSITIONS:
                        if values[index] is not None:
                            values[index] = dumps(values[index]).decode()
                    copy.write_row(values)
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
        if not keys:
            return found
        if self._postgres:
            # One statement: the keys as two arrays, probed through the unique index.
            probe = text(
                "SELECT r.institution_id, r.report_id, r.content_sha256 FROM reports AS r"
                " JOIN unnest(CAST(:institutions AS varchar[]), CAST(:reports AS varchar[]))"
                " AS k(institution_id, report_id)"
                " ON r.institution_id = k.institution_id AND r.report_id = k.report_id"
            )
            parameters = {
                "institutions": [key[0] for key in keys],
                "reports": [key[1] for key in keys],
            }
            for institution, report, sha in self.session.execute(probe, parameters):
                found[(institution, report)] = sha
            return found
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            statement = select(
                Report.institution_id, Report.report_id, Report.content_sha256
            ).where(tuple_(Report.institution_id, Report.report_id).in_(chunk))
            for institution, report, sha in self.session.execute(statement):
                found[(institution, report)] = sha
        return found

    def link_identifiers(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Records identifier digests seen for subject keys (``LINK_COLUMNS``; idempotent)."""
        if not rows:
            return
        if self._postgres:
            self.session.execute(
                text(
                    "INSERT INTO subject_identifiers (digest, id_type, country, subject_key)"
                    " SELECT * FROM unnest(CAST(:digests AS varchar[]),"
                    " CAST(:types AS varchar[]), CAST(:countries AS varchar[]),"
                    " CAST(:keys AS varchar[]))"
                    " ON CONFLICT (digest, subject_key) DO NOTHING"
                ),
                {
                    "digests": [row[0] for row in rows],
                    "types": [row[1] for row in rows],
                    "countries": [row[2] for row in rows],
                    "keys": [row[3] for row in rows],
                },
            )
            return
        self.session.execute(
            insert_ignoring_conflicts(self.session, SubjectIdentifier),
            [dict(zip(LINK_COLUMNS, row, strict=True)) for row in rows],
        )

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
