from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.deps import PrincipalDep, SessionDep
from services.reports.schemas import ReportRead
from services.subjects import service as subject_service

router = APIRouter(tags=["subjects"])


class SubjectRead(BaseModel):
    subject_key: str
    linked_subject_keys: list[str]
    names: list[dict[str, Any]]
    institutions: list[str]
    identifiers: list[dict[str, Any]]
    report_count: int
    reports: list[ReportRead]


@router.get("/v1/subjects/{subject_key}", response_model=SubjectRead)
def read_subject(
    subject_key: str,
    session: SessionDep,
    principal: PrincipalDep,
    limit: int = Query(100, ge=1, le=1000),
) -> SubjectRead:
    """Returns the subject's profile and reports across institutions."""
    profile = subject_service.get_profile(
        session, principal=principal, subject_key=subject_key, limit=limit
    )
    return SubjectRead(
        subject_key=profile.subject_key,
        linked_subject_keys=profile.linked_subject_keys,
        names=profile.names,
        institutions=profile.institutions,
        identifiers=profile.identifiers,
        report_count=profile.report_count,
        reports=[ReportRead.from_orm_report(report) for report in profile.reports],
    )
