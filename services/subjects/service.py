"""Subject profile across institutions, linked by identifier digests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from services.auth.enums import INVESTIGATIVE_ROLES
from services.auth.service import Principal
from services.errors import Forbidden, NotFound
from services.reports.orm import Report
from services.reports.repository import ReportRepository


@dataclass(frozen=True, slots=True)
class SubjectProfile:
    subject_key: str
    linked_subject_keys: list[str]
    names: list[dict[str, Any]]
    institutions: list[str]
    identifiers: list[dict[str, Any]]
    report_count: int
    reports: list[Report]


def get_profile(
    session: Session, *, principal: Principal, subject_key: str, limit: int = 100
) -> SubjectProfile:
    """Returns what is known of a subject, including subject keys sharing an identifier."""
    if principal.role not in INVESTIGATIVE_ROLES:
        raise Forbidden("subject profiles are for investigators, supervisors and auditors")
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
    )
