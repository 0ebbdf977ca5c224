from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.alerts.schemas import AlertSummary
from services.deps import PrincipalDep, SessionDep
from services.errors import UNAUTHENTICATED
from services.reports.schemas import ReportRead
from services.subjects import service as subject_service
from services.watchlists.schemas import SubjectMatchRead

router = APIRouter(tags=["subjects"], responses=UNAUTHENTICATED)


class SubjectLinkRead(BaseModel):
    subject_key: str
    link: str  # "identifier" (merged into this profile) | "name" (weaker, not merged)
    confidence: float
    basis: list[str]


class AccountRead(BaseModel):
    institution_id: str
    account_id: str
    reports: int
    first_seen: datetime | None
    last_seen: datetime | None


class CounterpartyRead(BaseModel):
    account_id: str | None
    country: str | None
    direction: str | None
    currency: str | None
    reports: int
    total: str | None


class CaseRef(BaseModel):
    id: int
    title: str
    status: str
    jurisdiction: str
    created_at: datetime


class SubjectRead(BaseModel):
    subject_key: str
    linked_subject_keys: list[str]
    links: list[SubjectLinkRead]
    names: list[dict[str, Any]]
    institutions: list[str]
    identifiers: list[dict[str, Any]]
    report_count: int
    reports: list[ReportRead]
    accounts: list[AccountRead]
    counterparties: list[CounterpartyRead]
    alerts: list[AlertSummary]
    cases: list[CaseRef]
    watchlist_matches: list[SubjectMatchRead]


@router.get(
    "/v1/subjects/{subject_key}",
    response_model=SubjectRead,
    responses={
        403: {"description": "reporters never see subjects"},
        404: {"description": "no report about the subject"},
    },
)
def read_subject(
    subject_key: str,
    session: SessionDep,
    principal: PrincipalDep,
    limit: int = Query(100, ge=1, le=1000),
) -> SubjectRead:
    """Returns the subject's cross-institution profile: links, accounts, counterparties, alerts."""
    profile = subject_service.get_profile(
        session, principal=principal, subject_key=subject_key, limit=limit
    )
    return SubjectRead(
        subject_key=profile.subject_key,
        linked_subject_keys=profile.linked_subject_keys,
        links=[
            SubjectLinkRead(
                subject_key=link.subject_key,
                link=link.link,
                confidence=link.confidence,
                basis=link.basis,
            )
            for link in profile.links
        ],
        names=profile.names,
        institutions=profile.institutions,
        identifiers=profile.identifiers,
        report_count=profile.report_count,
        reports=[ReportRead.from_orm_report(report) for report in profile.reports],
        accounts=[AccountRead(**account) for account in profile.accounts],
        counterparties=[CounterpartyRead(**item) for item in profile.counterparties],
        alerts=[AlertSummary(**alert) for alert in profile.alerts],
        cases=[CaseRef(**case) for case in profile.cases],
        watchlist_matches=profile.watchlist_matches,
    )
