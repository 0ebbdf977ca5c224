"""Every alert query. Never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Engine,
    Integer,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from services.alerts.enums import OPEN_STATUSES, TERMINAL_STATUSES, AlertStatus, Disposition
from services.alerts.orm import (
    Alert,
    AlertReport,
    AlertThreshold,
    HeldCandidate,
    Note,
    SubjectName,
)
from services.alerts.schemas import AlertFilter, AlertSort
from services.kit.cursor import Cursor
from services.kit.sql import insert_ignoring_conflicts
from services.kit.time import utc_now
from services.reports.orm import Report

AlertKey = tuple[str, str]


class WindowScores(NamedTuple):
    unalerted: list[float]
    subjects: int
    reports: int
    earliest: datetime | None


class StoredReport(NamedTuple):
    pk: int
    subject: Any
    txn_at: datetime | None


# The queue reads these columns only: no JSON documents on the hot path.
SUMMARY_COLUMNS = (
    Alert.id,
    Alert.institution_id,
    Alert.report_id,
    Alert.subject_key,
    Alert.jurisdiction,
    Alert.report_type,
    Alert.score,
    Alert.typology,
    Alert.status,
    Alert.disposition,
    Alert.assignee,
    Alert.case_id,
    Alert.created_at,
    Alert.updated_at,
    Alert.deadline_kind,
    Alert.deadline_at,
    Alert.version,
)

SORT_COLUMNS: dict[AlertSort, tuple[Any, bool]] = {
    AlertSort.CREATED_DESC: (Alert.created_at, True),
    AlertSort.CREATED_ASC: (Alert.created_at, False),
    AlertSort.SCORE_DESC: (Alert.score, True),
    AlertSort.SCORE_ASC: (Alert.score, False),
    AlertSort.DEADLINE_ASC: (Alert.deadline_at, False),
    AlertSort.DEADLINE_DESC: (Alert.deadline_at, True),
}

_LABELS = {
    Disposition.FALSE_POSITIVE.value: "false_positive",
    Disposition.EXPLAINED_LEGITIMATE.value: "false_positive",
}


def _in_windows(
    institution_id: Any, moment: Any, windows: Mapping[str, tuple[datetime, datetime]]
) -> ColumnElement[bool]:
    """Rows of each institution whose ``moment`` lies in its own window (since, until]."""
    return or_(
        *(
            and_(institution_id == institution, moment > since, moment <= until)
            for institution, (since, until) in sorted(windows.items())
        )
    )


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class AlertRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- writes (flush only) -------------------------------------------------------------

    def insert_new(self, rows: Sequence[dict[str, Any]]) -> None:
        """Inserts rows whose (institution_id, report_id) is new; others are left untouched."""
        if rows:
            self.session.execute(insert_ignoring_conflicts(self.session, Alert), list(rows))

    def insert_links(self, rows: Sequence[dict[str, Any]]) -> None:
        """Links reports to alerts; a report already linked (a redelivery) is left as it is."""
        if rows:
            self.session.execute(insert_ignoring_conflicts(self.session, AlertReport), list(rows))

    def update_episodes(self, updates: Sequence[dict[str, Any]]) -> None:
        """Writes joined reports' effect on their alerts (one executemany), without bumping
        ``version``.

        The version guards what investigators decide (status, disposition, assignee); the
        evidence growing underneath must not turn every move during an active episode into
        a 409. An alert closed meanwhile keeps its closed state (the status condition).
        Each update holds ``alert_id`` and the new ``score``, ``typology``, ``reasons``,
        ``rule_hits``, ``report_count``, ``last_report_at`` and ``updated_at``.
        """
        if not updates:
            return
        # Core on the table: the ORM's bulk UPDATE by primary key cannot take the status
        # condition, and the ORM's unit of work would bump the version.
        table = cast(Table, Alert.__table__)
        names = ("score", "typology", "reasons", "rule_hits", "report_count", "last_report_at")
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("b_alert_id"),
                # Not IN (…): an expanding parameter cannot run as executemany.
                *(table.c.status != status.value for status in sorted(TERMINAL_STATUSES)),
            )
            .values({name: bindparam(f"b_{name}") for name in (*names, "updated_at")})
        )
        self.session.execute(
            statement,
            [{f"b_{key}": value for key, value in row.items()} for row in updates],
        )

    def insert_thresholds(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Inserts threshold versions (one per institution); returns the institutions whose
        version was inserted, without those another worker took first."""
        if not rows:
            return set()
        statement = insert_ignoring_conflicts(self.session, AlertThreshold).values(list(rows))
        return set(self.session.scalars(statement.returning(AlertThreshold.institution_id)))

    def add_note(self, note: Note) -> Note:
        self.session.add(note)
        self.session.flush()
        return note

    # -- reads ---------------------------------------------------------------------------

    def get(self, alert_id: int) -> Alert | None:
        return self.session.get(Alert, alert_id)

    def get_many(self, alert_ids: Sequence[int]) -> Sequence[Alert]:
        if not alert_ids:
            return []
        statement = select(Alert).where(Alert.id.in_(alert_ids)).order_by(Alert.id)
        return self.session.scalars(statement).all()

    def by_keys(self, keys: Sequence[AlertKey]) -> dict[AlertKey, Alert]:
        found: dict[AlertKey, Alert] = {}
        for chunk in _chunks(list(keys)):
            statement = select(Alert).where(
                tuple_(Alert.institution_id, Alert.report_id).in_(chunk)
            )
            for alert in self.session.scalars(statement):
                found[(alert.institution_id, alert.report_id)] = alert
        return found

    def reports_by_keys(self, keys: Sequence[AlertKey]) -> dict[AlertKey, StoredReport]:
        """Returns the pk, subject document and transaction time of each stored report."""
        found: dict[AlertKey, StoredReport] = {}
        for chunk in _chunks(list(keys)):
            statement = select(
                Report.institution_id, Report.report_id, Report.id, Report.document, Report.txn_at
            ).where(tuple_(Report.institution_id, Report.report_id).in_(chunk))
            for institution, report_id, pk, document, txn_at in self.session.execute(statement):
                subject = document.get("subject") if isinstance(document, dict) else None
                found[(institution, report_id)] = StoredReport(pk, subject, txn_at)
        return found

    def linked_keys(self, keys: Sequence[AlertKey]) -> set[AlertKey]:
        """The reports among ``keys`` already gathered by an alert."""
        found: set[AlertKey] = set()
        for chunk in _chunks(list(keys)):
            statement = select(AlertReport.institution_id, AlertReport.report_id).where(
                tuple_(AlertReport.institution_id, AlertReport.report_id).in_(chunk)
            )
            found.update(
                (institution, report) for institution, report in self.session.execute(statement)
            )
        return found

    def open_for_subjects(self, subject_keys: Sequence[str]) -> Sequence[Alert]:
        """The open alerts of these subjects (any jurisdiction), oldest first."""
        alerts: list[Alert] = []
        for chunk in _chunks(sorted(set(subject_keys))):
            statement = (
                select(Alert)
                .where(Alert.subject_key.in_(chunk), Alert.status.in_(sorted(OPEN_STATUSES)))
                .order_by(Alert.id)
            )
            alerts.extend(self.session.scalars(statement))
        return alerts

    def false_positive_closures(
        self, subject_keys: Sequence[str], since: datetime
    ) -> Sequence[Any]:
        """(subject_key, jurisdiction, score, rule_hits, typology, decided_at) of the subjects'
        alerts closed as FALSE_POSITIVE at or after ``since``."""
        rows: list[Any] = []
        for chunk in _chunks(sorted(set(subject_keys))):
            statement = select(
                Alert.subject_key,
                Alert.jurisdiction,
                Alert.score,
                Alert.rule_hits,
                Alert.typology,
                Alert.decided_at,
            ).where(
                Alert.subject_key.in_(chunk),
                Alert.status == AlertStatus.CLOSED.value,
                Alert.disposition == Disposition.FALSE_POSITIVE.value,
                Alert.decided_at >= since,
            )
            rows.extend(self.session.execute(statement).all())
        return rows

    def other_open_alert(self, alert: Alert) -> int | None:
        """The id of another open alert of the same subject and jurisdiction, if any."""
        return self.session.scalar(
            select(Alert.id)
            .where(
                Alert.subject_key == alert.subject_key,
                Alert.jurisdiction == alert.jurisdiction,
                Alert.status.in_(sorted(OPEN_STATUSES)),
                Alert.id != alert.id,
            )
            .limit(1)
        )

    def links_of(self, alert_ids: Sequence[int]) -> Sequence[AlertReport]:
        """The reports gathered by these alerts, in the order they joined."""
        if not alert_ids:
            return []
        statement = (
            select(AlertReport)
            .where(AlertReport.alert_id.in_(list(alert_ids)))
            .order_by(AlertReport.alert_id, AlertReport.id)
        )
        return self.session.scalars(statement).all()

    def reports_of_episode(self, alert: Alert) -> list[Report]:
        """The stored reports of the alert's episode, oldest transaction first."""
        pks = [link.report_pk for link in self.links_of([alert.id]) if link.report_pk is not None]
        if alert.report_pk is not None and alert.report_pk not in pks:
            pks.append(alert.report_pk)
        if not pks:
            return []
        reports = self.session.scalars(select(Report).where(Report.id.in_(pks))).all()
        return sorted(reports, key=lambda report: (report.txn_at or report.filed_at, report.id))

    def latest_threshold(self, institution_id: str) -> AlertThreshold | None:
        statement = (
            select(AlertThreshold)
            .where(AlertThreshold.institution_id == institution_id)
            .order_by(AlertThreshold.version.desc())
            .limit(1)
        )
        return self.session.scalar(statement)

    def latest_thresholds(self, institution_ids: Sequence[str]) -> dict[str, AlertThreshold]:
        """Each institution's latest threshold version, in one statement (every batch reads
        them); institutions without one are absent."""
        if not institution_ids:
            return {}
        newest = (
            select(AlertThreshold.institution_id, func.max(AlertThreshold.version).label("version"))
            .where(AlertThreshold.institution_id.in_(sorted(set(institution_ids))))
            .group_by(AlertThreshold.institution_id)
            .subquery()
        )
        statement = select(AlertThreshold).join(
            newest,
            (AlertThreshold.institution_id == newest.c.institution_id)
            & (AlertThreshold.version == newest.c.version),
        )
        return {row.institution_id: row for row in self.session.scalars(statement)}

    def hold(self, rows: Sequence[dict[str, Any]]) -> None:
        """Stores reports the ranked budget holds back (``HeldCandidate`` columns)."""
        if rows:
            self.session.execute(insert(HeldCandidate), list(rows))

    def held_best(
        self, institution_id: str, since: datetime, until: datetime, floor: float
    ) -> dict[str, HeldCandidate]:
        """Each subject's best held report in (since, until], at or above ``floor``, for the
        subjects without an open alert: the highest score, the latest held of equal ones."""
        statement = (
            select(HeldCandidate)
            .where(
                HeldCandidate.institution_id == institution_id,
                HeldCandidate.transaction_at > since,
                HeldCandidate.transaction_at <= until,
                HeldCandidate.score >= floor,
                HeldCandidate.subject_key.not_in(
                    select(Alert.subject_key).where(Alert.status.in_(sorted(OPEN_STATUSES)))
                ),
            )
            .order_by(HeldCandidate.score, HeldCandidate.id)
        )
        best: dict[str, HeldCandidate] = {}
        for row in self.session.scalars(statement):
            best[row.subject_key] = row  # ascending: the best comes last
        return best

    def quiet_held(self, quiet_since: datetime) -> dict[str, tuple[datetime, datetime]]:
        """The institutions none of whose held reports was held at or after ``quiet_since``
        (wall clock): the latest event time among its held reports, and when the last of them
        was held."""
        statement = (
            select(
                HeldCandidate.institution_id,
                func.max(HeldCandidate.transaction_at),
                func.max(HeldCandidate.created_at),
            )
            .group_by(HeldCandidate.institution_id)
            .having(func.max(HeldCandidate.created_at) < quiet_since)
        )
        return {
            institution: (last_event, last_held)
            for institution, last_event, last_held in self.session.execute(statement)
        }

    def release_held(self, institution_id: str, subject_keys: Iterable[str]) -> None:
        """Deletes the held reports of subjects the budget has picked."""
        keys = sorted(set(subject_keys))
        if keys:
            self.session.execute(
                delete(HeldCandidate).where(
                    HeldCandidate.institution_id == institution_id,
                    HeldCandidate.subject_key.in_(keys),
                )
            )

    def prune_held(self, institution_id: str, until: datetime) -> None:
        """Deletes the held reports at or before ``until`` (out of every later window)."""
        self.session.execute(
            delete(HeldCandidate).where(
                HeldCandidate.institution_id == institution_id,
                HeldCandidate.transaction_at <= until,
            )
        )

    def window_scores(self, institution_id: str, since: datetime, until: datetime) -> WindowScores:
        """The institution's reports in (since, until] as the alert budget reads them.

        ``unalerted``: the highest score of each subject of the window that holds no open alert
        (one that does cannot open another, so it takes no place in the budget); ``subjects``:
        every subject of the window; ``reports``: the scored reports; ``earliest``: the earliest
        report time.
        """
        return self.window_scores_of({institution_id: (since, until)})[institution_id]

    def window_scores_of(
        self, windows: Mapping[str, tuple[datetime, datetime]]
    ) -> dict[str, WindowScores]:
        """:meth:`window_scores` of several institutions, each over its own (since, until],
        in one statement (a batch recomputes every institution whose cadence has come)."""
        if not windows:
            return {}
        held = Report.subject_key.in_(
            select(Alert.subject_key).where(Alert.status.in_(sorted(OPEN_STATUSES)))
        )
        statement = (
            select(
                Report.institution_id,
                held,
                func.max(Report.score),
                func.count(),
                func.min(Report.txn_at),
            )
            .where(
                _in_windows(Report.institution_id, Report.txn_at, windows),
                Report.score.is_not(None),
            )
            .group_by(Report.institution_id, Report.subject_key)
        )
        unalerted: dict[str, list[float]] = {institution: [] for institution in windows}
        subjects = dict.fromkeys(windows, 0)
        reports = dict.fromkeys(windows, 0)
        earliest: dict[str, datetime | None] = dict.fromkeys(windows)
        for institution, alerted, best, count, first in self.session.execute(statement):
            subjects[institution] += 1
            if not alerted:
                unalerted[institution].append(float(best or 0.0))
            reports[institution] += int(count)
            known = earliest[institution]
            if first is not None and (known is None or first < known):
                earliest[institution] = first
        return {
            institution: WindowScores(
                unalerted[institution],
                subjects[institution],
                reports[institution],
                earliest[institution],
            )
            for institution in windows
        }

    def window_counts_of(
        self, windows: Mapping[str, tuple[datetime, datetime]]
    ) -> dict[str, WindowScores]:
        """:meth:`window_scores_of` without the scores (``unalerted`` is empty): the subjects,
        reports and earliest time of each window, one row per institution. Ranked spending
        reads the scores from the held reports and needs only these counts: no row per
        subject, no test of each subject against the open alerts."""
        if not windows:
            return {}
        statement = (
            select(
                Report.institution_id,
                func.count(func.distinct(Report.subject_key)),
                func.count(),
                func.min(Report.txn_at),
            )
            .where(
                _in_windows(Report.institution_id, Report.txn_at, windows),
                Report.score.is_not(None),
            )
            .group_by(Report.institution_id)
        )
        counts = {institution: WindowScores([], 0, 0, None) for institution in windows}
        for institution, subjects, reports, earliest in self.session.execute(statement):
            counts[institution] = WindowScores([], int(subjects), int(reports), earliest)
        return counts

    def opened_in_window(self, institution_id: str, since: datetime, until: datetime) -> int:
        """The alerts of the institution opened by a report of (since, until] (event time),
        whatever their status now and whatever let them through: what the budget has spent."""
        return self.opened_in_windows({institution_id: (since, until)})[institution_id]

    def opened_in_windows(self, windows: Mapping[str, tuple[datetime, datetime]]) -> dict[str, int]:
        """:meth:`opened_in_window` of several institutions in one statement. An alert spends
        the budget from the event time it opened at (a ranked pick's recompute), else its
        report's."""
        if not windows:
            return {}
        opened_at = func.coalesce(Alert.opened_for, Alert.transaction_at)
        statement = (
            select(Alert.institution_id, func.count())
            .where(_in_windows(Alert.institution_id, opened_at, windows))
            .group_by(Alert.institution_id)
        )
        opened = dict.fromkeys(windows, 0)
        for institution, count in self.session.execute(statement):
            opened[institution] = int(count)
        return opened

    def report_of(self, alert: Alert) -> Report | None:
        if alert.report_pk is not None:
            return self.session.get(Report, alert.report_pk)
        return self.session.scalar(
            select(Report).where(
                Report.institution_id == alert.institution_id,
                Report.report_id == alert.report_id,
            )
        )

    def in_case(self, case_id: int) -> Sequence[Alert]:
        statement = select(Alert).where(Alert.case_id == case_id).order_by(Alert.id)
        return self.session.scalars(statement).all()

    def page(
        self, filters: AlertFilter, sort: AlertSort, cursor: Cursor | None, limit: int
    ) -> Sequence[Any]:
        """Returns up to ``limit`` queue rows in ``sort`` order, after ``cursor``."""
        shape, params = _page_shape(filters, sort, cursor is not None)
        if cursor is not None:
            params["cursor_value"] = cursor.value
            params["cursor_id"] = cursor.id
        params["limit"] = limit
        statement = _PAGE_STATEMENTS.get(shape)
        if statement is None:
            if len(_PAGE_STATEMENTS) >= _MAX_PAGE_STATEMENTS:
                _PAGE_STATEMENTS.clear()
            statement = _PAGE_STATEMENTS.setdefault(shape, _page_statement(shape))
        bind = self.session.get_bind()
        if self.session.in_transaction() or not isinstance(bind, Engine):
            # Core execution: the ORM path would cost more than the query itself.
            return self.session.connection().execute(statement, params).all()
        # The request has not started a transaction: the page is one statement, consistent on
        # its own, so it runs on a pooled connection in autocommit (no BEGIN and COMMIT round
        # trips) and leaves the session without a transaction, with nothing to commit.
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return connection.execute(statement, params).all()

    def counts_for_subjects(self, subject_keys: Sequence[str]) -> tuple[int, int]:
        """Returns (all alerts, open alerts) about these subject keys."""
        if not subject_keys:
            return 0, 0
        statement = (
            select(Alert.status, func.count())
            .where(Alert.subject_key.in_(subject_keys))
            .group_by(Alert.status)
        )
        total = open_count = 0
        for status, count in self.session.execute(statement):
            total += count
            if AlertStatus(status) in OPEN_STATUSES:
                open_count += count
        return total, open_count

    def for_subjects(self, subject_keys: Sequence[str], limit: int) -> Sequence[Any]:
        if not subject_keys:
            return []
        statement = (
            select(*SUMMARY_COLUMNS)
            .where(Alert.subject_key.in_(subject_keys))
            .order_by(Alert.created_at.desc(), Alert.id.desc())
            .limit(limit)
        )
        return self.session.execute(statement).all()

    def labelled(self) -> Sequence[Any]:
        """Returns alerts whose outcome is a training label: filed, or closed as not laundering."""
        statement = (
            select(
                Alert.id,
                Alert.institution_id,
                Alert.report_id,
                Alert.report_pk,
                Alert.subject_key,
                Alert.status,
                Alert.disposition,
                Alert.typology,
                Alert.investigator_typology,
                Alert.model_version,
                Alert.score,
                Alert.decided_at,
            )
            .where(
                (Alert.status == AlertStatus.FILED.value)
                | (
                    (Alert.status == AlertStatus.CLOSED.value)
                    & Alert.disposition.in_(sorted(_LABELS))
                )
            )
            .order_by(Alert.id)
        )
        return self.session.execute(statement).all()

    @staticmethod
    def label_of(status: str, disposition: str | None) -> str | None:
        """Returns "confirmed", "false_positive" or None (no label) for an outcome."""
        if status == AlertStatus.FILED.value:
            return "confirmed"
        if status == AlertStatus.CLOSED.value and disposition is not None:
            return _LABELS.get(disposition)
        return None


# Every filter of the queue, by the name of its bind parameter (also its AlertFilter field,
# but for the status, whose one-value and many-value forms are two shapes).
_CONDITIONS: dict[str, Callable[[Any], ColumnElement[bool]]] = {
    "status": lambda value: Alert.status == value,
    "statuses": lambda value: Alert.status.in_(value),
    "score_min": lambda value: Alert.score >= value,
    "score_max": lambda value: Alert.score <= value,
    "typology": lambda value: Alert.typology == value,
    "institution_id": lambda value: Alert.institution_id == value,
    "jurisdiction": lambda value: Alert.jurisdiction == value,
    "subject_key": lambda value: Alert.subject_key == value,
    "assignee": lambda value: Alert.assignee == value,
    "unassigned": lambda _value: Alert.assignee.is_(None),
    "case_id": lambda value: Alert.case_id == value,
    "created_from": lambda value: Alert.created_at >= value,
    "created_to": lambda value: Alert.created_at < value,
    "deadline_before": lambda value: Alert.deadline_at < value,
}
_VALUE_FILTERS = (
    "score_min",
    "score_max",
    "typology",
    "institution_id",
    "jurisdiction",
    "subject_key",
    "assignee",
    "case_id",
    "created_from",
    "created_to",
    "deadline_before",
)
# (sort, has cursor, filter names) -> the statement with named binds. A few dozen shapes are
# used in practice; building and cache-keying a statement per request cost more than the query.
PageShape = tuple[AlertSort, bool, tuple[str, ...]]
_PAGE_STATEMENTS: dict[PageShape, Any] = {}
_MAX_PAGE_STATEMENTS = 512


class SubjectNameRepository:
    """The normalised names of alerted subjects (``subject_names``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def index_names(self, rows: Sequence[dict[str, Any]]) -> None:
        """Records normalised names of subject keys (idempotent)."""
        if rows:
            now = utc_now()
            self.session.execute(
                insert_ignoring_conflicts(self.session, SubjectName),
                [{**row, "seen_at": now} for row in rows],
            )

    def names_of(self, subject_keys: Sequence[str]) -> Sequence[SubjectName]:
        if not subject_keys:
            return []
        statement = select(SubjectName).where(SubjectName.subject_key.in_(subject_keys))
        return self.session.scalars(statement).all()

    def sharing_names(self, name_keys: Sequence[str], limit: int = 200) -> Sequence[SubjectName]:
        if not name_keys:
            return []
        statement = (
            select(SubjectName)
            .where(SubjectName.name_key.in_(name_keys))
            .order_by(SubjectName.id)
            .limit(limit)
        )
        return self.session.scalars(statement).all()


def _page_shape(
    filters: AlertFilter, sort: AlertSort, has_cursor: bool
) -> tuple[PageShape, dict[str, Any]]:
    names: list[str] = []
    params: dict[str, Any] = {}
    if filters.status:
        values = sorted({status.value for status in filters.status})
        if len(values) == 1:
            names.append("status")
            params["status"] = values[0]
        else:
            names.append("statuses")
            params["statuses"] = values
    for name in _VALUE_FILTERS:
        value = getattr(filters, name)
        if value is not None:
            names.append(name)
            params[name] = value
    if filters.unassigned:
        names.append("unassigned")
    return (sort, has_cursor, tuple(names)), params


def _page_statement(shape: PageShape) -> Any:
    sort, has_cursor, names = shape
    column, descending = SORT_COLUMNS[sort]
    statement = select(*SUMMARY_COLUMNS)
    for name in names:
        value: BindParameter[Any] = (
            bindparam(name, expanding=True) if name == "statuses" else bindparam(name)
        )
        statement = statement.where(_CONDITIONS[name](value))
    if sort in (AlertSort.DEADLINE_ASC, AlertSort.DEADLINE_DESC):
        # Alerts without a deadline yet (a US SAR before suspicion is determined) have
        # no place in a deadline order; the other orders list them.
        statement = statement.where(Alert.deadline_at.is_not(None))
    if has_cursor:
        key = tuple_(column, Alert.id)
        # Typed binds, so the cursor's datetime goes through UTCDateTime like a column value.
        boundary = tuple_(
            bindparam("cursor_value", type_=column.type),
            bindparam("cursor_id", type_=Alert.id.type),
        )
        statement = statement.where(key < boundary if descending else key > boundary)
    if descending:
        statement = statement.order_by(column.desc(), Alert.id.desc())
    else:
        statement = statement.order_by(column.asc(), Alert.id.asc())
    return statement.limit(bindparam("limit", type_=Integer()))
