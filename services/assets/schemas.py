"""Request and response bodies of the asset register."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from refdata.enums import Jurisdiction
from refdata.money import currency_exponent
from services.assets.enums import AssetStatus, AssetType, Disposition, SeizingAuthority
from services.ledger.accounts import SEGMENT
from services.ledger.enums import ShareRole
from services.ledger.schemas import EntryRead

LinkId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/\-]{0,127}$")]
Segment = Annotated[str, Field(pattern=rf"^{SEGMENT}$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Amount = Annotated[int, Field(gt=0, le=10**15)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AssetIdentifier(_Strict):
    """A VIN, parcel number, IBAN, account number, serial, wallet address, …"""

    type: Annotated[str, Field(min_length=1, max_length=32)]
    value: Annotated[str, Field(min_length=1, max_length=200)]


class _AssetFields(_Strict):
    description: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    jurisdiction: Jurisdiction | None = None
    custodian: Text | None = None
    seizing_authority: SeizingAuthority | None = None
    case_number: Segment | None = None
    seizure_number: Text | None = None
    judicial_district: Text | None = None
    cats_id: Text | None = None
    legal_basis: Text | None = None
    appraised_value_minor: Annotated[int, Field(ge=0, le=10**15)] | None = None
    appraised_at: AwareDatetime | None = None
    appraiser: Text | None = None
    case_ids: list[LinkId] = Field(default_factory=list, max_length=100)
    alert_ids: list[LinkId] = Field(default_factory=list, max_length=1000)
    report_refs: list[LinkId] = Field(default_factory=list, max_length=1000)


class AssetCreate(_AssetFields):
    asset_type: AssetType
    description: Annotated[str, Field(min_length=1, max_length=1000)]
    identifiers: list[AssetIdentifier] = Field(default_factory=list, max_length=50)
    value_minor: Annotated[int, Field(ge=0, le=10**15)]
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    jurisdiction: Jurisdiction

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        currency_exponent(value)
        return value


class TraceSpec(_Strict):
    """Which trace to run: from an account, or from a stored report's transaction."""

    account_id: Text | None = None
    institution_id: Text | None = None
    report_id: Text | None = None
    direction: Literal["forward", "backward"] = "forward"
    max_hops: Annotated[int, Field(ge=1, le=10)] | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class AssetFromTrace(_AssetFields):
    """Registers the traced funds now held in one account as an ``account_funds`` asset."""

    trace: TraceSpec
    holder_account_id: Text
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None


class AssetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    asset_type: str
    description: str
    identifiers: list[dict[str, str]]
    value_minor: int
    currency: str
    appraised_value_minor: int | None
    appraised_at: datetime | None
    appraiser: str | None
    jurisdiction: str
    custodian: str | None
    seizing_authority: str | None
    case_number: str | None
    seizure_number: str | None
    judicial_district: str | None
    cats_id: str | None
    legal_basis: str | None
    case_ids: list[str]
    alert_ids: list[str]
    report_refs: list[str]
    source_trace: dict[str, Any] | None
    status: str
    disposition: str | None
    seized_at: datetime | None
    notice_sent_at: datetime | None
    claim_filed_at: datetime | None
    forfeited_at: datetime | None
    disposed_at: datetime | None
    sharing_requested_at: datetime | None
    notice_due_at: datetime | None
    complaint_due_at: datetime | None
    sharing_request_due_at: datetime | None
    next_deadline_at: datetime | None
    next_deadline_kind: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int


class AssetPage(BaseModel):
    items: list[AssetRead]
    next_cursor: int | None


class TransitionRequest(_Strict):
    """Moves an asset along its lifecycle; which fields matter depends on ``to``."""

    to: AssetStatus
    at: AwareDatetime | None = Field(None, description="when it happened (default: now)")
    note: Annotated[str, Field(max_length=2000)] | None = None
    seizing_authority: SeizingAuthority | None = None
    seizure_number: Text | None = None
    custodian: Text | None = None
    claimant: Segment | None = Field(None, description="claimant or petitioner id")
    amount_minor: Amount | None = Field(
        None, description="forfeited amount (money-like assets) or amount remitted/restored"
    )
    disposition: Disposition | None = None
    proceeds_minor: Amount | None = Field(None, description="gross sale proceeds (SOLD)")
    federal_pct: Annotated[int, Field(ge=20, le=100)] | None = None
    rationale: Annotated[str, Field(max_length=4000)] | None = None


class ParticipantCreate(_Strict):
    agency_id: Segment
    agency_name: Text
    ori: Annotated[str, Field(pattern=r"^[A-Z0-9]{5,16}$")] | None = None
    country: Country
    role: ShareRole
    work_hours: Annotated[int, Field(ge=0, le=10_000_000)]
    originated_info: bool = False
    unique_assistance: bool = False
    extraordinary_expenses_minor: Annotated[int, Field(ge=0, le=10**15)] = 0
    agreement_ref: Text | None = Field(
        None, description="international agreement, e.g. 'US-MX 2001 (TIAS 13163)'"
    )
    share_bps: Annotated[int, Field(ge=0, le=10_000)] | None = Field(
        None, description="share fixed by the agreement, in basis points of net proceeds"
    )


class ParticipantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    asset_id: int
    agency_id: str
    agency_name: str
    ori: str | None
    country: str
    role: str
    work_hours: int
    originated_info: bool
    unique_assistance: bool
    extraordinary_expenses_minor: int
    agreement_ref: str | None
    share_bps: int | None
    concurrence_ref: str | None
    concurrence_at: datetime | None
    created_at: datetime
    created_by: str


class ConcurrenceRequest(_Strict):
    """The Secretary of State's concurrence in a transfer to a foreign participant."""

    agency_id: Segment
    reference: Text
    concurred_at: AwareDatetime


class CustodyRequest(_Strict):
    custodian: Text
    at: AwareDatetime | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None


class ProceedsRequest(_Strict):
    amount_minor: Amount
    source: Literal["forfeiture", "sale", "proceeds"] = "proceeds"
    memo: Annotated[str, Field(max_length=1000)] | None = None


class ExpenseRequest(_Strict):
    amount_minor: Amount
    memo: Annotated[str, Field(min_length=1, max_length=1000)]


class DisbursementRequest(_Strict):
    account: Annotated[str, Field(min_length=1, max_length=160)] = Field(
        description="the payable paid: agency:<id>:payable, foreign:<CC>:payable or"
        " remission:<claimant>"
    )
    amount_minor: Amount | None = Field(None, description="default: all this asset owes it")
    method: Literal["check", "eft", "wire", "in_kind", "other"] = "eft"
    reference: Text | None = None
    paid_at: AwareDatetime | None = None


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    asset_id: int
    kind: str
    from_status: str | None
    to_status: str | None
    effective_at: datetime
    recorded_at: datetime
    actor: str
    data: dict[str, Any]
    entry_seqs: list[int]


class AssetChange(BaseModel):
    """The asset after a write, the event recorded and any ledger postings proposed."""

    asset: AssetRead
    event: EventRead
    entries: list[EntryRead]


class ShareLine(BaseModel):
    agency_id: str
    role: str
    country: str
    weight: int
    account: str
    exact_minor: str
    amount_minor: int


class SharingPreview(BaseModel):
    asset_id: int
    currency: str
    net_minor: int
    foreign_minor: int
    domestic_minor: int
    federal_pct: int
    state_local_cap_minor: int | None
    cap_applied: bool
    participants: list[ShareLine]
    accounts: dict[str, int]


class TimelineItem(BaseModel):
    at: datetime
    source: Literal["event", "ledger"]
    kind: str
    actor: str
    summary: str
    from_status: str | None = None
    to_status: str | None = None
    entry_seq: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)
