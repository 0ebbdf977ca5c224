"""Subject queries added for investigations: accounts, counterparties, cases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.alerts.orm import Alert
from services.cases.orm import Case, CaseSubject
from services.reports.orm import Report


class SubjectRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def accounts(self, subject_keys: Sequence[str], limit: int = 200) -> Sequence[Any]:
        statement = (
            select(
                Report.institution_id,
                Report.account_id,
                func.count(),
                func.min(Report.txn_at),
                func.max(Report.txn_at),
            )
            .where(Report.subject_key.in_(subject_keys), Report.account_id.is_not(None))
            .group_by(Report.institution_id, Report.account_id)
            .order_by(func.count().desc(), Report.account_id)
            .limit(limit)
        )
        return self.session.execute(statement).all()

    def counterparties(self, subject_keys: Sequence[str], limit: int = 200) -> Sequence[Any]:
        statement = (
            select(
                Report.counterparty_account_id,
                Report.counterparty_country,
                Report.direction,
                Report.currency,
                func.count(),
                func.sum(Report.amount_minor),
            )
            .where(
                Report.subject_key.in_(subject_keys),
                (Report.counterparty_account_id.is_not(None))
                | (Report.counterparty_country.is_not(None)),
            )
            .group_by(
                Report.counterparty_account_id,
                Report.counterparty_country,
                Report.direction,
                Report.currency,
            )
            .order_by(func.count().desc(), Report.counterparty_account_id)
            .limit(limit)
        )
        return self.session.execute(statement).all()

    def cases_of(self, subject_keys: Sequence[str], limit: int = 100) -> Sequence[Case]:
        via_alerts = select(Alert.case_id).where(
            Alert.subject_key.in_(subject_keys), Alert.case_id.is_not(None)
        )
        via_subjects = select(CaseSubject.case_id).where(CaseSubject.subject_key.in_(subject_keys))
        statement = (
            select(Case)
            .where(Case.id.in_(via_alerts.union(via_subjects)))
            .order_by(Case.created_at.desc(), Case.id.desc())
            .limit(limit)
        )
        return self.session.scalars(statement).all()
