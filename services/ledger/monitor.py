"""Periodic ledger verification in the API, recorded in the ``amlscreen_ledger_*`` gauges.

Verification is the ledger's alarm: a hash chain that no longer replays, or balances that
no longer add up, mean the books were changed outside the service. Running it on a schedule
inside the API (and on a ``GET /v1/ledger/verify`` against the operator's anchor) keeps
``amlscreen_ledger_verification_ok`` and its timestamp current, so the
``AmlscreenLedgerVerificationFailed`` and ``…Stale`` alerts mean what they say.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from services.config import Settings
from services.ledger.service import VerifyReport, verify
from services.metrics import ApiMetrics

log = logging.getLogger(__name__)


def record(metrics: ApiMetrics, report: VerifyReport) -> None:
    """Puts one verification's outcome into the gauges (and the log if it failed)."""
    metrics.record_ledger_verification(ok=report.ok, pending=report.pending)
    if not report.ok and report.first_error is not None:
        log.error(
            "ledger verification FAILED at entry %s: %s",
            report.first_error.seq,
            report.first_error.reason,
        )


def anchor(settings: Settings) -> tuple[int | None, str | None]:
    """The operator's anchor (``AMLSCREEN_LEDGER_ANCHOR_SEQ`` / ``_HASH``), or (None, None)."""
    return settings.ledger_anchor_seq, settings.ledger_anchor_hash


def verify_and_record(
    sessions: sessionmaker[Session],
    metrics: ApiMetrics,
    expected: tuple[int | None, str | None] = (None, None),
) -> VerifyReport:
    """Replays the whole ledger in a read-only transaction and records the outcome."""
    with sessions() as session:
        report = verify(session, expect_seq=expected[0], expect_hash=expected[1])
        session.rollback()
    record(metrics, report)
    return report


async def verify_periodically(
    sessions: sessionmaker[Session],
    metrics: ApiMetrics,
    interval_s: float,
    expected: tuple[int | None, str | None] = (None, None),
) -> None:
    """Verifies at start, then every ``interval_s`` seconds, until cancelled.

    A run that cannot complete (database unreachable) leaves the gauges as they were: the
    timestamp then ages and the stale-verification alert fires, which is the right signal.
    """
    while True:
        try:
            await asyncio.to_thread(verify_and_record, sessions, metrics, expected)
        except Exception:  # noqa: BLE001 - logged; the next run retries
            log.exception("ledger verification could not run")
        await asyncio.sleep(interval_s)
