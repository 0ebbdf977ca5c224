"""Filing exports: gather the data, list what is missing (422), build, validate, audit.

Every export is validated against the official schema before it is returned (FinCEN), and
appended to the audit trail with the SHA-256 of the exact bytes handed out: an examiner can
tell which file left the system, when and to whom.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from refdata.business_days import business_day
from refdata.money import Money
from refdata.thresholds import US_CTR_CENTS
from services.alerts.enums import EntityType
from services.alerts.orm import Alert
from services.alerts.service import authorize_read
from services.audit import service as audit
from services.auth.service import Principal
from services.cases.orm import Case
from services.cases.repository import CaseRepository
from services.cases.service import load_case
from services.errors import NotFound, ServiceError
from services.filings import fincen, goaml
from services.filings.mapping import (
    CTR_DETAIL,
    OTHER_CLASSIFICATION,
    SAR_CLASSIFICATION,
    classify,
    currency_country,
    normalise,
)
from services.filings.profile import FilingInstitution, FilingProfile, Transmitter
from services.filings.readiness import PLACEHOLDER, placeholders
from services.filings.repository import FilingRepository
from services.filings.xml import MissingData, validate_fincen, whole_dollars
from services.kit.time import utc_now
from services.reports.orm import Report

# "More than $10,000" (refdata.thresholds): exactly 10,000.00 does not trigger.
CTR_THRESHOLD_USD = Decimal(US_CTR_CENTS).scaleb(-2)
CTR_MAX_REPORTS = 200_000
# Local days read before a period's first business day; a week covers any run of weekend,
# holidays and a night deposit.
CTR_LOOKBACK_DAYS = 7


@dataclass(frozen=True, slots=True)
class Export:
    content: bytes
    media_type: str
    filename: str
    sha256: str
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class Missing:
    """Collects every missing field before failing, so one 422 lists them all."""

    items: list[dict[str, str]] = field(default_factory=list)

    def add(self, field_name: str, message: str) -> None:
        entry = {"field": field_name, "message": message}
        if entry not in self.items:
            self.items.append(entry)

    def raise_if_any(self) -> None:
        if self.items:
            raise MissingData(self.items)


def _record(
    session: Session,
    principal: Principal,
    entity_type: EntityType,
    entity_id: str | int,
    export: Export,
) -> None:
    audit.record(
        session,
        principal=principal,
        action="filing.export",
        entity_type=entity_type.value,
        entity_id=entity_id,
        before=None,
        after={
            "format": export.summary.get("format"),
            "filename": export.filename,
            "sha256": export.sha256,
            "bytes": len(export.content),
            **{k: v for k, v in export.summary.items() if k != "format"},
        },
    )


def _export(content: bytes, media_type: str, filename: str, summary: dict[str, Any]) -> Export:
    return Export(
        content=content,
        media_type=media_type,
        filename=filename,
        sha256=hashlib.sha256(content).hexdigest(),
        summary=summary,
    )


def _usd(report: Report, profile: FilingProfile, missing: Missing) -> Decimal | None:
    """The exact USD value of a report's transaction (None when it has none)."""
    if report.amount_minor is None or report.currency is None:
        return None
    amount = Money(report.amount_minor, report.currency).to_decimal()
    if report.currency == "USD":
        return amount
    rate = profile.fx_rates_to_usd.get(report.currency)
    if rate is None:
        missing.add(
            f"profile.fx_rates_to_usd.{report.currency}",
            f"a USD rate for {report.currency} is needed to report whole US dollars",
        )
        return None
    return amount * rate


def _transmitter(profile: FilingProfile, missing: Missing) -> Transmitter | None:
    if profile.transmitter is None:
        missing.add("profile.transmitter", "the transmitter (name, TCC, TIN, address, phone)")
        return None
    for path in placeholders(profile.transmitter.model_dump(mode="json"), "profile.transmitter"):
        missing.add(path, "still the template's placeholder (amlscreen profile check)")
    return profile.transmitter


def _institution(
    profile: FilingProfile, institution_id: str, missing: Missing
) -> FilingInstitution | None:
    institution = profile.institutions.get(institution_id)
    if institution is None:
        missing.add(
            f"profile.institutions.{institution_id}",
            "the filing institution (name, TIN, regulator, address, contact office)",
        )
        return None
    fields = institution.model_dump(mode="json", exclude={"goaml_rentity_id", "goaml_branch"})
    for path in placeholders(fields, f"profile.institutions.{institution_id}"):
        missing.add(path, "still the template's placeholder (amlscreen profile check)")
    return institution


def _subject_document(report: Report) -> dict[str, Any]:
    subject = report.document.get("subject") if isinstance(report.document, dict) else None
    return dict(subject) if isinstance(subject, dict) else {}


def _suspicion(report: Report) -> dict[str, Any]:
    value = report.document.get("suspicion") if isinstance(report.document, dict) else None
    return value if isinstance(value, dict) else {}


def _branch_id(report: Report) -> str | None:
    txn = report.document.get("transaction") if isinstance(report.document, dict) else None
    location = txn.get("location") if isinstance(txn, dict) else None
    branch = location.get("branch_id") if isinstance(location, dict) else None
    return str(branch) if branch else None


def _labels(alerts: Sequence[Alert], reports: Sequence[Report]) -> list[str]:
    labels: list[str] = []
    for alert in alerts:
        if alert.typology:
            labels.append(alert.typology)
        for hit in alert.rule_hits or []:
            rule = hit.get("rule") if isinstance(hit, dict) else None
            # Rules are regulatory checks, not typologies: only mapped ones classify.
            if isinstance(rule, str) and normalise(rule) in SAR_CLASSIFICATION:
                labels.append(rule)
    for report in reports:
        labels.extend(str(category) for category in _suspicion(report).get("categories") or [])
    return labels


def _dates(reports: Sequence[Report]) -> tuple[date | None, date | None]:
    moments: list[datetime] = []
    for report in reports:
        if report.txn_at is not None:
            moments.append(report.txn_at)
        suspicion = _suspicion(report)
        for key in ("activity_from", "activity_to"):
            if suspicion.get(key):
                moments.append(datetime.fromisoformat(str(suspicion[key]).replace("Z", "+00:00")))
    if not moments:
        return None, None
    return min(moments).astimezone(UTC).date(), max(moments).astimezone(UTC).date()


@dataclass(frozen=True, slots=True)
class SarOptions:
    filing_date: date | None = None
    prior_document_number: int | None = None
    continuing: bool = False


def export_fincen_sar(
    session: Session,
    *,
    principal: Principal,
    case_id: int,
    profile: FilingProfile,
    options: SarOptions | None = None,
) -> Export:
    """Returns the case as a FinCEN SARX batch: one Activity per filing institution."""
    authorize_read(principal)
    options = options or SarOptions()
    case, alerts, subject_keys = load_case(session, case_id)
    if case.jurisdiction != "US":
        raise ServiceError(f"case {case_id} is a {case.jurisdiction} case: a FinCEN SAR is US", 422)
    missing = Missing()
    transmitter = _transmitter(profile, missing)
    narrative = " ".join((case.narrative or "").split())
    if not narrative:
        missing.add("case.narrative", "the SAR narrative (who, what, when, where, why, how)")
    elif len(narrative) > fincen.NARRATIVE_LIMIT:
        missing.add("case.narrative", f"exceeds {fincen.NARRATIVE_LIMIT} characters")
    if (options.continuing or options.prior_document_number) and not (
        options.prior_document_number
    ):
        missing.add("prior_document_number", "a continuing or corrected SAR names the prior one")
    reports = CaseRepository(session).reports_of_alerts(alerts)
    labels = _labels(alerts, reports)
    pairs, unmapped = classify(labels, profile.sar_classification)
    if unmapped:
        pairs.append(OTHER_CLASSIFICATION)
    if not pairs:
        missing.add("classification", "no typology or suspicion category on the case's alerts")
    by_institution: dict[str, list[Report]] = defaultdict(list)
    for report in reports:
        by_institution[report.institution_id].append(report)
    for alert in alerts:
        by_institution.setdefault(alert.institution_id, [])

    filing_date = options.filing_date or utc_now().date()
    activities: list[fincen.SarActivity] = []
    for institution_id in sorted(by_institution):
        institution = _institution(profile, institution_id, missing)
        at_institution = by_institution[institution_id]
        subjects = _sar_subjects(session, alerts, at_institution, subject_keys, institution_id)
        if not subjects:
            missing.add(f"subjects.{institution_id}", "no subject reported at this institution")
        first, last = _dates(at_institution)
        if first is None:
            first = min(a.created_at for a in alerts if a.institution_id == institution_id).date()
        amounts = [_usd(report, profile, missing) for report in at_institution]
        known = [amount for amount in amounts if amount is not None]
        if institution is None:
            continue
        activities.append(
            fincen.SarActivity(
                institution_id=institution_id,
                institution=institution,
                filing_date=filing_date,
                subjects=subjects,
                branch_ids=sorted({b for r in at_institution if (b := _branch_id(r))}),
                from_date=first,
                to_date=last,
                total_usd=whole_dollars(sum(known, Decimal(0))) if known else None,
                classifications=pairs,
                other_text="; ".join(unmapped) if unmapped else None,
                narrative=narrative,
                prior_document_number=options.prior_document_number,
                continuing=options.continuing,
            )
        )
    missing.raise_if_any()
    if transmitter is None:
        raise AssertionError  # Missing raised otherwise
    content, stats = fincen.build_sar_batch(transmitter, activities)
    validate_fincen("SARX", content)
    export = _export(
        content,
        "application/xml",
        f"case-{case.id}-fincen-sar.xml",
        {
            "format": "fincen-sar",
            "activities": stats.activities,
            "parties": stats.parties,
            "total_amount": stats.total_amount,
        },
    )
    _record(session, principal, EntityType.CASE, case.id, export)
    return export


def _sar_subjects(
    session: Session,
    alerts: Sequence[Alert],
    reports: Sequence[Report],
    case_subject_keys: Sequence[str],
    institution_id: str,
) -> list[fincen.SubjectData]:
    """The case's subjects as this institution reported them, with their accounts."""
    latest: dict[str, Report | None] = {}
    accounts: dict[str, set[str]] = defaultdict(set)
    for report in reports:
        latest[report.subject_key] = report
        if report.account_id:
            accounts[report.subject_key].add(report.account_id)
    # Subjects added to the case by hand (a network) join if this institution reported them.
    others = [key for key in case_subject_keys if key not in latest]
    latest.update(FilingRepository(session).latest_at_institution(others, institution_id))
    # An alert without a stored report still names its subject.
    for alert in alerts:
        if alert.institution_id == institution_id and alert.subject_key not in latest:
            latest[alert.subject_key] = None
    subjects = []
    for key in sorted(latest):
        found = latest[key]
        document = _subject_document(found) if found is not None else {}
        subjects.append(
            fincen.SubjectData(
                subject_key=key, document=document, accounts=tuple(sorted(accounts[key]))
            )
        )
    return subjects


def _local_zone(institution: FilingInstitution, field_name: str, missing: Missing) -> ZoneInfo:
    try:
        return ZoneInfo(institution.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        missing.add(field_name, f"unknown time zone {institution.timezone!r}")
        return ZoneInfo("UTC")


def export_fincen_ctr(
    session: Session,
    *,
    principal: Principal,
    institution_id: str,
    date_from: date,
    date_to: date,
    profile: FilingProfile,
    filing_date: date | None = None,
) -> Export:
    """Returns the institution's CTRs of a period as a FinCEN CTRX batch.

    One Activity per subject and business day whose cash-in or cash-out (aggregated across
    branches, never netted) is over $10,000 (31 CFR 1010.311/313). The business day is that of
    :func:`refdata.business_days.business_day`: the institution's local date (its
    ``timezone``), the next day at or after its ``cutoff_hour`` (night deposits), rolled
    forward over weekends and Federal Reserve holidays (1010.313(b)). ``date_from`` and
    ``date_to`` bound business days: a Saturday deposit belongs to the period of its Monday,
    a Friday-night deposit after the cut-off on the last day to the next period.
    """
    authorize_read(principal)
    if date_to < date_from:
        raise ServiceError("'to' is before 'from'", 422)
    if (date_to - date_from).days > 366:
        raise ServiceError("at most one year per export", 422)
    missing = Missing()
    transmitter = _transmitter(profile, missing)
    institution = _institution(profile, institution_id, missing)
    missing.raise_if_any()
    if institution is None or transmitter is None:  # Missing raised otherwise
        raise AssertionError
    zone = _local_zone(institution, f"profile.institutions.{institution_id}.timezone", missing)
    # A business day gathers the transactions of the local days before it that are not
    # business days themselves (a long weekend with a holiday and a night deposit: four).
    start = datetime.combine(date_from - timedelta(days=CTR_LOOKBACK_DAYS), time(), zone)
    end = datetime.combine(date_to + timedelta(days=1), time(), zone)
    reports = FilingRepository(session).cash_reports(institution_id, start, end, CTR_MAX_REPORTS)

    groups: dict[tuple[str, date], list[Report]] = defaultdict(list)
    for report in reports:
        if report.txn_at is None:  # the query filters them out
            continue
        day = business_day(report.txn_at, "US", zone=zone, cutoff_hour=institution.cutoff_hour)
        if date_from <= day <= date_to:
            groups[(report.subject_key, day)].append(report)

    activities: list[fincen.CtrActivity] = []
    for (_subject_key, day), group in sorted(
        groups.items(), key=lambda item: (item[0][1], item[0][0])
    ):
        totals = {"in": Decimal(0), "out": Decimal(0)}
        details: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        accounts: dict[str, set[str]] = {"in": set(), "out": set()}
        atm = False
        for report in group:
            usd = _usd(report, profile, missing)
            if usd is None or report.direction not in totals:
                continue
            direction = str(report.direction)
            totals[direction] += usd
            foreign = report.currency != "USD"
            code = CTR_DETAIL[(direction, "foreign" if foreign else "domestic")]
            details[(code, currency_country(str(report.currency)) if foreign else "")] += usd
            if report.account_id:
                accounts[direction].add(report.account_id)
            txn = report.document.get("transaction") or {}
            atm = atm or (isinstance(txn, dict) and txn.get("channel") == "atm")
        if totals["in"] <= CTR_THRESHOLD_USD and totals["out"] <= CTR_THRESHOLD_USD:
            continue
        activities.append(
            fincen.CtrActivity(
                institution_id=institution_id,
                institution=institution,
                filing_date=filing_date or utc_now().date(),
                business_day=day,
                subject=fincen.SubjectData(
                    subject_key=group[-1].subject_key, document=_subject_document(group[-1])
                ),
                cash_in_usd=whole_dollars(totals["in"]),
                cash_out_usd=whole_dollars(totals["out"]),
                cash_in_accounts=sorted(accounts["in"]),
                cash_out_accounts=sorted(accounts["out"]),
                details=[
                    fincen.CtrDetail(
                        type_code=code, amount_usd=whole_dollars(amount), foreign_country=country
                    )
                    for (code, country), amount in sorted(details.items())
                ],
                transaction_count=len(group),
                atm=atm,
            )
        )
    missing.raise_if_any()
    if not activities:
        raise NotFound(
            f"no cash transactions over $10,000 at {institution_id} from {date_from} to {date_to}"
        )
    content, stats = fincen.build_ctr_batch(transmitter, activities)
    validate_fincen("CTRX", content)
    export = _export(
        content,
        "application/xml",
        f"{institution_id}-{date_from:%Y%m%d}-{date_to:%Y%m%d}-fincen-ctr.xml",
        {
            "format": "fincen-ctr",
            "institution_id": institution_id,
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "activities": stats.activities,
            "parties": stats.parties,
            "total_amount": stats.total_amount,
        },
    )
    _record(
        session,
        principal,
        EntityType.REPORT_EXPORT,
        f"{institution_id}:{date_from:%Y%m%d}:{date_to:%Y%m%d}"[:64],
        export,
    )
    return export


def export_goaml(
    session: Session,
    *,
    principal: Principal,
    case_id: int,
    profile: FilingProfile,
    fiu: str | None = None,
    report_kind: str | None = None,
    institution_id: str | None = None,
) -> Export:
    """Returns the case as a goAML ``<report>``: an STR, or a CTR when every report is an LVTR."""
    authorize_read(principal)
    case, alerts, subject_keys = load_case(session, case_id)
    missing = Missing()
    fiu_name, fiu_profile = _pick_fiu(profile, case, fiu, missing)
    reports = CaseRepository(session).reports_of_alerts(alerts)
    institutions = sorted({a.institution_id for a in alerts})
    if institution_id is None:
        if len(institutions) != 1:
            raise ServiceError(
                "the case spans several institutions: choose one with institution_id",
                422,
                [{"field": "institution_id", "message": f"one of {institutions}"}],
            )
        institution_id = institutions[0]
    elif institution_id not in institutions:
        raise ServiceError(f"no alert of the case comes from {institution_id}", 422)
    reports = [report for report in reports if report.institution_id == institution_id]
    institution = _institution(profile, institution_id, missing)
    if fiu_profile is not None:
        for path in placeholders(fiu_profile.model_dump(mode="json"), f"profile.goaml.{fiu_name}"):
            missing.add(path, "still the template's placeholder (amlscreen profile check)")
    if institution is not None and (
        not institution.goaml_rentity_id or PLACEHOLDER in institution.goaml_rentity_id
    ):
        missing.add(
            f"profile.institutions.{institution_id}.goaml_rentity_id",
            "the reporting entity's goAML id",
        )
    kind = report_kind or (
        "CTR" if reports and all(r.report_type == "LVTR" for r in reports) else "STR"
    )
    report_code = None
    if fiu_profile is not None:
        lookup = "LVTR" if kind == "CTR" else "STR"
        report_code = fiu_profile.report_codes.get(lookup)
        if report_code is None:
            missing.add(f"profile.goaml.{fiu_name}.report_codes.{lookup}", "the FIU's report code")
    reason = " ".join((case.narrative or "").split()) or None
    if kind == "STR" and not reason:
        missing.add("case.narrative", "an STR states the grounds for suspicion")
    transactions: list[goaml.GoAMLTransaction] = []
    for report in reports:
        if report.txn_at is None or report.amount_minor is None or report.currency is None:
            continue
        if kind == "CTR" and report.report_type != "LVTR":
            continue
        if fiu_profile is None:
            break
        transactions.append(_goaml_transaction(report, fiu_profile, fiu_name, missing))
    parties = []
    if not transactions:
        latest = FilingRepository(session).latest_at_institution(subject_keys, institution_id)
        parties = [_subject_document(report) for _, report in sorted(latest.items())]
        if not parties:
            missing.add("transactions", "neither a transaction nor a subject to report")
    labels = [a.typology for a in alerts if a.typology] + [
        str(c) for r in reports for c in _suspicion(r).get("categories") or []
    ]
    missing.raise_if_any()
    if fiu_profile is None or institution is None or report_code is None:
        raise AssertionError  # Missing raised otherwise
    indicators = sorted(
        {
            fiu_profile.indicators.get(normalise(label), fiu_profile.default_indicator)
            for label in labels
        }
    ) or [fiu_profile.default_indicator]
    content = goaml.build_report(
        goaml.GoAMLReport(
            fiu=fiu_profile,
            institution=institution,
            rentity_id=str(institution.goaml_rentity_id),
            report_code=report_code,
            entity_reference=f"CASE-{case.id}",
            submission_date=utc_now().replace(microsecond=0),
            reason=reason,
            transactions=transactions,
            parties=parties,
            indicators=indicators,
        )
    )
    export = _export(
        content,
        "application/xml",
        f"case-{case.id}-goaml-{kind.lower()}.xml",
        {
            "format": "goaml",
            "fiu": fiu_name,
            "report_code": report_code,
            "transactions": len(transactions),
        },
    )
    _record(session, principal, EntityType.CASE, case.id, export)
    return export


def _pick_fiu(
    profile: FilingProfile, case: Case, fiu: str | None, missing: Missing
) -> tuple[str, Any]:
    if fiu is not None:
        chosen = profile.goaml.get(fiu)
        if chosen is None:
            missing.add(f"profile.goaml.{fiu}", "no goAML profile of that FIU")
        return fiu, chosen
    matching = [
        name for name, item in profile.goaml.items() if case.jurisdiction in item.jurisdictions
    ]
    if len(matching) == 1:
        return matching[0], profile.goaml[matching[0]]
    if not matching and len(profile.goaml) == 1:
        name = next(iter(profile.goaml))
        return name, profile.goaml[name]
    missing.add(
        "profile.goaml",
        f"a goAML profile for {case.jurisdiction} (or choose one with fiu=)",
    )
    return "", None


def _goaml_transaction(
    report: Report, fiu: Any, fiu_name: str, missing: Missing
) -> goaml.GoAMLTransaction:
    if report.amount_minor is None or report.currency is None or report.txn_at is None:
        raise AssertionError  # the caller skips reports without a transaction
    amount = Money(report.amount_minor, report.currency).to_decimal()
    rate: Decimal | None = None
    amount_local = amount
    if report.currency != fiu.currency_code_local:
        rate = fiu.fx_rates.get(report.currency)
        if rate is None:
            missing.add(
                f"profile.goaml.{fiu_name}.fx_rates.{report.currency}",
                f"a rate from {report.currency} to {fiu.currency_code_local}",
            )
            rate = Decimal(0)
        amount_local = amount * rate
    instrument = str(report.instrument or "other")
    if instrument not in fiu.transmode_codes:
        missing.add(f"profile.goaml.{fiu_name}.transmode_codes.{instrument}", "transmode code")
    for needed in ("cash", "deposit", "withdrawal", "other"):
        if needed not in fiu.funds_codes:
            missing.add(f"profile.goaml.{fiu_name}.funds_codes.{needed}", "funds code")
    txn: dict[str, Any] = report.document.get("transaction") or {}
    location: dict[str, Any] = txn.get("location") or {}
    counterparty: dict[str, Any] | None = txn.get("counterparty") or None
    return goaml.GoAMLTransaction(
        number=str(report.transaction_id or report.report_id),
        internal_ref=report.report_id,
        at=report.txn_at,
        instrument=instrument,
        direction=str(report.direction or "in"),
        channel=txn.get("channel"),
        amount=amount,
        currency=report.currency,
        amount_local=amount_local,
        rate=rate,
        location=" ".join(
            str(part)
            for part in (location.get("branch_id"), location.get("region"), location.get("country"))
            if part
        )
        or None,
        country=location.get("country"),
        account_id=report.account_id,
        subject=_subject_document(report),
        counterparty=counterparty,
    )
