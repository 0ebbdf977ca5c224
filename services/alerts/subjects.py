"""The subject of an alert, read from its reports: identified or not, its normalised names, and
the short summary shown with an alert or a case.

The subject profile (``services.subjects``) is the layer above: it reads alerts, cases and the
names indexed here, and nothing here imports it.

Names are normalised as watchlist screening normalises them (``services.watchlists.names``,
built on ``rigour``): case, accents, punctuation, word order and honorifics ignored, legal
forms dropped, Cyrillic, Greek, Armenian and Georgian latinised; Arabic, Hebrew and CJK names
keep their own letters (they used to be deleted, and so never linked). docs/watchlists.md has
the confidence rules of the name links built on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.alerts.repository import AlertRepository, SubjectNameRepository
from services.reports.repository import ReportRepository
from services.watchlists.names import kind_of, link_key


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
    SubjectNameRepository(session).index_names(list(unique.values()))


def subject_is_identified(subject: Any) -> bool:
    """True when a report's subject has a name or an identifier (SAR 30- vs 60-day clock)."""
    if not isinstance(subject, dict):
        return True
    return bool(subject.get("name")) or bool(subject.get("identifiers"))


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
    document = reports.latest_subject_document(subject_key) or {}
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
