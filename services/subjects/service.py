"""Subject profile across institutions: entity resolution, accounts, counterparties, alerts, cases.

Two kinds of link between subject keys:

* **identifier** (confidence 1.0): the same normalised SSN/ITIN/EIN/RFC/CURP/passport digest was
  reported for both keys. Identifier-linked keys are merged into the profile (reports, accounts,
  counterparties, alerts and cases).
* **name** (weaker, confidence 0.5–0.9): the same normalised name and the same subject type;
  the same country and the same birth date raise the confidence. Name links are listed with
  their confidence and basis, never merged. Names are normalised and indexed when a subject is
  alerted (``services.alerts.subjects``).

The profile is the layer above alerts and cases: it reads them, they never import it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from refdata.money import Money
from services.alerts.repository import AlertRepository, SubjectNameRepository
from services.auth.enums import INVESTIGATIVE_ROLES
from services.auth.service import Principal
from services.errors import Forbidden, NotFound
from services.reports.orm import Report
from services.reports.repository import ReportRepository
from services.subjects.repository import SubjectRepository
from services.watchlists.schemas import SubjectMatchRead
from services.watchlists.views import subject_matches

NAME_ONLY = 0.5
NAME_AND_COUNTRY = 0.6
NAME_AND_BIRTH_DATE = 0.85
NAME_COUNTRY_AND_BIRTH_DATE = 0.9


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
    links.extend(_name_links(SubjectNameRepository(session), keys))
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


def _name_links(names: SubjectNameRepository, keys: Sequence[str]) -> list[SubjectLink]:
    own = names.names_of(keys)
    if not own:
        return []
    best: dict[str, SubjectLink] = {}
    for other in names.sharing_names(sorted({row.name_key for row in own})):
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
