"""Subject queries added for investigations: name links, accounts, counterparties, cases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.alerts.orm import Alert
from services.cases.orm import Case, CaseSubject
from services.kit.sql import insert_ignoring_conflicts
from services.kit.time import utc_now
from services.reports.orm import Report
from services.subjects.orm import SubjectName


class SubjectRepository:
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

    def latest_subject_document(self, subject_key: str) -> dict[str, Any] | None:
        statement = (
            select(Report.document)
            .where(Report.subject_key == subject_key)
            .order_by(Report.filed_at.desc(), Report.id.desc())
            .limit(1)
        )
        document = self.session.scalar(statement)
        if isinstance(document, dict) and isinstance(document.get("subject"), dict):
            subject: dict[str, Any] = document["subject"]
            return subject
        return None

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
