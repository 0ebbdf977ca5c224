"""Alert schemas: what detection hands over, and what the API reads and accepts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from refdata.typologies import TYPOLOGIES
from services.alerts.enums import AlertStatus, Disposition
from services.kit.ids import BodyId
from services.reports.schemas import ReportRead
from services.watchlists.schemas import SubjectMatchRead


class AlertCreate(BaseModel):
    """One alert as raised by detection, inside the worker's batch transaction."""

    institution_id: str
    report_id: str
    report_pk: int | None = None
    subject_key: str
    jurisdiction: str  # "US" | "MX": deadlines depend on it
    report_type: str  # LVTR | STR | TXN
    score: float  # model probability 0..1
    model_version: str
    rule_hits: list[dict[str, Any]] = Field(default_factory=list)
    typology: str | None = None
    reasons: list[str] = Field(default_factory=list)
    features: dict[str, float] = Field(default_factory=dict)
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    transaction_at: datetime | None = None  # the CTR clock starts here
    # The threshold the report passed (and its budget version), set by the alert policy.
    threshold: float | None = None
    threshold_version: int | None = None
    # The event time the alert opens at, when not ``transaction_at`` (a ranked budget's pick).
    opened_for: datetime | None = None


class SourceRead(BaseModel):
    topic: str | None
    partition: int | None
    offset: int | None


class AlertSummary(BaseModel):
    """One row of the queue."""

    id: int
    institution_id: str
    report_id: str
    subject_key: str
    jurisdiction: str
    report_type: str
    score: float
    typology: str | None
    status: AlertStatus
    disposition: Disposition | None
    assignee: str | None
    case_id: int | None
    created_at: datetime
    updated_at: datetime
    deadline_kind: str | None
    deadline_at: datetime | None
    version: int


class AlertPage(BaseModel):
    items: list[AlertSummary]
    next_cursor: str | None


class SubjectSummary(BaseModel):
    subject_key: str
    name: str | None
    type: str | None
    country: str | None
    identifier_types: list[str]
    report_count: int
    alert_count: int
    open_alert_count: int
    linked_subject_keys: list[str]


class HistoryEntry(BaseModel):
    at: datetime
    kind: str
    actor: str | None
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class EpisodeReportRead(BaseModel):
    """One report of an alert's episode: the opening one or one that joined it."""

    model_config = ConfigDict(from_attributes=True)

    institution_id: str
    report_id: str
    score: float
    rules: list[str]
    typology: str | None
    transaction_at: datetime | None
    joined_at: datetime


class AlertRead(AlertSummary):
    """One alert with everything an investigator needs to work it."""

    model_config = ConfigDict(from_attributes=True)

    model_version: str
    rule_hits: list[dict[str, Any]]
    reasons: list[str]
    features: dict[str, float]
    source: SourceRead
    transaction_at: datetime | None
    suspicion_determined_at: datetime | None
    decided_at: datetime | None
    rationale: str | None
    evidence: list[str] | None
    filing_reference: str | None
    # The episode: how many reports it gathers (the alert's score is their maximum), the
    # latest one's time, the threshold it opened at and its budget version.
    report_count: int = 1
    last_report_at: datetime | None = None
    threshold: float | None = None
    threshold_version: int | None = None
    investigator_typology: str | None = None
    episode_reports: list[EpisodeReportRead] = Field(default_factory=list)
    report: ReportRead | None
    subject: SubjectSummary | None
    history: list[HistoryEntry]
    # Every watchlist match of the alert's subject (its own name or a counterparty's).
    watchlist_matches: list[SubjectMatchRead] = Field(default_factory=list)


Rationale = Annotated[str, Field(min_length=1, max_length=4000)]
Reference = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]


class TransitionRequest(BaseModel):
    """A move of the lifecycle. ``version`` (or the If-Match header) says what was read."""

    model_config = ConfigDict(extra="forbid")

    to: AlertStatus
    version: int | None = Field(None, ge=1)
    disposition: Disposition | None = None
    rationale: Rationale | None = None
    filing_reference: Reference | None = None
    evidence: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=100
    )
    suspicion_determined_at: AwareDatetime | None = None
    # The investigator's typology (refdata.typologies), given when filing or closing: what
    # retraining learns from (``amlscreen train --with-dispositions``), not the model's guess.
    typology: str | None = None

    @field_validator("typology")
    @classmethod
    def _known_typology(cls, value: str | None) -> str | None:
        if value is not None and value not in TYPOLOGIES:
            raise ValueError(f"unknown typology {value!r}; one of {', '.join(TYPOLOGIES)}")
        return value


class AssignmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: Annotated[str, Field(min_length=1, max_length=64)] | None
    version: int | None = Field(None, ge=1)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=10_000)]


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    entity_type: str
    entity_id: int
    author: str
    body: str
    created_at: datetime


class AlertSort(StrEnum):
    """Sort orders of the queue; a leading ``-`` means descending."""

    CREATED_DESC = "-created_at"
    CREATED_ASC = "created_at"
    SCORE_DESC = "-score"
    SCORE_ASC = "score"
    DEADLINE_ASC = "deadline_at"
    DEADLINE_DESC = "-deadline_at"


class AlertFilter(BaseModel):
    """Filters of ``GET /v1/alerts``; every one narrows the result (AND)."""

    status: list[AlertStatus] = Field(default_factory=list)
    score_min: float | None = None
    score_max: float | None = None
    typology: str | None = None
    institution_id: str | None = None
    jurisdiction: str | None = None
    subject_key: str | None = None
    assignee: str | None = None
    unassigned: bool = False
    case_id: BodyId | None = None
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    deadline_before: AwareDatetime | None = None


class AlertQuery(AlertFilter):
    """The query string of ``GET /v1/alerts``: the filters, the order, the cursor, the size.

    Validated as one model (``Annotated[AlertQuery, Query()]``): one validation per request
    instead of one per parameter.
    """

    model_config = ConfigDict(extra="ignore")

    score_min: float | None = Field(None, ge=0, le=1)
    score_max: float | None = Field(None, ge=0, le=1)
    sort: AlertSort = AlertSort.CREATED_DESC
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=500)
