"""Report queries for filings. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.reports.orm import Report


class FilingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def cash_reports(
        self, institution_id: str, start: datetime, end: datetime, limit: int
    ) -> Sequence[Report]:
        """US cash transactions of an institution in ``[start, end)``, oldest first."""
        statement = (
            select(Report)
            .where(
                Report.institution_id == institution_id,
                Report.jurisdiction == "US",
                Report.instrument == "cash",
                Report.txn_at >= start,
                Report.txn_at < end,
            )
            .order_by(Report.subject_key, Report.txn_at, Report.id)
            .limit(limit)
        )
        return self.session.scalars(statement).all()

    def latest_at_institution(
        self, subject_keys: Sequence[str], institution_id: str
    ) -> dict[str, Report]:
        """The latest report of each subject key at one institution."""
        if not subject_keys:
            return {}
        statement = (
            select(Report)
            .where(Report.subject_key.in_(subject_keys), Report.institution_id == institution_id)
            .order_by(Report.filed_at, Report.id)
        )
        return {report.subject_key: report for report in self.session.scalars(statement)}
