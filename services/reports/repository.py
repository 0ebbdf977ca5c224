"""Every query on stored reports. Never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import psycopg
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
# The columns of an identifier link handed to ``link_identifiers``, in order.
LINK_COLUMNS: tuple[str, ...] = ("digest", "id_type", "country", "subject_key")
_CHUNK = 500


def pg_text_array(values: Iterable[str | None]) -> str:
    """A PostgreSQL array literal of strings (``CAST(:p AS varchar[])``); None is NULL.

    Thousands of keys go to PostgreSQL as one parameter; psycopg's list adapter builds it
    element by element in Python, this is one join.
    """
    return (
        "{"
        + ",".join(
            "NULL" if value is None else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for value in values
        )
        + "}"
    )


class ReportRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"

    def insert_new(
        self, rows: Sequence[tuple[Any, ...]], *, expect_new: bool = False
    ) -> set[ReportKey]:
        """Inserts rows (``REPORT_COLUMNS`` order) whose (institution_id, report_id) is new.

        ``document`` and ``reasons`` come as JSON text. Returns the keys inserted; rows whose
        key exists are left out, never written over. ``expect_new``: the caller checked the
        keys just before (PostgreSQL then copies straight into the table, and falls back to
        the conflict-ignoring path if a key appeared meanwhile).
        """
        if not rows:
            return set()
        if self._postgres:
            return self._copy_new(rows, expect_new=expect_new)
        statement = insert_ignoring_conflicts(self.session, Report).returning(
            Report.institution_id, Report.report_id
        )
        values = []
        for row in rows:
            value = dict(zip(REPORT_COLUMNS, row, strict=True))
            value["document"] = orjson.loads(value["document"])
            if value["reasons"] is not None:
                value["reasons"] = orjson.loads(value["reasons"])
            values.append(value)
        result = self.session.execute(statement, values)
        return {(institution, report) for institution, report in result.all()}

    def _copy_new(self, rows: Sequence[tuple[Any, ...]], *, expect_new: bool) -> set[ReportKey]:
        """PostgreSQL: COPY, then (unless every key is new) one INSERT … ON CONFLICT.

        A multi-row INSERT of thousands of rows spends most of its time in client-side
        query conversion; COPY streams the rows instead. When the keys were just checked
        (``expect_new``), the rows go straight into ``reports`` inside a savepoint: no staging
        table and no second pass over the rows. A key that appeared since (another worker,
        after a rebalance) makes that COPY fail; the savepoint is rolled back and the rows
        take the conflict-ignoring path through the staging table.
        """
        column_list = ", ".join(REPORT_COLUMNS)
        connection = self.session.connection().connection.driver_connection
        assert connection is not None
        with connection.cursor() as cursor:
            if expect_new:
                cursor.execute("SAVEPOINT copy_reports")
                try:
                    with cursor.copy(f"COPY reports ({column_list}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                except psycopg.errors.UniqueViolation:
                    cursor.execute("ROLLBACK TO SAVEPOINT copy_reports")
                else:
                    cursor.execute("RELEASE SAVEPOINT copy_reports")
                    return {(row[0], row[1]) for row in rows}
            create = (
                "CREATE TEMP TABLE IF NOT EXISTS incoming_reports ON COMMIT DELETE ROWS AS"
                f" SELECT {column_list} FROM reports WITH NO DATA"
            )
            cursor.execute(create)
            cursor.execute("TRUNCATE incoming_reports")
            with cursor.copy(f"COPY incoming_reports ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
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
                "institutions": pg_text_array([key[0] for key in keys]),
                "reports": pg_text_array([key[1] for key in keys]),
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
                    "digests": pg_text_array([row[0] for row in rows]),
                    "types": pg_text_array([row[1] for row in rows]),
                    "countries": pg_text_array([row[2] for row in rows]),
                    "keys": pg_text_array([row[3] for row in rows]),
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

    def latest_subject_document(self, subject_key: str) -> dict[str, Any] | None:
        """Returns the subject document of the subject's latest filed report."""
        statement = (
            select(Report.document)
            .where(Report.subject_key == subject_key)
            .order_by(Report.filed_at.desc(), Report.id.desc())
            .limit(1)
        )
        document = self.session.scalar(statement)
        if isinstance(document, dict) and isinstance(document.get("subject"), dict):
            subject: dict[str, Any] = document["subject"]
            return subject
        return None

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
