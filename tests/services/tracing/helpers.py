"""Hand-built transfer graphs written straight into the reports table."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from services.reports.orm import Report

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_counter = itertools.count(1)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def transfer_row(
    source: str,
    target: str,
    amount_minor: int,
    hours: float,
    *,
    side: str = "out",
    currency: str = "USD",
    institution_id: str | None = None,
    transaction_id: str | None = None,
    report_id: str | None = None,
    report_type: str = "TXN",
) -> dict[str, Any]:
    """Returns a reports row: ``side='out'`` is the sender's view, ``'in'`` the receiver's."""
    number = next(_counter)
    holder, other = (source, target) if side == "out" else (target, source)
    institution = institution_id or f"FI-{holder}"
    return {
        "institution_id": institution,
        "report_id": report_id or f"R{number}",
        "report_type": report_type,
        "jurisdiction": "US",
        "filed_at": at(hours) + timedelta(days=1),
        "subject_key": f"SUBJ-{holder}",
        "subject_id": f"C-{holder}",
        "transaction_id": transaction_id or f"T{number}",
        "txn_at": at(hours),
        "amount_minor": amount_minor,
        "currency": currency,
        "instrument": "wire",
        "direction": side,
        "account_id": holder,
        "counterparty_account_id": other,
        "counterparty_country": "MX" if other.startswith("MX") else "US",
        "document": {
            "transaction": {
                "location": {"country": "US"},
                "counterparty": {"institution_id": f"FI-{other}", "account_id": other},
            }
        },
        "content_sha256": f"{number:064d}",
        "status": "received",
        "received_at": at(hours),
    }


def store(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(insert(Report), rows)
    session.flush()


def graph(session: Session, edges: list[tuple[str, str, int, float]], **kwargs: Any) -> None:
    """Stores ``(source, target, amount_minor, hours after T0)`` transfers, sender's view."""
    store(session, [transfer_row(s, t, a, h, **kwargs) for s, t, a, h in edges])
