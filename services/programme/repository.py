"""Every query of the programme results report. Read-only; periods are half-open ``[start, end)``.

The report counts what other domains recorded: reports, alerts, the audit trail (exports),
assets and their events, and the ledger. Aggregations that both SQLite and PostgreSQL can do
run in the database; medians are computed by the service from the durations returned here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, distinct, func, or_, select
from sqlalchemy.orm import Session, aliased

from services.alerts.enums import EntityType
from services.alerts.orm import Alert
from services.assets.enums import AssetStatus
from services.assets.orm import Asset, AssetEvent, AssetParticipant
from services.audit.orm import AuditEvent
from services.cases.orm import Case
from services.ledger.enums import EntryKind
from services.ledger.orm import LedgerEntry, LedgerLine
from services.reports.orm import Report

EXPORT_ACTION = "filing.export"
SETTLED = (AssetStatus.DISBURSED.value, AssetStatus.TRANSFERRED_FOREIGN.value)


class Decision(NamedTuple):
    jurisdiction: str
    status: str
    disposition: str | None
    created_at: datetime
    decided_at: datetime


class ExportEvent(NamedTuple):
    entity_type: str
    entity_id: str
    after: dict[str, Any] | None


class PostedLine(NamedTuple):
    """A line of a posting approved in the period; a reversal carries its target's kind."""

    kind: str
    reversal: bool
    asset_id: int | None
    account: str
    currency: str
    amount_minor: int


class Settlement(NamedTuple):
    asset_id: int
    jurisdiction: str
    seized_at: datetime | None
    settled_at: datetime


class ProgrammeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def reports_by_type(self, start: datetime, end: datetime) -> list[tuple[str, str, int]]:
        """(jurisdiction, report type, count) of reports received in the period."""
        statement = (
            select(Report.jurisdiction, Report.report_type, func.count())
            .where(Report.received_at >= start, Report.received_at < end)
            .group_by(Report.jurisdiction, Report.report_type)
        )
        return [(j, t, int(n)) for j, t, n in self.session.execute(statement)]

    def subjects_screened(self, start: datetime, end: datetime) -> list[tuple[str, int]]:
        """(jurisdiction, distinct subject keys) of the reports received in the period."""
        statement = (
            select(Report.jurisdiction, func.count(distinct(Report.subject_key)))
            .where(Report.received_at >= start, Report.received_at < end)
            .group_by(Report.jurisdiction)
        )
        return [(j, int(n)) for j, n in self.session.execute(statement)]

    def subjects_screened_overall(self, start: datetime, end: datetime) -> int:
        """Distinct subject keys over every jurisdiction (a subject may be in both)."""
        statement = select(func.count(distinct(Report.subject_key))).where(
            Report.received_at >= start, Report.received_at < end
        )
        return int(self.session.scalar(statement) or 0)

    def alerts_raised(self, start: datetime, end: datetime) -> list[tuple[str, int]]:
        statement = (
            select(Alert.jurisdiction, func.count())
            .where(Alert.created_at >= start, Alert.created_at < end)
            .group_by(Alert.jurisdiction)
        )
        return [(j, int(n)) for j, n in self.session.execute(statement)]

    def decisions(self, start: datetime, end: datetime) -> list[Decision]:
        """Alerts decided (filed or closed) in the period, with when they were raised."""
        statement = select(
            Alert.jurisdiction, Alert.status, Alert.disposition, Alert.created_at, Alert.decided_at
        ).where(Alert.decided_at >= start, Alert.decided_at < end)
        return [
            Decision(jurisdiction, status, disposition, created_at, decided_at)
            for jurisdiction, status, disposition, created_at, decided_at in self.session.execute(
                statement
            )
            if decided_at is not None
        ]

    def exports(self, start: datetime, end: datetime) -> list[ExportEvent]:
        """Every filing exported in the period (the audit trail records each one)."""
        statement = (
            select(AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.after)
            .where(
                AuditEvent.at >= start,
                AuditEvent.at < end,
                AuditEvent.action == EXPORT_ACTION,
            )
            .order_by(AuditEvent.id)
        )
        return [ExportEvent(*row) for row in self.session.execute(statement)]

    def case_jurisdictions(self, case_ids: Sequence[int]) -> dict[int, str]:
        if not case_ids:
            return {}
        statement = select(Case.id, Case.jurisdiction).where(Case.id.in_(sorted(set(case_ids))))
        return {int(row[0]): str(row[1]) for row in self.session.execute(statement)}

    def assets_by_date(
        self, column: str, start: datetime, end: datetime
    ) -> list[tuple[str, str, int, int]]:
        """(jurisdiction, currency, count, total value) of assets whose ``column`` date falls
        in the period: ``seized_at`` or ``forfeited_at``."""
        moment = {"seized_at": Asset.seized_at, "forfeited_at": Asset.forfeited_at}[column]
        statement = (
            select(Asset.jurisdiction, Asset.currency, func.count(), func.sum(Asset.value_minor))
            .where(moment >= start, moment < end)
            .group_by(Asset.jurisdiction, Asset.currency)
        )
        return [(j, c, int(n), int(v or 0)) for j, c, n, v in self.session.execute(statement)]

    def posted_lines(
        self, kinds: Sequence[EntryKind], start: datetime, end: datetime
    ) -> list[PostedLine]:
        """Lines of postings of ``kinds`` (or reversals of them) approved in the period."""
        decision = aliased(LedgerEntry, name="decision")
        target = aliased(LedgerEntry, name="reversed")
        names = [kind.value for kind in kinds]
        statement = (
            select(
                func.coalesce(target.kind, LedgerEntry.kind),
                LedgerEntry.kind == EntryKind.REVERSAL.value,
                LedgerEntry.asset_id,
                LedgerLine.account,
                LedgerLine.currency,
                LedgerLine.amount_minor,
            )
            .join(LedgerEntry, LedgerEntry.seq == LedgerLine.entry_seq)
            .join(decision, decision.decision_for == LedgerEntry.seq)
            .outerjoin(target, target.seq == LedgerEntry.reverses)
            .where(
                decision.kind == EntryKind.APPROVE.value,
                decision.created_at >= start,
                decision.created_at < end,
                or_(
                    LedgerEntry.kind.in_(names),
                    and_(LedgerEntry.kind == EntryKind.REVERSAL.value, target.kind.in_(names)),
                ),
            )
            .order_by(LedgerEntry.seq, LedgerLine.line_no)
        )
        return [
            PostedLine(kind, bool(reversal), asset_id, account, currency, int(amount))
            for kind, reversal, asset_id, account, currency, amount in self.session.execute(
                statement
            )
        ]

    def asset_jurisdictions(self, asset_ids: Sequence[int]) -> dict[int, str]:
        if not asset_ids:
            return {}
        statement = select(Asset.id, Asset.jurisdiction).where(Asset.id.in_(sorted(set(asset_ids))))
        return {int(row[0]): str(row[1]) for row in self.session.execute(statement)}

    def participant_countries(self, asset_ids: Sequence[int]) -> dict[tuple[int, str], str]:
        """(asset id, agency id) → the participant's country."""
        if not asset_ids:
            return {}
        statement = select(
            AssetParticipant.asset_id, AssetParticipant.agency_id, AssetParticipant.country
        ).where(AssetParticipant.asset_id.in_(sorted(set(asset_ids))))
        return {(a, agency): country for a, agency, country in self.session.execute(statement)}

    def settlements(self, start: datetime, end: datetime) -> list[Settlement]:
        """Assets whose sharing was settled (disbursed or transferred abroad) in the period."""
        statement = (
            select(Asset.id, Asset.jurisdiction, Asset.seized_at, AssetEvent.effective_at)
            .join(Asset, Asset.id == AssetEvent.asset_id)
            .where(
                AssetEvent.to_status.in_(SETTLED),
                AssetEvent.effective_at >= start,
                AssetEvent.effective_at < end,
            )
        )
        return [Settlement(*row) for row in self.session.execute(statement)]


def is_case_export(event: ExportEvent) -> bool:
    return event.entity_type == EntityType.CASE.value
