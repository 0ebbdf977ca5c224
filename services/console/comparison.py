"""An alert's subject against its own usual behaviour and against its peers.

Four measures of the week before the alerted transaction — reports, amount, cash and
cross-border amount (amounts in the currency of the alerted transaction) — each beside:

* the subject's own baseline: the 23 days before that week, scaled to a week (the same split
  as the detector's "jump" features);
* its peers: the median week of other subjects the same institution reported in that same
  week, over a bounded sample of them (see ``QueueRepository.peer_subjects``).

It is computed from the stored reports when the page is read, so it shows what the store
holds now, which can include reports that arrived after the alert.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.alerts.orm import Alert
from services.console.repository import PeerTotals, QueueRepository, WindowRow
from services.reports.orm import Report

WEEK = timedelta(days=7)
BASELINE = timedelta(days=23)


@dataclass(frozen=True, slots=True)
class Measure:
    key: str
    label: str
    currency: str | None  # None: a count
    current: float
    baseline: float
    peers: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    at: datetime
    currency: str | None
    peers_compared: int
    baseline_days: int
    measures: list[Measure]


def _totals(rows: list[WindowRow], currency: str | None) -> tuple[int, int, int, int]:
    count = amount = cash = cross_border = 0
    for row in rows:
        count += 1
        if currency is None or row.currency != currency or row.amount_minor is None:
            continue
        amount += row.amount_minor
        if row.instrument == "cash":
            cash += row.amount_minor
        if row.counterparty_country and row.counterparty_country != row.jurisdiction:
            cross_border += row.amount_minor
    return count, amount, cash, cross_border


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def compare(session: Session, alert: Alert, report: Report | None) -> Comparison:
    """The measures of the alert's subject, its baseline and its peers (read-only)."""
    at = alert.transaction_at or (report.txn_at if report else None) or alert.created_at
    currency = report.currency if report is not None else None
    repository = QueueRepository(session)
    rows = repository.subject_window(alert.subject_key, at - WEEK - BASELINE, at)
    recent = [row for row in rows if row.txn_at > at - WEEK]
    earlier = [row for row in rows if row.txn_at <= at - WEEK]
    current = _totals(recent, currency)
    history = _totals(earlier, currency)
    scale = WEEK / BASELINE
    peers_keys = repository.peer_subjects(alert.institution_id, alert.subject_key, at - WEEK, at)
    peers: list[PeerTotals] = repository.peer_totals(peers_keys, at - WEEK, at, currency)
    peer_values = [
        [peer.reports for peer in peers],
        [peer.amount_minor for peer in peers],
        [peer.cash_minor for peer in peers],
        [peer.cross_border_minor for peer in peers],
    ]
    names = [
        ("reports", "Reports in the week", None),
        ("amount", "Amount in the week", currency),
        ("cash", "Cash in the week", currency),
        ("cross_border", "Cross-border amount in the week", currency),
    ]
    measures = [
        Measure(
            key=key,
            label=label,
            currency=unit,
            current=float(current[index]),
            baseline=round(history[index] * scale, 2),
            peers=_median(peer_values[index]),
        )
        for index, (key, label, unit) in enumerate(names)
        if index == 0 or currency is not None
    ]
    return Comparison(
        at=at,
        currency=currency,
        peers_compared=len(peers),
        baseline_days=BASELINE.days,
        measures=measures,
    )
