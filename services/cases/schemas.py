from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.alerts.enums import AlertStatus, Disposition
from services.alerts.schemas import AlertSummary, SubjectSummary
from services.kit.ids import BodyId

SubjectKey = Annotated[str, Field(min_length=1, max_length=80)]
Narrative = Annotated[str, Field(max_length=17_000)]  # the SAR narrative limit


class CaseCreate(BaseModel):
    """Groups alerts (same subject or network) into a case."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    alert_ids: list[BodyId] = Field(min_length=1, max_length=1000)
    subject_keys: list[SubjectKey] = Field(default_factory=list, max_length=500)
    narrative: Narrative | None = None
    jurisdiction: Annotated[str, Field(pattern=r"^(US|MX)$")] | None = None
    suspicion_determined_at: AwareDatetime | None = None
    assignee: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class CaseUpdate(BaseModel):
    """Changes to an open case; absent fields are left as they are."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1)
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    narrative: Narrative | None = None
    suspicion_determined_at: AwareDatetime | None = None
    add_alert_ids: list[BodyId] = Field(default_factory=list, max_length=1000)
    remove_alert_ids: list[BodyId] = Field(default_factory=list, max_length=1000)
    add_subject_keys: list[SubjectKey] = Field(default_factory=list, max_length=500)
    remove_subject_keys: list[SubjectKey] = Field(default_factory=list, max_length=500)


class CaseSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    jurisdiction: str
    status: AlertStatus
    disposition: Disposition | None
    assignee: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    suspicion_determined_at: datetime | None
    deadline_kind: str | None
    deadline_at: datetime | None
    version: int


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class TransactionRead(BaseModel):
    institution_id: str
    report_id: str
    report_type: str
    subject_key: str
    transaction_id: str | None
    at: datetime | None
    amount: str | None
    currency: str | None
    instrument: str | None
    direction: str | None
    account_id: str | None
    counterparty_account_id: str | None
    counterparty_country: str | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    actor: str | None = None
    summary: str
    data: dict[str, Any] | None = None


class CaseRead(CaseSummary):
    narrative: str | None
    rationale: str | None
    evidence: list[str] | None
    filing_reference: str | None
    decided_at: datetime | None
    subject_identified: bool
    alerts: list[AlertSummary]
    subjects: list[SubjectSummary]
    transactions: list[TransactionRead]
    timeline: list[TimelineEntry]
