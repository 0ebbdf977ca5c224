"""Detection in the worker: the :class:`Detector` assesses each micro-batch's new reports.

Called by ``streaming.screening.screen`` inside the batch's database transaction, before the
insert; for the batch's new reports:

1. features over the worker's window state plus the batch (``models.state.batch_features``:
   the functions training and ``amlscreen score`` use); subjects the state has not loaded are
   rebuilt from the report store first (``services.reports.history.ReportHistory``);
2. model score, rules, alert decision, typology guess and reasons (``models.scoring``);
3. watchlist screening of each subject and counterparty (a strong match forces an alert).

The result (:class:`Assessed`) is returned, never kept: ``screen`` stores it with the rows,
raises the alerts of the reports it inserted, and has the window state learn the batch's rows
once the transaction has committed, so a failed batch leaves the state as the store is.

State after a restart or a rebalance. The state is rebuilt from the store, not by replaying
Kafka: a subject is loaded (its last 30 days plus the time of its previous report) the first
time this worker sees it, and again when the partition it lives on is assigned to this worker
anew (``assignment`` is polled every batch). The store already holds every persisted report,
validated, with its position; reading it is one indexed query per batch of new subjects and
needs no second consumer or offset bookkeeping.

Counterparty-side features (distinct payers into a beneficiary, distinct payees of a payer)
come from the store too (``ReportHistory.edge_rows``) plus the batch itself, so they count
reports persisted by every worker; reports of other partitions not yet persisted when this
batch runs are missing from them until they are, which with workers keeping up is well under
a second of a 7-day window."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy.orm import Session
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from models.features import flatten
from models.registry import load_bundle
from models.scoring import ScoredBatch, Scorer
from models.state import WindowState, batch_features
from refdata.business_days import DEFAULT_CALENDAR, BusinessCalendar
from services.alerts.policy import AlertPolicy
from services.alerts.schemas import AlertCreate
from services.config import Settings
from services.reports.history import ReportHistory
from services.reports.repository import ReportKey
from services.reports.service import Assessment, IncomingReport
from services.watchlists import names
from services.watchlists import service as watchlist_service
from services.watchlists.service import IndexHolder, ReportScreening
from streaming.metrics import WorkerMetrics

log = logging.getLogger(__name__)

AssignmentProbe = Callable[[], Collection[Any]]


@dataclass(slots=True)
class Assessed:
    """A batch's new reports between their assessment and their insert, row by row."""

    items: list[IncomingReport]
    scored: ScoredBatch
    reasons: list[list[str]]
    pending: pl.DataFrame  # the rows the window state learns once the batch committed
    screenings: dict[int, ReportScreening]  # by row, the reports that matched a watchlist
    model_version: str
    peer_rows: pl.DataFrame  # models.peers inputs of each report, in batch order
    # The model inputs of each report, in batch order: typed later, only for the rows the
    # alert policy lets through (Detector.type_rows).
    features: pl.DataFrame

    def assessments(self) -> list[Assessment]:
        """What is stored with each report's row."""
        return [
            Assessment(float(score), reasons)
            for score, reasons in zip(self.scored.scores.tolist(), self.reasons, strict=True)
        ]

    def rows_of(self, inserted: Sequence[IncomingReport]) -> list[int]:
        """The rows of these reports, in batch order (those this transaction inserted)."""
        keys: set[ReportKey] = {item.key for item in inserted}
        return [row for row, item in enumerate(self.items) if item.key in keys]

    def alert(self, row: int) -> AlertCreate:
        """The alert of one row (whose ``scored.alerts`` is set)."""
        item, scored = self.items[row], self.scored
        report, source = item.report, item.source
        return AlertCreate(
            institution_id=report.institution_id,
            report_id=report.report_id,
            subject_key=report.subject_key,
            jurisdiction=report.jurisdiction.value,
            report_type=report.report_type.value,
            score=float(scored.scores[row]),
            model_version=self.model_version,
            rule_hits=[hit.as_dict() for hit in scored.rule_hits[row]],
            typology=scored.typologies[row],
            reasons=self.reasons[row],
            features=scored.top_features[row],
            source_topic=source.topic if source else None,
            source_partition=source.partition if source else None,
            source_offset=source.offset if source else None,
            transaction_at=report.transaction.timestamp if report.transaction else None,
        )


class Detector:
    """Features, score, rules and watchlists for each batch's new reports.

    Keeps what lasts from batch to batch: the window state, and the partitions each subject
    came from (to reload them after a rebalance).
    """

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

    def follow_assignment(self) -> None:
        """Forgets the subjects of partitions that moved since the last batch (rebalance)."""
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

    # ---- assessment ----------------------------------------------------------------------
    def assess(self, session: Session, items: Sequence[IncomingReport]) -> Assessed:
        """Scores the batch's new reports, before they are written."""
        self.follow_assignment()
        started = time.perf_counter()
        keys = [item.report.subject_key for item in items]
        self._record_partitions(self.state.subject_ids(keys), items)
        flat = flatten([item.document for item in items], keys)
        batch = batch_features(self.state, flat, ReportHistory(session), calendar=self.calendar)
        self.observe("features", started)

        started = time.perf_counter()
        # One OpenMP thread: the worker shares its cores with the database and the broker, and
        # a tree ensemble's per-tree parallel loops stall on every busy core (docs/benchmarks.md,
        # "Measurements behind the code").
        with self._threads.limit(limits=1, user_api="openmp"):
            # Untyped: most rows above the scoring threshold stay below their institution's
            # live threshold, and the typology head (a tree per typology and iteration) costs
            # several times the detector per row; raise_batch_alerts types the rest.
            scored = self.scorer.score(batch.features, typed=False)
        self.observe("score", started)

        started = time.perf_counter()
        screenings = self._screen(session, items, scored) if items else {}
        self.observe("watchlist", started)
        reasons = [self._reasons(scored, index) for index in range(len(items))]
        return Assessed(
            list(items),
            scored,
            reasons,
            batch.pending,
            screenings,
            self.scorer.model_version,
            batch.peer_rows,
            batch.features,
        )

    def type_rows(self, assessed: Assessed, rows: Sequence[int]) -> None:
        """Names the typology of these rows of the batch (those the alert policy lets
        through), in place; rows already typed are left as they are."""
        untyped = [row for row in rows if assessed.scored.typologies[row] is None]
        if not untyped:
            return
        with self._threads.limit(limits=1, user_api="openmp"):
            guesses = self.scorer.typologies(
                assessed.features[untyped], positive=assessed.scored.scores[untyped]
            )
        for row, typology in zip(untyped, guesses, strict=True):
            assessed.scored.typologies[row] = typology

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

    def observe(self, stage: str, started: float) -> None:
        """Records how long a stage of the batch took (``amlscreen_stage_duration_seconds``)."""
        if self.metrics is not None:
            self.metrics.stage_duration.labels(stage).observe(time.perf_counter() - started)


def build_detector(
    settings: Settings,
    *,
    consumer: Any = None,
    metrics: WorkerMetrics | None = None,
) -> Detector:
    """Loads the verified model of ``settings`` and returns the worker's detector.

    ``consumer`` (a ``KafkaConsumer``) lets the detector notice partition reassignments.
    """
    bundle = load_bundle(settings.effective_model_path)
    # Seconds holding the GIL: done before the consumer joins its group, not in a batch.
    names.warm_up()
    if metrics is not None:
        metrics.set_model(bundle.version)
    policy = AlertPolicy.from_settings(settings)
    rules = settings.rule_config
    if metrics is not None:
        metrics.set_rules(rules.digest())
    log.info(
        "detection model %s, threshold %.3f, alert policy %s, rules %s %s (%s)",
        bundle.version,
        bundle.threshold,
        policy.describe(),
        rules.digest(),
        rules.describe(),
        settings.rules_file or "shipped",
    )
    return Detector(
        Scorer(bundle, threshold=policy.scoring_threshold(bundle.threshold), rules=rules),
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
