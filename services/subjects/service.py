"""Subject profile across institutions: entity resolution, accounts, counterparties, alerts, cases.

Two kinds of link between subject keys:

* **identifier** (confidence 1.0): the same normalised SSN/ITIN/EIN/RFC/CURP/passport digest was
  reported for both keys. Identifier-linked keys are merged into the profile (reports, accounts,
  counterparties, alerts and cases).
* **name** (weaker, confidence 0.5–0.9): the same normalised name and the same subject type;
  the same country and the same birth date raise the confidence. Name links are listed with
  their confidence and basis, never merged. Names are indexed when a subject is alerted
  (``index_subject_names``).

Names are normalised as watchlist screening normalises them (``services.watchlists.names``,
built on ``rigour``): case, accents, punctuation, word order and honorifics ignored, legal
forms dropped, Cyrillic, Greek, Armenian and Georgian latinised; Arabic, Hebrew and CJK names
keep their own letters (they used to be deleted, and so never linked). docs/watchlists.md has
the confidence rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from refdata.money import Money
from services.alerts.repository import AlertRepository
from services.auth.enums import INVESTIGATIVE_ROLES
from services.auth.service import Principal
from services.errors import Forbidden, NotFound
from services.reports.orm import Report
from services.reports.repository import ReportRepository
from services.subjects.repository import SubjectRepository
from services.watchlists.names import kind_of, link_key
from services.watchlists.schemas import SubjectMatchRead
from services.watchlists.views import subject_matches

NAME_ONLY = 0.5
NAME_AND_COUNTRY = 0.6
NAME_AND_BIRTH_DATE = 0.85
NAME_COUNTRY_AND_BIRTH_DATE = 0.9


def name_key(name: str, subject_type: str | None = None) -> str:
    """Returns a name normalised for linking: "PÉREZ, Juan" and "Sr. Juan Pérez" → "juan
    perez"; "Сергей Иванов" → "ivanov sergei"; "Acme S.A. de C.V." → "acme"."""
    return link_key(name, kind_of(subject_type, name))


def name_rows(subject_key: str, subject: Any) -> list[dict[str, Any]]:
    """Returns the subject_names rows a report's subject document contributes."""
    if not isinstance(subject, dict):
        return []
    name = subject.get("name")
    subject_type = subject.get("type")
    if not isinstance(name, str):
        return []
    key = name_key(name, subject_type if isinstance(subject_type, str) else None)
    if not key:
        return []
    birth = subject.get("birth_date")
    return [
        {
            "name_key": key,
            "subject_key": subject_key,
            "subject_type": subject.get("type"),
            "country": subject.get("country"),
            "birth_date": str(birth)[:10] if birth else None,
        }
    ]


def index_subject_names(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Records normalised names for name-based links (idempotent, flush only)."""
    unique = {(row["name_key"], row["subject_key"]): row for row in rows}
    SubjectRepository(session).index_names(list(unique.values()))


def subject_is_identified(subject: Any) -> bool:
    """True when a report's subject has a name or an identifier (SAR 30- vs 60-day clock)."""
    if not isinstance(subject, dict):
        return True
    return bool(subject.get("name")) or bool(subject.get("identifiers"))


@dataclass(frozen=True, slots=True)
class SubjectLink:
    subject_key: str
    link: str  # "identifier" | "name"
    confidence: float
    basis: list[str]


@dataclass(frozen=True, slots=True)
class SubjectProfile:
    subject_key: str
    linked_subject_keys: list[str]
    names: list[dict[str, Any]]
    institutions: list[str]
    identifiers: list[dict[str, Any]]
    report_count: int
    reports: list[Report]
    links: list[SubjectLink] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    counterparties: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    watchlist_matches: list[SubjectMatchRead] = field(default_factory=list)


def _require_investigator(principal: Principal) -> None:
    if principal.role not in INVESTIGATIVE_ROLES:
        raise Forbidden("subject profiles are for investigators, supervisors and auditors")


def get_profile(
    session: Session, *, principal: Principal, subject_key: str, limit: int = 100
) -> SubjectProfile:
    """Returns what is known of a subject, including subject keys sharing an identifier."""
    _require_investigator(principal)
    repository = ReportRepository(session)
    identifiers = repository.identifiers_of(subject_key)
    linked = repository.subject_keys_sharing([row.digest for row in identifiers]) | {subject_key}
    keys = sorted(linked)
    reports = list(repository.for_subjects(keys, limit))
    if not reports:
        raise NotFound(f"no report about subject {subject_key}")
    names = Counter(
        str(report.document.get("subject", {}).get("name"))
        for report in reports
        if report.document.get("subject", {}).get("name")
    )
    subjects = SubjectRepository(session)
    links = [
        SubjectLink(key, "identifier", 1.0, ["shared identifier"])
        for key in keys
        if key != subject_key
    ]
    links.extend(_name_links(subjects, keys))
    alert_rows = AlertRepository(session).for_subjects(keys, limit)
    return SubjectProfile(
        subject_key=subject_key,
        linked_subject_keys=[key for key in keys if key != subject_key],
        names=[{"name": name, "reports": count} for name, count in names.most_common()],
        institutions=sorted({report.institution_id for report in reports}),
        identifiers=[
            {"type": row.id_type, "country": row.country, "digest": row.digest}
            for row in identifiers
        ],
        report_count=repository.count_for_subjects(keys),
        reports=reports,
        links=links,
        accounts=[
            {
                "institution_id": institution,
                "account_id": account,
                "reports": count,
                "first_seen": first,
                "last_seen": last,
            }
            for institution, account, count, first, last in subjects.accounts(keys)
        ],
        counterparties=[
            {
                "account_id": account,
                "country": country,
                "direction": direction,
                "currency": currency,
                "reports": count,
                "total": Money(int(total), currency).format() if currency and total else None,
            }
            for account, country, direction, currency, count, total in subjects.counterparties(keys)
        ],
        alerts=[dict(row._mapping) for row in alert_rows],
        cases=[
            {
                "id": case.id,
                "title": case.title,
                "status": case.status,
                "jurisdiction": case.jurisdiction,
                "created_at": case.created_at,
            }
            for case in subjects.cases_of(keys)
        ],
        watchlist_matches=subject_matches(session, keys),
    )


def _name_links(subjects: SubjectRepository, keys: Sequence[str]) -> list[SubjectLink]:
    own = subjects.names_of(keys)
    if not own:
        return []
    best: dict[str, SubjectLink] = {}
    for other in subjects.sharing_names(sorted({row.name_key for row in own})):
        if other.subject_key in keys:
            continue
        for mine in own:
            if mine.name_key != other.name_key or mine.subject_type != other.subject_type:
                continue
            basis = ["same normalised name"]
            same_country = bool(mine.country) and mine.country == other.country
            same_birth = bool(mine.birth_date) and mine.birth_date == other.birth_date
            if same_country:
                basis.append("same country")
            if same_birth:
                basis.append("same birth date")
            confidence = (
                NAME_COUNTRY_AND_BIRTH_DATE
                if same_country and same_birth
                else NAME_AND_BIRTH_DATE
                if same_birth
                else NAME_AND_COUNTRY
                if same_country
                else NAME_ONLY
            )
            current = best.get(other.subject_key)
            if current is None or confidence > current.confidence:
                best[other.subject_key] = SubjectLink(other.subject_key, "name", confidence, basis)
    return sorted(best.values(), key=lambda link: (-link.confidence, link.subject_key))


@dataclass(frozen=True, slots=True)
class SubjectSummaryData:
    subject_key: str
    name: str | None
    type: str | None
    country: str | None
    identifier_types: list[str]
    report_count: int
    alert_count: int
    open_alert_count: int
    linked_subject_keys: list[str]
    identified: bool = True
    last_seen: datetime | None = None


def summary(session: Session, subject_key: str) -> SubjectSummaryData:
    """Returns the short description of a subject shown with an alert or a case."""
    reports = ReportRepository(session)
    identifiers = reports.identifiers_of(subject_key)
    linked = reports.subject_keys_sharing([row.digest for row in identifiers]) | {subject_key}
    document = SubjectRepository(session).latest_subject_document(subject_key) or {}
    total, open_count = AlertRepository(session).counts_for_subjects(sorted(linked))
    return SubjectSummaryData(
        subject_key=subject_key,
        name=document.get("name"),
        type=document.get("type"),
        country=document.get("country"),
        identifier_types=sorted({row.id_type for row in identifiers}),
        report_count=reports.count_for_subjects(sorted(linked)),
        alert_count=total,
        open_alert_count=open_count,
        linked_subject_keys=sorted(linked - {subject_key}),
        identified=subject_is_identified(document) if document else True,
    )
