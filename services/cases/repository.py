"""Every case query. Never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, select, tuple_
from sqlalchemy.orm import Session

from services.alerts.orm import Alert
from services.alerts.repository import AlertRepository
from services.cases.orm import Case, CaseSubject
from services.kit.cursor import Cursor
from services.reports.orm import Report


class CaseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, case: Case) -> Case:
        self.session.add(case)
        self.session.flush()
        return case

    def get(self, case_id: int) -> Case | None:
        return self.session.get(Case, case_id)

    def subject_keys(self, case_id: int) -> list[str]:
        statement = (
            select(CaseSubject.subject_key)
            .where(CaseSubject.case_id == case_id)
            .order_by(CaseSubject.subject_key)
        )
        return list(self.session.scalars(statement).all())

    def add_subjects(self, case_id: int, subject_keys: Sequence[str], now: datetime) -> None:
        existing = set(self.subject_keys(case_id))
        for key in sorted(set(subject_keys) - existing):
            self.session.add(CaseSubject(case_id=case_id, subject_key=key, added_at=now))

    def remove_subjects(self, case_id: int, subject_keys: Sequence[str]) -> None:
        if subject_keys:
            self.session.execute(
                delete(CaseSubject).where(
                    CaseSubject.case_id == case_id, CaseSubject.subject_key.in_(subject_keys)
                )
            )

    def reports_of_alerts(self, alerts: Sequence[Alert]) -> list[Report]:
        """Returns the reports behind these alerts, oldest transaction first.

        An alert's reports are its episode's: the one that opened it and every one that joined
        it (``alert_reports``), so a filing covers the whole episode.
        """
        pks = [alert.report_pk for alert in alerts if alert.report_pk is not None]
        keys = [(a.institution_id, a.report_id) for a in alerts if a.report_pk is None]
        for link in AlertRepository(self.session).links_of([alert.id for alert in alerts]):
            if link.report_pk is not None:
                pks.append(link.report_pk)
            else:
                keys.append((link.institution_id, link.report_id))
        found: dict[int, Report] = {}
        if pks:
            for report in self.session.scalars(select(Report).where(Report.id.in_(pks))):
                found[report.id] = report
        if keys:
            statement = select(Report).where(
                tuple_(Report.institution_id, Report.report_id).in_(keys)
            )
            for report in self.session.scalars(statement):
                found[report.id] = report
        return sorted(
            found.values(), key=lambda report: (report.txn_at or report.filed_at, report.id)
        )

    def page(
        self,
        *,
        status: Sequence[str],
        assignee: str | None,
        jurisdiction: str | None,
        subject_key: str | None,
        deadline_before: datetime | None,
        cursor: Cursor | None,
        limit: int,
    ) -> Sequence[Case]:
        """Returns cases newest first (keyset on ``(created_at, id)``)."""
        statement = select(Case)
        if status:
            statement = statement.where(Case.status.in_(sorted(set(status))))
        if assignee is not None:
            statement = statement.where(Case.assignee == assignee)
        if jurisdiction is not None:
            statement = statement.where(Case.jurisdiction == jurisdiction)
        if subject_key is not None:
            statement = statement.where(
                Case.id.in_(
                    select(CaseSubject.case_id).where(CaseSubject.subject_key == subject_key)
                )
            )
        if deadline_before is not None:
            statement = statement.where(Case.deadline_at < deadline_before)
        if cursor is not None:
            boundary = tuple_(
                bindparam(None, cursor.value, type_=Case.created_at.type),
                bindparam(None, cursor.id, type_=Case.id.type),
            )
            statement = statement.where(tuple_(Case.created_at, Case.id) < boundary)
        statement = statement.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)
        return self.session.scalars(statement).all()

    def alert_ids(self, case_id: int) -> list[int]:
        statement = select(Alert.id).where(Alert.case_id == case_id).order_by(Alert.id)
        return list(self.session.scalars(statement).all())
