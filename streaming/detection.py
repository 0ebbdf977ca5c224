"""Detection in the worker: the ``BatchHook`` that scores each micro-batch's new reports.

Runs inside the batch's database transaction, in two steps around the insert
(``services.reports.service.persist_reports`` with the hook as ``assessor``):

``assess`` — the batch has been classified against the store; for its new reports:

1. features over the worker's window state plus the batch (``models.state.batch_features``:
   the functions training and ``amlscreen score`` use); subjects the state has not loaded are
   rebuilt from the report store first;
2. model score, rules, alert decision, typology guess and reasons (``models.scoring``).

``persist_reports`` then writes each new report once, with its ``score``, ``reasons``,
``status="processed"`` and ``processed_at`` (no UPDATE of fresh rows: that rewrote every index
of ``reports`` and cost as much as the insert itself).

``__call__`` — after the insert: alerts are stored idempotently
(``services.alerts.service.raise_alerts``) for the reports this transaction inserted, and
only those (a report another worker stored meanwhile is its alert), and returned as
``aml.alerts`` messages keyed by subject key.

The window state learns the batch's rows only once the transaction has committed (an
``after_commit`` listener), so a failed batch leaves the state as the store is.

State after a restart or a rebalance. The state is rebuilt from the store, not by replaying
Kafka: a subject is loaded (its last 30 days plus the time of its previous report) the first
time this worker sees it, and again when the partition it lives on is assigned to this worker
anew (``assignment`` is polled every batch). The store already holds every persisted report,
validated, with its position; reading it is one indexed query per batch of new subjects and
needs no second consumer or offset bookkeeping.

Counterparty-side features (distinct payers into a beneficiary, distinct payees of a payer)
come from the store too (``SqlHistoryStore.edge_rows``) plus the batch itself, so they count
reports persisted by every worker; reports of other partitions not yet persisted when this
batch runs are missing from them until they are, which with workers keeping up is well under
a second of a 7-day window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import String, and_, cast, event, func, literal, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from models.features import EDGE_ROW_SCHEMA, flatten
from models.registry import load_bundle
from models.scoring import ScoredBatch, Scorer
from models.state import WindowState, batch_features
from refdata.business_days import DEFAULT_CALENDAR, BusinessCalendar
from services.alerts import flows as alert_flows
from services.alerts.policy import AlertPolicy
from services.alerts.schemas import AlertCreate
from services.alerts.service import alert_to_message
from services.config import Settings
from services.reports.orm import Report
from services.reports.repository import pg_text_array
from services.reports.service import Assessment, IncomingReport, PersistOutcome
from services.watchlists import service as watchlist_service
from services.watchlists.service import IndexHolder, ReportScreening
from streaming.metrics import WorkerMetrics
from streaming.worker import AlertMessage

log = logging.getLogger(__name__)

_IN_CHUNK = 5_000


def _epoch(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() // 1)


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class SqlHistoryStore:
    """``models.state.HistoryStore`` over the reports table, inside the batch's session."""

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

    def _edge_rows_postgres(self, accounts: Sequence[str], since: int, until: int) -> pl.DataFrame:
        """One statement: both sides of the payments, each through its index; times as
        epoch seconds (no datetime per row). Read through the driver's cursor: plain tuples
        straight into the frame (SQLAlchemy's result rows cost more than the query here)."""
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


AssignmentProbe = Callable[[], Collection[Any]]


@dataclass(slots=True)
class _Assessed:
    """A batch between its assessment and its insert."""

    items: list[IncomingReport]
    scored: ScoredBatch
    reasons: list[list[str]]
    pending: pl.DataFrame
    screenings: dict[int, ReportScreening]  # by position, the reports that matched


class DetectionHook:
    """The worker's ``BatchHook``: features, score, alerts for each batch's new reports."""

    def __init__(
        self,
        scorer: Scorer,
        *,
        state: WindowState | None = None,
        assignment: AssignmentProbe | None = None,
        metrics: WorkerMetrics | None = None,
        calendar: BusinessCalendar = DEFAULT_CALENDAR,
        watchlists: IndexHolder | None = None,
        policy: AlertPolicy | None = None,
        model_threshold: float | None = None,
    ) -> None:
        self.scorer = scorer
        # The threshold without a budget (or before the budget has data): the scorer's own,
        # unless the scorer runs lower to name the candidates a budget may let through.
        self.model_threshold = scorer.threshold if model_threshold is None else model_threshold
        # Episodes, suppression and budget (services.alerts.policy) decide which of the
        # scorer's candidates open or join an alert.
        self.policy = policy or AlertPolicy()
        self.watchlists = watchlists
        self.state = state or WindowState()
        self.metrics = metrics
        self.calendar = calendar
        self._assignment = assignment
        self._assigned: frozenset[tuple[str, int]] | None = None
        self._partition_of = np.full(0, -1, dtype=np.int32)
        self._threads = ThreadpoolController()
        self._assessed: _Assessed | None = None

    # ---- rebalances ------------------------------------------------------------------------
    def _record_partitions(
        self, sids: npt.NDArray[np.int64], items: Sequence[IncomingReport]
    ) -> None:
        if sids.size and int(sids.max()) >= self._partition_of.size:
            grown = np.full(max(int(sids.max()) + 1, self._partition_of.size * 2), -1, np.int32)
            grown[: self._partition_of.size] = self._partition_of
            self._partition_of = grown
        partitions = np.array(
            [item.source.partition if item.source else -1 for item in items], dtype=np.int32
        )
        known = self._partition_of[sids]
        moved = (known >= 0) & (partitions >= 0) & (known != partitions)
        if moved.any():
            # The topic's partition count changed: what we held for them may be stale.
            self.state.invalidate(np.unique(sids[moved]))
        self._partition_of[sids] = partitions

    def _follow_assignment(self) -> None:
        if self._assignment is None:
            return
        current = frozenset(
            (str(getattr(tp, "topic", "")), int(getattr(tp, "partition", 0)))
            for tp in self._assignment()
        )
        previous = self._assigned
        self._assigned = current
        if previous is None or previous == current:
            return
        changed = {partition for _, partition in current ^ previous}
        stale = np.flatnonzero(np.isin(self._partition_of, list(changed)))
        if stale.size:
            self.state.invalidate(stale.astype(np.int64))
        log.info(
            "partitions changed (%s → %s): %d subjects will be reloaded from the store",
            sorted(p for _, p in previous),
            sorted(p for _, p in current),
            stale.size,
        )

    # ---- the hook ------------------------------------------------------------------------
    def assess(self, session: Session, items: Sequence[IncomingReport]) -> list[Assessment]:
        """Scores the batch's new reports before they are written (``persist_reports``).

        Features over the window state plus the batch, model score, rules, reasons. What an
        alert needs is kept until :meth:`__call__` learns which reports were inserted.
        """
        self._assessed = None
        self._follow_assignment()
        if not items:
            return []
        started = time.perf_counter()
        keys = [item.report.subject_key for item in items]
        self._record_partitions(self.state.subject_ids(keys), items)
        flat = flatten([item.document for item in items], keys)
        batch = batch_features(self.state, flat, SqlHistoryStore(session), calendar=self.calendar)
        self._observe("features", started)

        started = time.perf_counter()
        # One OpenMP thread: the worker shares its cores with the database and the broker, and
        # a tree ensemble's per-tree parallel loops stall on every busy core (10x slower).
        with self._threads.limit(limits=1, user_api="openmp"):
            scored = self.scorer.score(batch.features)
        self._observe("score", started)

        started = time.perf_counter()
        screenings = self._screen(session, items, scored)
        self._observe("watchlist", started)
        reasons = [self._reasons(scored, index) for index in range(len(items))]
        self._assessed = _Assessed(list(items), scored, reasons, batch.pending, screenings)
        return [
            Assessment(float(score), reason)
            for score, reason in zip(scored.scores.tolist(), reasons, strict=True)
        ]

    def __call__(self, session: Session, outcome: PersistOutcome) -> list[AlertMessage]:
        """After the insert: alerts for the reports this transaction inserted, state on commit.

        Returns the ``aml.alerts`` messages, keyed by subject key.
        """
        assessed, self._assessed = self._assessed, None
        if assessed is None:
            self._follow_assignment()
            return []
        started = time.perf_counter()
        position = {id(item): index for index, item in enumerate(assessed.items)}
        inserted = sorted(position[id(item)] for item in outcome.inserted if id(item) in position)
        scored = assessed.scored
        alerts = [
            self._alert(assessed.items[index], scored, index, assessed.reasons[index])
            for index in inserted
            if scored.alerts[index]
        ]
        # -- the alert policy: candidates open, join, or are suppressed / below budget --
        routed = alert_flows.route_alerts(
            session, alerts, self.policy, model_threshold=self.model_threshold
        )
        stored = routed.published
        if self.metrics is not None:
            self.metrics.set_thresholds(routed.thresholds)
        matched = [index for index in inserted if index in assessed.screenings]
        if matched:
            ids = watchlist_service.watchlist_ids(session)
            watchlist_service.record_matches(
                session,
                [
                    watchlist_service.match_rows(
                        assessed.screenings[index],
                        institution_id=assessed.items[index].report.institution_id,
                        report_id=assessed.items[index].report.report_id,
                        found_by="worker",
                        watchlist_ids=ids,
                    )
                    for index in matched
                ],
            )
        produced = {
            item.key: item.source.timestamp_ms if item.source else None
            for item in (assessed.items[index] for index in inserted if scored.alerts[index])
        }
        messages = [
            AlertMessage(
                alert.subject_key.encode(),
                alert_to_message(alert, routed.events.get(alert.id)),
                alert.typology,
                produced.get((alert.institution_id, alert.report_id)),
            )
            for alert in stored
        ]
        pending = assessed.pending
        if len(inserted) != len(assessed.items):
            # Another worker stored some of them meanwhile: the state learns only ours.
            pending = pending[inserted]
        state = self.state

        def _apply(_session: Session) -> None:
            state.append(pending)

        event.listen(session, "after_commit", _apply, once=True)
        self._observe("alert", started)
        return messages

    def _screen(
        self, session: Session, items: Sequence[IncomingReport], scored: ScoredBatch
    ) -> dict[int, ReportScreening]:
        """Screens every report's subject and counterparty against the loaded watchlists.

        A strong match is a forcing rule hit (the report alerts whatever its score); a weak one
        a rule hit, a reason and the ``watchlist_score`` feature of the alert, if one is raised.
        """
        index = self.watchlists.get(session) if self.watchlists is not None else None
        if index is None or not len(index):
            return {}
        found = watchlist_service.screen_documents(
            session,
            index,
            [
                # The documents (plain dicts, computed once per report) are cheaper to read
                # than the validated models, whose extension fields are attribute lookups.
                (
                    item.report.subject_key,
                    item.document["subject"],
                    (item.document.get("transaction") or {}).get("counterparty"),
                )
                for item in items
            ],
        )
        for row, screening in found.items():
            if not screening.matches:
                continue
            hits, feature = watchlist_service.rule_hits_of(screening)
            scored.rule_hits[row] = [*scored.rule_hits[row], *hits]
            scored.reasons[row] = [*scored.reasons[row], *(hit.reason for hit in hits)]
            if feature is not None:
                scored.top_features[row] = {
                    **scored.top_features[row],
                    watchlist_service.FEATURE: feature,
                }
            if any(hit.forces_alert for hit in hits):
                scored.alerts[row] = True
        return found

    def _reasons(self, scored: ScoredBatch, index: int) -> list[str]:
        reasons = scored.reasons[index]
        if reasons:
            return reasons
        return [
            f"Score {scored.scores[index]:.3f} is below the alert threshold"
            f" {self.scorer.threshold:.3f}; no rule fired"
        ]

    def _alert(
        self, item: IncomingReport, scored: ScoredBatch, index: int, reasons: list[str]
    ) -> AlertCreate:
        report = item.report
        source = item.source
        return AlertCreate(
            institution_id=report.institution_id,
            report_id=report.report_id,
            subject_key=report.subject_key,
            jurisdiction=report.jurisdiction.value,
            report_type=report.report_type.value,
            score=float(scored.scores[index]),
            model_version=self.scorer.model_version,
            rule_hits=[hit.as_dict() for hit in scored.rule_hits[index]],
            typology=scored.typologies[index],
            reasons=reasons,
            features=scored.top_features[index],
            source_topic=source.topic if source else None,
            source_partition=source.partition if source else None,
            source_offset=source.offset if source else None,
            transaction_at=report.transaction.timestamp if report.transaction else None,
        )

    def _observe(self, stage: str, started: float) -> None:
        if self.metrics is not None:
            self.metrics.stage_duration.labels(stage).observe(time.perf_counter() - started)


def build_detection_hook(
    settings: Settings,
    *,
    consumer: Any = None,
    metrics: WorkerMetrics | None = None,
) -> DetectionHook:
    """Loads the verified model of ``settings`` and returns the worker's detection hook.

    ``consumer`` (a ``KafkaConsumer``) lets the hook notice partition reassignments.
    """
    bundle = load_bundle(settings.effective_model_path)
    if metrics is not None:
        metrics.set_model(bundle.version)
    policy = AlertPolicy.from_settings(settings)
    log.info(
        "detection model %s, threshold %.3f, alert policy %s",
        bundle.version,
        bundle.threshold,
        policy.describe(),
    )
    return DetectionHook(
        Scorer(bundle, threshold=policy.scoring_threshold(bundle.threshold)),
        policy=policy,
        model_threshold=bundle.threshold,
        assignment=_assignment_probe(consumer) if consumer is not None else None,
        metrics=metrics,
        watchlists=IndexHolder(),
    )


def _assignment_probe(consumer: Any) -> AssignmentProbe:
    """``consumer.assignment()``, callable from the worker's store thread.

    The polling thread may be in the middle of a rebalance, changing the set being copied.
    """

    def probe() -> Collection[Any]:
        for _ in range(10):
            try:
                return list(consumer.assignment())
            except RuntimeError:  # changed size during iteration
                time.sleep(0.01)
        return list(consumer.assignment())

    return probe
