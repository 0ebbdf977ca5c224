"""The programme results report (section 13 of the memorandum, "Summarizing Success").

For a period (whole UTC days, both ends included) and per country, what the programme did:
reports received by type, subjects screened, alerts raised and decided, filings exported,
assets seized and forfeited, money remitted and shared, and how long alerts waited for a
decision and seized assets for their money to be paid out.

Where each figure comes from, and which country it counts for:

* reports, subjects: reports *received* in the period, by the report's jurisdiction; a subject
  reported in both countries counts once in each and once in the total;
* alerts raised: created in the period; decided: FILED or CLOSED in the period (with the
  disposition), by the alert's jurisdiction; the median runs from raising to deciding;
* exports: every filing handed out in the period (the audit trail records each download with
  the SHA-256 of the file), by the case's jurisdiction (a CTR batch counts for the US);
* assets: seized or forfeited in the period, by the asset's jurisdiction, with their value;
* remitted and shared: ledger postings *approved* in the period (reversals subtract), by the
  asset's jurisdiction; shares are listed per receiving agency (the federal share as
  ``federal:<country>``) and per receiving country;
* seizure to disbursement: assets settled (DISBURSED or TRANSFERRED_FOREIGN) in the period,
  from their seizure date.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from services.alerts.enums import AlertStatus
from services.auth.enums import INVESTIGATIVE_ROLES
from services.auth.service import Principal
from services.errors import Forbidden, ServiceError
from services.kit.time import utc_now
from services.ledger import accounts
from services.ledger.enums import EntryKind
from services.programme.repository import (
    ExportEvent,
    PostedLine,
    ProgrammeRepository,
    is_case_export,
)
from services.programme.schemas import (
    CountryFigures,
    Duration,
    MoneyTotal,
    ProgrammeReport,
    ShareTotal,
)

# The report tells what the unit concluded (alerts, filings): never for reporters.
PROGRAMME_ROLES = INVESTIGATIVE_ROLES
MAX_PERIOD_DAYS = 3660
ALL = "ALL"
CTR_COUNTRY = "US"  # a FinCEN CTR batch is a US filing
HOUR_S = 3600.0
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days, ``first`` to ``last`` included."""

    first: date
    last: date

    @classmethod
    def of(cls, first: date, last: date) -> Period:
        """Raises ServiceError (422) for an empty or overlong period."""
        if last < first:
            raise ServiceError(
                "the period ends before it starts", 422, [{"field": "to", "message": "before from"}]
            )
        if (last - first).days >= MAX_PERIOD_DAYS:
            raise ServiceError(
                f"the period is longer than {MAX_PERIOD_DAYS} days",
                422,
                [{"field": "to", "message": f"at most {MAX_PERIOD_DAYS} days after from"}],
            )
        return cls(first, last)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC)


def authorize(principal: Principal) -> None:
    if principal.role not in PROGRAMME_ROLES:
        raise Forbidden("the programme report is for investigators, supervisors, auditors, admins")


@dataclass
class _Figures:
    reports: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    subjects: int = 0
    alerts: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    exports: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seized: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    forfeited: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    remitted: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_agency: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    by_country: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    decision_s: list[float] = field(default_factory=list)
    settlement_s: list[float] = field(default_factory=list)


def _money(totals: dict[str, list[int]]) -> list[MoneyTotal]:
    return [
        MoneyTotal(currency=currency, count=count, amount_minor=amount)
        for currency, (count, amount) in sorted(totals.items())
        if count or amount
    ]


def _shares(totals: dict[tuple[str, str], int]) -> list[ShareTotal]:
    return [
        ShareTotal(key=key, currency=currency, amount_minor=amount)
        for (key, currency), amount in sorted(totals.items())
        if amount
    ]


def _median(seconds: list[float], unit_s: float, unit: str) -> Duration:
    if not seconds:
        return Duration(count=0, median=None, unit=unit)
    return Duration(
        count=len(seconds), median=round(statistics.median(seconds) / unit_s, 2), unit=unit
    )


def _figures(country: str, figures: _Figures) -> CountryFigures:
    return CountryFigures(
        country=country,
        reports_received=dict(sorted(figures.reports.items())),
        subjects_screened=figures.subjects,
        alerts_raised=figures.alerts,
        alert_decisions=dict(sorted(figures.decisions.items())),
        exports=dict(sorted(figures.exports.items())),
        assets_seized=_money(figures.seized),
        assets_forfeited=_money(figures.forfeited),
        remitted=_money(figures.remitted),
        shared_by_agency=_shares(figures.by_agency),
        shared_by_country=_shares(figures.by_country),
        alert_to_decision=_median(figures.decision_s, HOUR_S, "hours"),
        seizure_to_disbursement=_median(figures.settlement_s, DAY_S, "days"),
    )


def _decision_key(status: str, disposition: str | None) -> str:
    if status == AlertStatus.CLOSED.value:
        return f"CLOSED:{disposition or 'UNSPECIFIED'}"
    return status


def _export_countries(
    repository: ProgrammeRepository, events: list[ExportEvent]
) -> Iterable[tuple[str, str]]:
    """(country, format) of each export."""
    case_ids = [int(event.entity_id) for event in events if is_case_export(event)]
    jurisdiction = repository.case_jurisdictions(case_ids)
    for event in events:
        export_format = str((event.after or {}).get("format") or "unknown")
        if is_case_export(event):
            yield jurisdiction.get(int(event.entity_id), "??"), export_format
        else:
            yield CTR_COUNTRY, export_format


def _share_recipient(
    line: PostedLine, home: str, countries: dict[tuple[int, str], str]
) -> tuple[str, str] | None:
    """(agency, country) receiving a line of an allocation, or None for other accounts."""
    account = line.account
    if account == accounts.FEDERAL_SHARE:
        return f"federal:{home}", home
    if accounts.is_foreign_payable(account):
        country = accounts.foreign_country(account)
        return f"foreign:{country}", country
    if account.startswith("agency:") and account.endswith(":payable"):
        agency = account.split(":")[1]
        return agency, countries.get((line.asset_id or 0, agency), home)
    return None


def build_report(
    session: Session, period: Period, *, now: datetime | None = None
) -> ProgrammeReport:
    """Computes the report (no authorization: the CLI runs it with the database's own rights)."""
    repository = ProgrammeRepository(session)
    start, end = period.start, period.end
    by_country: dict[str, _Figures] = defaultdict(_Figures)
    total = _Figures()

    for country, report_type, count in repository.reports_by_type(start, end):
        by_country[country].reports[report_type] += count
        total.reports[report_type] += count
    for country, count in repository.subjects_screened(start, end):
        by_country[country].subjects = count
    total.subjects = repository.subjects_screened_overall(start, end)
    for country, count in repository.alerts_raised(start, end):
        by_country[country].alerts = count
        total.alerts += count
    for decision in repository.decisions(start, end):
        key = _decision_key(decision.status, decision.disposition)
        waited = (decision.decided_at - decision.created_at).total_seconds()
        for figures in (by_country[decision.jurisdiction], total):
            figures.decisions[key] += 1
            figures.decision_s.append(waited)
    for country, export_format in _export_countries(repository, repository.exports(start, end)):
        by_country[country].exports[export_format] += 1
        total.exports[export_format] += 1
    for column, attribute in (("seized_at", "seized"), ("forfeited_at", "forfeited")):
        for country, currency, count, value in repository.assets_by_date(column, start, end):
            for figures in (by_country[country], total):
                bucket = getattr(figures, attribute)[currency]
                bucket[0] += count
                bucket[1] += value

    lines = repository.posted_lines([EntryKind.REMISSION, EntryKind.ALLOCATION], start, end)
    asset_ids = sorted({line.asset_id for line in lines if line.asset_id is not None})
    home_of = repository.asset_jurisdictions(asset_ids)
    agency_countries = repository.participant_countries(asset_ids)
    for line in lines:
        home = home_of.get(line.asset_id or 0, "??")
        if line.kind == EntryKind.REMISSION.value and line.account.startswith("remission:"):
            for figures in (by_country[home], total):
                bucket = figures.remitted[line.currency]
                bucket[0] += -1 if line.reversal else 1
                bucket[1] += line.amount_minor
        elif line.kind == EntryKind.ALLOCATION.value:
            recipient = _share_recipient(line, home, agency_countries)
            if recipient is None:
                continue
            agency, country = recipient
            for figures in (by_country[home], total):
                figures.by_agency[(agency, line.currency)] += line.amount_minor
                figures.by_country[(country, line.currency)] += line.amount_minor
    for settlement in repository.settlements(start, end):
        if settlement.seized_at is None:
            continue
        held = (settlement.settled_at - settlement.seized_at).total_seconds()
        by_country[settlement.jurisdiction].settlement_s.append(held)
        total.settlement_s.append(held)

    return ProgrammeReport(
        period_from=period.first,
        period_to=period.last,
        generated_at=now or utc_now(),
        countries=[_figures(country, by_country[country]) for country in sorted(by_country)],
        total=_figures(ALL, total),
    )


def programme_report(session: Session, *, principal: Principal, period: Period) -> ProgrammeReport:
    """The report for a caller of an investigative role (reporters never see it)."""
    authorize(principal)
    return build_report(session, period)


CSV_COLUMNS = ("country", "metric", "key", "currency", "value")


def _csv_rows(figures: CountryFigures) -> Iterable[tuple[str, str, str, str, object]]:
    country = figures.country
    for report_type, count in figures.reports_received.items():
        yield country, "reports_received", report_type, "", count
    yield country, "subjects_screened", "", "", figures.subjects_screened
    yield country, "alerts_raised", "", "", figures.alerts_raised
    for key, count in figures.alert_decisions.items():
        yield country, "alert_decisions", key, "", count
    for export_format, count in figures.exports.items():
        yield country, "exports", export_format, "", count
    for metric, totals in (
        ("assets_seized", figures.assets_seized),
        ("assets_forfeited", figures.assets_forfeited),
        ("remitted", figures.remitted),
    ):
        for item in totals:
            yield country, metric, "", item.currency, item.count
            yield country, f"{metric}_minor", "", item.currency, item.amount_minor
    for metric, shares in (
        ("shared_by_agency_minor", figures.shared_by_agency),
        ("shared_by_country_minor", figures.shared_by_country),
    ):
        for share in shares:
            yield country, metric, share.key, share.currency, share.amount_minor
    for metric, duration in (
        ("alert_to_decision", figures.alert_to_decision),
        ("seizure_to_disbursement", figures.seizure_to_disbursement),
    ):
        yield country, f"{metric}_count", "", "", duration.count
        median = "" if duration.median is None else duration.median
        yield country, f"{metric}_median_{duration.unit}", "", "", median


def to_csv(report: ProgrammeReport) -> str:
    """One row per figure: ``country, metric, key, currency, value`` (amounts in minor units)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for figures in [*report.countries, report.total]:
        writer.writerows(_csv_rows(figures))
    return buffer.getvalue()
