"""Asset register rules: registration, reading, participants, custody, deadlines, views.

Every write takes the ledger's write lock first (``ledger_service.acquire_write_lock``):
asset writes are rare, and one lock order for every forfeiture write rules out deadlocks
between an asset transition and the postings it makes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.assets.enums import (
    TERMINAL,
    AssetStatus,
    DeadlineKind,
    Disposition,
    EventKind,
    SeizingAuthority,
)
from services.assets.orm import Asset, AssetEvent, AssetParticipant
from services.assets.repository import AssetRepository
from services.assets.schemas import (
    AssetCreate,
    ConcurrenceRequest,
    CustodyRequest,
    ParticipantCreate,
    TimelineItem,
)
from services.auth.service import Principal
from services.errors import Conflict, NotFound
from services.kit.time import utc_now
from services.ledger import accounts
from services.ledger import service as ledger_service
from services.ledger.enums import EntryKind, ShareRole
from services.ledger.repository import LedgerRepository
from services.ledger.service import Invalid

NOTICE_DAYS = {SeizingAuthority.FEDERAL: 60, SeizingAuthority.STATE_LOCAL: 90}
COMPLAINT_DAYS = 90
SHARING_REQUEST_DAYS = 45


def case_key(asset: Asset) -> str:
    """The case part of the asset's ``forfeited:<case>`` account."""
    return asset.case_number or f"asset-{asset.id}"


def forfeited_account(asset: Asset) -> str:
    return accounts.forfeited(case_key(asset))


def refresh_deadlines(asset: Asset) -> None:
    """Recomputes which deadlines are still open and the earliest of them."""
    status = AssetStatus(asset.status)
    open_deadlines: list[tuple[datetime, DeadlineKind]] = []
    if asset.notice_due_at and asset.notice_sent_at is None and status is not AssetStatus.RETURNED:
        open_deadlines.append((asset.notice_due_at, DeadlineKind.NOTICE))
    if asset.complaint_due_at and status is AssetStatus.CLAIM_FILED:
        open_deadlines.append((asset.complaint_due_at, DeadlineKind.COMPLAINT))
    if (
        asset.sharing_request_due_at
        and asset.sharing_requested_at is None
        and status not in TERMINAL
        and asset.disposition != Disposition.DESTROYED.value
    ):
        open_deadlines.append((asset.sharing_request_due_at, DeadlineKind.SHARING_REQUEST))
    if open_deadlines:
        due, kind = min(open_deadlines)
        asset.next_deadline_at, asset.next_deadline_kind = due, kind.value
    else:
        asset.next_deadline_at, asset.next_deadline_kind = None, None


def record_event(
    session: Session,
    asset: Asset,
    *,
    principal: Principal,
    kind: EventKind,
    effective_at: datetime | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    data: dict[str, Any] | None = None,
    entry_seqs: Sequence[int] = (),
) -> AssetEvent:
    now = utc_now()
    return AssetRepository(session).add_event(
        AssetEvent(
            asset_id=asset.id,
            kind=kind.value,
            from_status=from_status,
            to_status=to_status,
            effective_at=effective_at or now,
            recorded_at=now,
            actor=principal.actor,
            data=data or {},
            entry_seqs=list(entry_seqs),
        )
    )


def touch(session: Session, asset: Asset) -> None:
    """Marks the asset row as changed (version for readers, deadlines recomputed)."""
    refresh_deadlines(asset)
    asset.updated_at = utc_now()
    asset.version += 1
    session.flush()


def register(
    session: Session,
    *,
    principal: Principal,
    data: AssetCreate,
    source_trace: dict[str, Any] | None = None,
) -> tuple[Asset, AssetEvent]:
    """Registers an asset in state IDENTIFIED."""
    ledger_service.require_write(principal)
    ledger_service.acquire_write_lock(session)
    now = utc_now()
    fields = data.model_dump(mode="python", exclude={"identifiers"})
    asset = Asset(
        **{
            key: (value.value if hasattr(value, "value") else value)
            for key, value in fields.items()
        },
        identifiers=[identifier.model_dump() for identifier in data.identifiers],
        source_trace=source_trace,
        status=AssetStatus.IDENTIFIED.value,
        created_at=now,
        created_by=principal.actor,
        updated_at=now,
        version=1,
    )
    AssetRepository(session).add(asset)
    refresh_deadlines(asset)
    event = record_event(
        session,
        asset,
        principal=principal,
        kind=EventKind.REGISTERED,
        to_status=AssetStatus.IDENTIFIED.value,
        data={"source": "trace" if source_trace else "manual"},
    )
    return asset, event


def get(session: Session, *, principal: Principal, asset_id: int) -> Asset:
    ledger_service.require_read(principal)
    return load(session, asset_id)


def load(session: Session, asset_id: int) -> Asset:
    asset = AssetRepository(session).get(asset_id)
    if asset is None:
        raise NotFound(f"no asset {asset_id}")
    return asset


def list_assets(
    session: Session,
    *,
    principal: Principal,
    status: Sequence[AssetStatus] | None = None,
    asset_type: str | None = None,
    jurisdiction: str | None = None,
    case_number: str | None = None,
    case_id: str | None = None,
    alert_id: str | None = None,
    deadline_before: datetime | None = None,
    deadline_kind: DeadlineKind | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> Sequence[Asset]:
    """Lists assets by id; ``deadline_before`` keeps those whose next open deadline is earlier."""
    ledger_service.require_read(principal)
    return AssetRepository(session).page(
        status=[item.value for item in status] if status else None,
        asset_type=asset_type,
        jurisdiction=jurisdiction,
        case_number=case_number,
        case_id=case_id,
        alert_id=alert_id,
        deadline_before=deadline_before,
        deadline_kind=deadline_kind.value if deadline_kind else None,
        after_id=after_id,
        limit=limit,
    )


_PARTICIPANTS_OPEN = frozenset(AssetStatus) - TERMINAL - {AssetStatus.SHARING_DECIDED}


def add_participant(
    session: Session, *, principal: Principal, asset_id: int, data: ParticipantCreate
) -> tuple[AssetParticipant, AssetEvent]:
    """Adds an agency or foreign government asking for a share (before the decision)."""
    ledger_service.require_write(principal)
    ledger_service.acquire_write_lock(session)
    asset = load(session, asset_id)
    if AssetStatus(asset.status) not in _PARTICIPANTS_OPEN:
        raise Conflict(f"participants cannot be added in state {asset.status}")
    if data.role is ShareRole.FOREIGN:
        if not data.agreement_ref:
            raise Invalid(
                "a foreign participant needs the agreement it shares under"
                " (e.g. 'US-MX 2001 (TIAS 13163)')"
            )
        if data.country == asset.jurisdiction:
            raise Invalid("a foreign participant's country differs from the asset's jurisdiction")
    else:
        if data.share_bps is not None:
            raise Invalid("only a foreign participant's agreement fixes a share")
        if data.country != asset.jurisdiction:
            raise Invalid(
                f"a {data.role} participant is domestic: country {asset.jurisdiction};"
                " use role 'foreign' for another country's agency"
            )
    repository = AssetRepository(session)
    if any(item.agency_id == data.agency_id for item in repository.participants(asset_id)):
        raise Conflict(f"{data.agency_id} already takes part in asset {asset_id}")
    participant = AssetParticipant(
        asset_id=asset_id,
        **{
            key: (value.value if hasattr(value, "value") else value)
            for key, value in data.model_dump().items()
        },
        created_at=utc_now(),
        created_by=principal.actor,
    )
    try:
        with session.begin_nested():
            repository.add_participant(participant)
    except IntegrityError:
        raise Conflict(f"{data.agency_id} already takes part in asset {asset_id}") from None
    event = record_event(
        session,
        asset,
        principal=principal,
        kind=EventKind.PARTICIPANT_ADDED,
        data={
            "agency_id": data.agency_id,
            "role": data.role.value,
            "country": data.country,
            "work_hours": data.work_hours,
        },
    )
    touch(session, asset)
    return participant, event


def record_concurrence(
    session: Session, *, principal: Principal, asset_id: int, data: ConcurrenceRequest
) -> tuple[AssetParticipant, AssetEvent]:
    """Records the Secretary of State's concurrence for a foreign participant (once)."""
    ledger_service.require_write(principal)
    ledger_service.acquire_write_lock(session)
    asset = load(session, asset_id)
    participant = next(
        (
            p
            for p in AssetRepository(session).participants(asset_id)
            if p.agency_id == data.agency_id
        ),
        None,
    )
    if participant is None:
        raise NotFound(f"{data.agency_id} is not a participant of asset {asset_id}")
    if participant.role != ShareRole.FOREIGN.value:
        raise Conflict("concurrence is recorded for foreign participants only")
    if participant.concurrence_ref is not None:
        raise Conflict(f"concurrence already recorded: {participant.concurrence_ref}")
    participant.concurrence_ref = data.reference
    participant.concurrence_at = data.concurred_at
    session.flush()
    event = record_event(
        session,
        asset,
        principal=principal,
        kind=EventKind.CONCURRENCE_RECORDED,
        effective_at=data.concurred_at,
        data={
            "agency_id": data.agency_id,
            "country": participant.country,
            "reference": data.reference,
            "agreement_ref": participant.agreement_ref,
        },
    )
    touch(session, asset)
    return participant, event


def change_custody(
    session: Session, *, principal: Principal, asset_id: int, data: CustodyRequest
) -> tuple[Asset, AssetEvent]:
    ledger_service.require_write(principal)
    ledger_service.acquire_write_lock(session)
    asset = load(session, asset_id)
    if AssetStatus(asset.status) in TERMINAL:
        raise Conflict(f"asset {asset_id} is {asset.status}: custody is closed")
    previous = asset.custodian
    asset.custodian = data.custodian
    event = record_event(
        session,
        asset,
        principal=principal,
        kind=EventKind.CUSTODY_CHANGED,
        effective_at=data.at,
        data={"from": previous, "to": data.custodian, "note": data.note},
    )
    touch(session, asset)
    return asset, event


def participants(
    session: Session, *, principal: Principal, asset_id: int
) -> Sequence[AssetParticipant]:
    ledger_service.require_read(principal)
    load(session, asset_id)
    return AssetRepository(session).participants(asset_id)


def timeline(session: Session, *, principal: Principal, asset_id: int) -> list[TimelineItem]:
    """Everything that happened to the asset and its money, in time order."""
    ledger_service.require_read(principal)
    load(session, asset_id)
    items: list[TimelineItem] = []
    for event in AssetRepository(session).events(asset_id):
        summary = event.kind
        if event.kind == EventKind.TRANSITION.value:
            summary = f"{event.from_status} → {event.to_status}"
        items.append(
            TimelineItem(
                at=event.effective_at,
                source="event",
                kind=event.kind,
                actor=event.actor,
                summary=summary,
                from_status=event.from_status,
                to_status=event.to_status,
                data={
                    **event.data,
                    "entry_seqs": event.entry_seqs,
                    "recorded_at": event.recorded_at.isoformat(),
                },
            )
        )
    for view in ledger_service.list_entries(
        session, principal=principal, asset_id=asset_id, limit=10_000
    ):
        entry = view.entry
        if EntryKind(entry.kind).is_decision:
            summary = f"{entry.kind} of entry {entry.decision_for}"
        else:
            moved = ", ".join(
                f"{line.account} {line.amount_minor:+d} {line.currency}" for line in entry.lines
            )
            summary = f"{entry.kind} proposed ({view.status.value}): {moved}"
        items.append(
            TimelineItem(
                at=entry.created_at,
                source="ledger",
                kind=entry.kind,
                actor=entry.actor,
                summary=summary,
                entry_seq=entry.seq,
                data={"memo": entry.memo},
            )
        )
    items.sort(key=lambda item: (item.at, item.source, item.entry_seq or 0))
    return items


# -- sharing totals -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShareTotalRow:
    key: str
    currency: str
    allocated_minor: int
    disbursed_minor: int
    outstanding_minor: int


def share_totals(session: Session, *, principal: Principal, by: str) -> list[ShareTotalRow]:
    """Posted money shared per agency (``by='agency'``) or per country (``'country'``).

    Allocated: what sharing decisions credited (less reversals). Disbursed: what was paid.
    The federal share counts for the federal side of the asset's jurisdiction
    (``federal:<country>`` per agency, the country itself per country).
    """
    ledger_service.require_read(principal)
    if by not in ("agency", "country"):
        raise Invalid("by is 'agency' or 'country'")
    rows = LedgerRepository(session).posted_share_lines()
    asset_ids = sorted({asset_id for _, asset_id, *_ in rows if asset_id is not None})
    repository = AssetRepository(session)
    jurisdiction = {asset.id: asset.jurisdiction for asset in repository.assets_by_ids(asset_ids)}
    country_of_agency: dict[tuple[int, str], str] = {
        (p.asset_id, p.agency_id): p.country for p in repository.participants_of_assets(asset_ids)
    }
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for kind, asset_id, account, currency, amount in rows:
        home = jurisdiction.get(asset_id or 0, "??")
        if account == accounts.FEDERAL_SHARE:
            agency, country = f"federal:{home}", home
        elif accounts.is_foreign_payable(account):
            country = accounts.foreign_country(account)
            agency = f"foreign:{country}"
        else:
            agency = account.split(":")[1]
            country = country_of_agency.get((asset_id or 0, agency), home)
        key = (agency if by == "agency" else country, currency)
        if kind == EntryKind.ALLOCATION.value:
            totals[key][0] += amount
        elif kind == EntryKind.DISBURSEMENT.value:
            totals[key][1] -= amount
    return [
        ShareTotalRow(key, currency, allocated, disbursed, allocated - disbursed)
        for (key, currency), (allocated, disbursed) in sorted(totals.items())
    ]


def notice_due(seized_at: datetime, authority: SeizingAuthority) -> datetime:
    return seized_at + timedelta(days=NOTICE_DAYS[authority])
