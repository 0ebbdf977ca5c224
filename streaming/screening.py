"""One micro-batch of reports, from decoded messages to stored alerts: the screening path.

:func:`screen` reads top to bottom; every step is a call down into ``streaming.detection``
(the detector), ``services.reports`` (the store), ``services.watchlists`` and
``services.alerts``. It runs inside the transaction the worker owns (``streaming.worker``),
which then publishes the alerts, dead-letters the conflicts and commits the offsets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from models.state import WindowState, peer_counts_of
from services.alerts import flows as alert_flows
from services.alerts.schemas import AlertCreate
from services.alerts.service import alert_to_message
from services.reports import peers as peer_repository
from services.reports.service import (
    IncomingReport,
    PersistOutcome,
    classify,
    persist_reports,
    store_classified,
)
from services.watchlists import service as watchlist_service
from streaming.detection import Assessed, Detector


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One message for the alerts topic, and what its metrics need once it is acknowledged."""

    key: bytes
    value: bytes
    typology: str | None = None
    # The Kafka record timestamp of the report that raised the alert (produce-to-alert).
    produced_at_ms: int | None = None


@dataclass(slots=True)
class Screened:
    """What a batch's transaction did: reports stored, duplicates, conflicts, alerts raised."""

    outcome: PersistOutcome
    alerts: list[AlertMessage] = field(default_factory=list)


def screen(
    session: Session, items: Sequence[IncomingReport], detector: Detector | None
) -> Screened:
    """Screens one batch of validated reports inside the caller's transaction.

    Without a detector the reports are only stored (``status="received"``).
    """
    if detector is None:
        return Screened(persist_reports(session, items))
    batch = classify(session, items)  # new, identical redeliveries, conflicting reuses of an id
    if not batch.new:
        detector.follow_assignment()
        return Screened(PersistOutcome(duplicates=batch.duplicates, conflicts=batch.conflicts))
    assessed = detector.assess(session, batch.new)  # features, model, rules, watchlists, reasons
    outcome = store_classified(session, batch, assessed.assessments())  # rows with their scores
    # Another worker may have stored some of them since classify (after a rebalance): they
    # are its reports, alerts and state, not ours.
    rows = assessed.rows_of(outcome.inserted)
    started = time.perf_counter()
    alerts = raise_batch_alerts(session, detector, assessed, rows)
    record_watchlist_matches(session, assessed, rows)
    count_peers(session, assessed, rows)
    learn_on_commit(session, detector.state, assessed, rows)
    detector.observe("alert", started)
    return Screened(outcome, alerts)


def record_watchlist_matches(session: Session, assessed: Assessed, rows: Sequence[int]) -> None:
    """Stores the watchlist matches of the inserted reports that matched."""
    matched = [row for row in rows if row in assessed.screenings]
    if not matched:
        return
    ids = watchlist_service.watchlist_ids(session)
    watchlist_service.record_matches(
        session,
        [
            watchlist_service.match_rows(
                assessed.screenings[row],
                institution_id=assessed.items[row].report.institution_id,
                report_id=assessed.items[row].report.report_id,
                found_by="worker",
                watchlist_ids=ids,
            )
            for row in matched
        ],
    )


def raise_batch_alerts(
    session: Session, detector: Detector, assessed: Assessed, rows: Sequence[int]
) -> list[AlertMessage]:
    """Routes the inserted reports that alert through the alert policy (open a subject's
    episode, join it, or stay below the budget / suppressed: ``services.alerts.policy``);
    returns the alerts opened or materially updated as ``aml.alerts`` messages keyed by
    subject key."""
    alerting = [row for row in rows if assessed.scored.alerts[row]]
    if not alerting:
        return []
    row_of = {assessed.items[row].key: row for row in alerting}

    def typing(passing: Sequence[AlertCreate]) -> list[str | None]:
        rows_passing = [row_of[(item.institution_id, item.report_id)] for item in passing]
        detector.type_rows(assessed, rows_passing)
        return [assessed.scored.typologies[row] for row in rows_passing]

    routed = alert_flows.route_alerts(
        session,
        [assessed.alert(row) for row in alerting],
        detector.policy,
        model_threshold=detector.model_threshold,
        typing=typing,
    )
    _observe(detector, routed)
    produced = {
        item.key: item.source.timestamp_ms if item.source else None
        for item in (assessed.items[row] for row in alerting)
    }
    return [
        AlertMessage(
            alert.subject_key.encode(),
            alert_to_message(alert, routed.events.get(alert.id)),
            alert.typology,
            produced.get((alert.institution_id, alert.report_id)),
        )
        for alert in routed.published
    ]


def open_quiet_alerts(
    session: Session, detector: Detector, quiet_since: datetime
) -> list[AlertMessage]:
    """Opens the alerts a ranked budget picks for the institutions whose held reports have
    waited since before ``quiet_since`` with no candidate after them
    (``services.alerts.flows.open_quiet_picks``); returns them as ``aml.alerts`` messages."""
    routed = alert_flows.open_quiet_picks(session, detector.policy, quiet_since=quiet_since)
    _observe(detector, routed)
    return [
        AlertMessage(
            alert.subject_key.encode(),
            alert_to_message(alert, routed.events.get(alert.id)),
            alert.typology,
        )
        for alert in routed.published
    ]


def _observe(detector: Detector, routed: alert_flows.Routed) -> None:
    """The thresholds in force, and how long each ranked budget's pick was held."""
    if detector.metrics is None:
        return
    detector.metrics.set_thresholds(routed.thresholds)
    for alert in routed.published:
        # A ranked budget's pick: opened at a recompute, on a report of an earlier batch.
        if routed.events.get(alert.id) == "opened" and alert.opened_for is not None:
            held_since = alert.transaction_at or alert.opened_for
            detector.metrics.alert_hold.observe(
                max(0.0, (alert.opened_for - held_since).total_seconds())
            )


def count_peers(session: Session, assessed: Assessed, rows: Sequence[int]) -> None:
    """Adds the inserted reports to the peer groups' daily counts: the peer baselines count
    each stored report once, whichever worker stored it."""
    if rows:
        peer_repository.add_counts(session, peer_counts_of(assessed.peer_rows[list(rows)]))


def learn_on_commit(
    session: Session, state: WindowState, assessed: Assessed, rows: Sequence[int]
) -> None:
    """The window state learns the inserted reports once (and only if) the batch commits."""
    pending = assessed.pending
    if len(rows) != len(assessed.items):
        pending = pending[list(rows)]

    def _apply(_session: Session) -> None:
        state.append(pending)

    event.listen(session, "after_commit", _apply, once=True)
