"""Reads of the report store for online detection (``models.state.HistoryStore``).

The worker's features need each subject's recent reports (its window state is rebuilt from
the store after a restart or a rebalance) and the counterparty edges of the accounts in a
batch, counted over every worker's reports. Every query on ``reports`` lives in this package.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import String, and_, cast, func, literal, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from models.features import EDGE_ROW_SCHEMA
from services.reports import peers as peer_repository
from services.reports.orm import Report
from services.reports.repository import pg_text_array

_IN_CHUNK = 5_000


def _epoch(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() // 1)


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class ReportHistory:
    """``models.state.HistoryStore`` over the reports table: what online features read.

    Never commits: it reads inside the worker's batch transaction.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"

    def _member(self, column: Any, values: Sequence[str]) -> list[ColumnElement[bool]]:
        """``column IN values`` as one or more conditions (PostgreSQL: one array parameter)."""
        if self._postgres:
            # A semi-join on the unnested keys: ``= ANY(CAST(:text AS varchar[]))`` is not
            # hashed by the planner and costs rows × keys on a sequential scan (seconds on a
            # young table whose statistics still say it is small).
            array = cast(literal(pg_text_array(values), String()), ARRAY(String()))
            return [column.in_(select(func.unnest(array)))]
        return [
            column.in_(values[start : start + _IN_CHUNK])
            for start in range(0, len(values), _IN_CHUNK)
        ]

    def coverage_start(self) -> int | None:
        moment = self.session.scalar(
            select(func.coalesce(Report.txn_at, Report.filed_at)).order_by(Report.id).limit(1)
        )
        return _epoch(moment)

    def history(
        self, subject_keys: Sequence[str], since: int, exclude: Collection[tuple[str, str]]
    ) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
        if not subject_keys:
            return [], [], {}
        since_at = _moment(since)
        recent = or_(
            Report.txn_at > since_at, and_(Report.txn_at.is_(None), Report.filed_at > since_at)
        )
        rows: list[Any] = []
        for condition in self._member(Report.subject_key, list(subject_keys)):
            statement = select(
                Report.id,
                Report.subject_key,
                Report.institution_id,
                Report.report_id,
                Report.document,
                func.coalesce(Report.txn_at, Report.filed_at),
            ).where(condition, recent)
            rows.extend(self.session.execute(statement).all())
        excluded = set(exclude)
        kept = [row for row in rows if (row[2], row[3]) not in excluded]
        kept.sort(key=lambda row: (_epoch(row[5]) or 0, row[0]))
        return (
            [row[4] for row in kept],
            [row[1] for row in kept],
            self._prior(list(subject_keys), since_at),
        )

    def _prior(self, keys: list[str], since_at: datetime) -> dict[str, int]:
        """Time of each subject's latest report at or before ``since_at``."""
        latest: dict[str, int] = {}

        def keep(key: str, moment: datetime | None) -> None:
            seconds = _epoch(moment)
            if seconds is not None and seconds > latest.get(key, -(2**62)):
                latest[key] = seconds

        if self._postgres:
            # One backward index probe per subject on (subject_key, txn_at).
            probe = text(
                "SELECT k.key, (SELECT max(r.txn_at) FROM reports r"
                " WHERE r.subject_key = k.key AND r.txn_at <= :since)"
                " FROM unnest(CAST(:keys AS varchar[])) AS k(key)"
            )
            parameters = {"keys": pg_text_array(keys), "since": since_at}
            for key, moment in self.session.execute(probe, parameters):
                keep(key, moment)
        else:
            for condition in self._member(Report.subject_key, keys):
                statement = (
                    select(Report.subject_key, func.max(Report.txn_at))
                    .where(condition, Report.txn_at <= since_at)
                    .group_by(Report.subject_key)
                )
                for key, moment in self.session.execute(statement):
                    keep(key, moment)
        for condition in self._member(Report.subject_key, keys):
            statement = (
                select(Report.subject_key, func.max(Report.filed_at))
                .where(condition, Report.txn_at.is_(None), Report.filed_at <= since_at)
                .group_by(Report.subject_key)
            )
            for key, moment in self.session.execute(statement):
                keep(key, moment)
        return latest

    def edge_rows(self, accounts: Sequence[str], since: int, until: int) -> pl.DataFrame:
        columns: dict[str, list[Any]] = {name: [] for name in EDGE_ROW_SCHEMA}
        if accounts:
            if self._postgres:
                return self._edge_rows_postgres(accounts, since, until)
            window = and_(Report.txn_at > _moment(since), Report.txn_at <= _moment(until))
            seen: set[int] = set()
            wanted = list(accounts)
            conditions = [
                *self._member(Report.account_id, wanted),
                *self._member(Report.counterparty_account_id, wanted),
            ]
            for condition in conditions:
                statement = select(
                    Report.id,
                    Report.institution_id,
                    Report.report_id,
                    Report.account_id,
                    Report.counterparty_account_id,
                    Report.direction,
                    Report.txn_at,
                ).where(condition, window)
                for (
                    pk,
                    institution,
                    report,
                    account,
                    counterparty,
                    direction,
                    moment,
                ) in self.session.execute(statement):
                    if pk in seen:
                        continue
                    seen.add(pk)
                    columns["institution_id"].append(institution)
                    columns["report_id"].append(report)
                    columns["account_id"].append(account)
                    columns["cp_account_id"].append(counterparty)
                    columns["direction"].append(direction)
                    columns["t"].append(_epoch(moment))
        return pl.DataFrame(columns, schema=EDGE_ROW_SCHEMA)

    def peer_counts(self, first_day: int, last_day: int) -> pl.DataFrame:
        return peer_repository.counts_between(self.session, first_day, last_day)

    def _edge_rows_postgres(self, accounts: Sequence[str], since: int, until: int) -> pl.DataFrame:
        """One statement: both sides of the payments, each through its index; times as
        epoch seconds (no datetime per row).

        Read through the driver's cursor on purpose, for speed: plain tuples go straight into
        the frame, where SQLAlchemy's result rows cost more than the query itself (this runs
        on every batch of the worker). The statement is static text and
        every value a bound parameter.
        """
        side = (
            "SELECT r.institution_id, r.report_id, r.account_id, r.counterparty_account_id,"
            " r.direction, floor(extract(epoch FROM r.txn_at))::bigint FROM reports AS r"
            " JOIN wanted AS w ON r.{column} = w.account"
            " WHERE r.txn_at > %(since)s AND r.txn_at <= %(until)s"
        )
        statement = (
            "WITH wanted AS (SELECT unnest(CAST(%(accounts)s AS varchar[])) AS account) "
            + side.format(column="account_id")
            + " UNION "
            + side.format(column="counterparty_account_id")
        )
        connection = self.session.connection().connection.driver_connection
        assert connection is not None
        with connection.cursor() as cursor:
            cursor.execute(
                statement,
                {
                    "accounts": pg_text_array(accounts),
                    "since": _moment(since),
                    "until": _moment(until),
                },
            )
            rows = cursor.fetchall()
        return pl.DataFrame(rows, schema=EDGE_ROW_SCHEMA, orient="row")
