"""Multi-step asset operations: lifecycle transitions with their guards and ledger postings,
payments, and registration from a trace.

Every operation takes the ledger write lock first, then re-reads the asset, so concurrent
requests on one asset are applied one after the other against fresh state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from refdata.enums import Jurisdiction
from services.assets import service as asset_service
from services.assets.enums import (
    CLAIM_OPEN,
    PETITION_OPEN,
    PROCEEDS_OPEN,
    TRANSITIONS,
    AssetStatus,
    AssetType,
    Disposition,
    EventKind,
    SeizingAuthority,
)
from services.assets.orm import Asset, AssetEvent
from services.assets.repository import AssetRepository
from services.assets.schemas import (
    AssetCreate,
    AssetFromTrace,
    AssetIdentifier,
    DisbursementRequest,
    ExpenseRequest,
    ProceedsRequest,
    TransitionRequest,
)
from services.assets.sharing import Contribution, SharePlan, SharingError, plan
from services.auth.service import Principal
from services.errors import Conflict
from services.kit.time import utc_now
from services.ledger import accounts
from services.ledger import service as ledger_service
from services.ledger.enums import EntryKind, EntryStatus, ShareRole
from services.ledger.repository import LedgerRepository
from services.ledger.service import EntryView, Invalid, Line
from services.tracing import service as tracing_service
from services.tracing.schemas import TraceResult

S = AssetStatus
# 19 USC 1607(a)(1): administrative forfeiture of property worth up to $500,000.
ADMIN_FORFEITURE_LIMIT_USD_MINOR = 500_000_00
SHARING_TARGETS = frozenset(
    {S.SHARING_REQUESTED, S.SHARING_DECIDED, S.DISBURSED, S.TRANSFERRED_FOREIGN}
)


@dataclass(frozen=True, slots=True)
class Change:
    asset: Asset
    event: AssetEvent
    entries: list[EntryView]


@dataclass(frozen=True, slots=True)
class _Ctx:
    """What a lifecycle step works on."""

    session: Session
    principal: Principal
    asset: Asset
    request: TransitionRequest
    at: datetime
    key: str


@dataclass(slots=True)
class _Step:
    data: dict[str, Any]
    entries: list[EntryView]


def _propose(
    session: Session,
    asset: Asset,
    *,
    principal: Principal,
    key: str,
    kind: EntryKind,
    lines: list[Line],
    memo: str | None,
    data: dict[str, Any] | None = None,
) -> EntryView:
    entry = ledger_service.propose(
        session,
        principal=principal,
        idempotency_key=key,
        kind=kind,
        asset_id=asset.id,
        lines=lines,
        memo=memo,
        data=data,
    )
    return ledger_service.view(session, entry)


def net_proceeds(session: Session, asset: Asset) -> int:
    """The approved balance of the asset's ``forfeited:<case>`` account."""
    account = asset_service.forfeited_account(asset)
    position = LedgerRepository(session).positions(asset.id, [(account, asset.currency)])
    return position[(account, asset.currency)].posted


def _contributions(session: Session, asset: Asset) -> list[Contribution]:
    return [
        Contribution(
            agency_id=p.agency_id,
            role=ShareRole(p.role),
            country=p.country,
            work_hours=p.work_hours,
            originated_info=p.originated_info,
            unique_assistance=p.unique_assistance,
            extraordinary_expenses_minor=p.extraordinary_expenses_minor,
            share_bps=p.share_bps,
            agreement_ref=p.agreement_ref,
        )
        for p in AssetRepository(session).participants(asset.id)
    ]


def _plan(session: Session, asset: Asset, federal_pct: int | None) -> SharePlan:
    try:
        return plan(
            net_proceeds(session, asset),
            _contributions(session, asset),
            federal_minimum=asset.jurisdiction == Jurisdiction.US.value,
            federal_pct=federal_pct or 20,
        )
    except SharingError as error:
        raise Conflict(f"sharing is not possible: {error}") from None


def sharing_preview(
    session: Session, *, principal: Principal, asset_id: int, federal_pct: int | None = None
) -> tuple[Asset, SharePlan]:
    """Computes the sharing of the asset's current net proceeds without posting anything."""
    ledger_service.require_read(principal)
    asset = asset_service.load(session, asset_id)
    return asset, _plan(session, asset, federal_pct)


def _live_allocation(session: Session, principal: Principal, asset: Asset) -> EntryView | None:
    """The asset's allocation that is pending or posted and not reversed, if any."""
    views = ledger_service.list_entries(
        session,
        principal=principal,
        asset_id=asset.id,
        kinds=[EntryKind.ALLOCATION.value, EntryKind.REVERSAL.value],
        limit=10_000,
    )
    reversed_seqs = {
        view.entry.reverses
        for view in views
        if view.entry.kind == EntryKind.REVERSAL.value and view.status is not EntryStatus.VOIDED
    }
    live = [
        view
        for view in views
        if view.entry.kind == EntryKind.ALLOCATION.value
        and view.status in (EntryStatus.PENDING, EntryStatus.POSTED)
        and view.entry.seq not in reversed_seqs
    ]
    return live[-1] if live else None


def _require_sharable(session: Session, asset: Asset, current: AssetStatus) -> int:
    """Guards of every sharing step; returns the net proceeds."""
    if current in CLAIM_OPEN:
        raise Conflict("a claim is open: nothing is shared until it is resolved")
    if current in PETITION_OPEN:
        raise Conflict("a remission petition is open: nothing is shared until it is decided")
    pending = LedgerRepository(session).pending_count(asset.id)
    if pending:
        raise Conflict(
            f"{pending} posting(s) of this asset await approval: net proceeds are not final"
        )
    return net_proceeds(session, asset)


def transition(
    session: Session,
    *,
    principal: Principal,
    asset_id: int,
    request: TransitionRequest,
    idempotency_key: str,
) -> Change:
    """Moves the asset to ``request.to`` if the lifecycle and its guards allow it.

    Raises:
        Conflict: the transition is not allowed from the current state, or a guard refuses it
            (open claim or petition, no net proceeds, pending postings, unpaid payables, …).
        Invalid: a field the target state needs is missing or inconsistent.
    """
    ledger_service.require_write(principal)
    ledger_service.acquire_write_lock(session)
    asset = asset_service.load(session, asset_id)
    current, target = AssetStatus(asset.status), request.to
    if target in SHARING_TARGETS and (current in CLAIM_OPEN or current in PETITION_OPEN):
        _require_sharable(session, asset, current)
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"an asset in {current} cannot move to {target}",
            {"allowed": sorted(TRANSITIONS[current])},
        )
    at = request.at or utc_now()
    step = _STEPS[target](_Ctx(session, principal, asset, request, at, idempotency_key))
    asset.status = target.value
    event = asset_service.record_event(
        session,
        asset,
        principal=principal,
        kind=EventKind.TRANSITION,
        effective_at=at,
        from_status=current.value,
        to_status=target.value,
        data={**({"note": request.note} if request.note else {}), **step.data},
        entry_seqs=[view.entry.seq for view in step.entries],
    )
    asset_service.touch(session, asset)
    return Change(asset, event, step.entries)


def _not_before(at: datetime, earlier: datetime | None, what: str) -> None:
    if earlier is not None and at < earlier:
        raise Invalid(f"this cannot happen before the {what} ({earlier.isoformat()})")


def _seized(c: _Ctx) -> _Step:
    authority = c.request.seizing_authority or (
        SeizingAuthority(c.asset.seizing_authority) if c.asset.seizing_authority else None
    )
    if authority is None:
        raise Invalid("seizing_authority (federal or state_local) fixes the notice deadline")
    c.asset.seizing_authority = authority.value
    c.asset.seized_at = c.at
    c.asset.notice_due_at = asset_service.notice_due(c.at, authority)
    if c.request.seizure_number:
        c.asset.seizure_number = c.request.seizure_number
    if c.request.custodian:
        c.asset.custodian = c.request.custodian
    return _Step(
        {"seizing_authority": authority.value, "notice_due_at": c.asset.notice_due_at.isoformat()},
        [],
    )


def _restrained(c: _Ctx) -> _Step:
    if c.request.custodian:
        c.asset.custodian = c.request.custodian
    return _Step({}, [])


def _noticed(c: _Ctx) -> _Step:
    _not_before(c.at, c.asset.seized_at, "seizure")
    c.asset.notice_sent_at = c.at
    late = c.asset.notice_due_at is not None and c.at > c.asset.notice_due_at
    return _Step({"late": late}, [])


def _claim_filed(c: _Ctx) -> _Step:
    if not c.request.claimant:
        raise Invalid("claimant is required for a claim")
    _not_before(c.at, c.asset.notice_sent_at, "notice")
    c.asset.claim_filed_at = c.at
    c.asset.complaint_due_at = c.at + timedelta(days=asset_service.COMPLAINT_DAYS)
    return _Step(
        {"claimant": c.request.claimant, "complaint_due_at": c.asset.complaint_due_at.isoformat()},
        [],
    )


def _judicial_referral(c: _Ctx) -> _Step:
    _not_before(c.at, c.asset.claim_filed_at, "claim")
    late = c.asset.complaint_due_at is not None and c.at > c.asset.complaint_due_at
    return _Step({"late": late}, [])


def _forfeited(c: _Ctx) -> _Step:
    kind = AssetType(c.asset.asset_type)
    if c.request.to is S.FORFEITED_ADMIN:
        value = c.request.amount_minor or c.asset.appraised_value_minor or c.asset.value_minor
        if (
            c.asset.jurisdiction == Jurisdiction.US.value
            and c.asset.currency == "USD"
            and not kind.admin_forfeitable_at_any_value
            and value > ADMIN_FORFEITURE_LIMIT_USD_MINOR
        ):
            raise Conflict(
                "administrative forfeiture is limited to property worth $500,000 or less"
                " (19 USC 1607), unless it is a monetary instrument: refer it to a court"
            )
    _not_before(c.at, c.asset.notice_sent_at or c.asset.seized_at, "notice")
    c.asset.forfeited_at = c.at
    c.asset.sharing_request_due_at = c.at + timedelta(days=asset_service.SHARING_REQUEST_DAYS)
    entries: list[EntryView] = []
    if kind.is_money:
        amount = c.request.amount_minor or c.asset.value_minor
        if amount > 0:
            entries.append(
                _propose(
                    c.session,
                    c.asset,
                    principal=c.principal,
                    key=f"{c.key}/forfeiture",
                    kind=EntryKind.FORFEITURE,
                    lines=[
                        Line(accounts.PROCEEDS, c.asset.currency, -amount),
                        Line(asset_service.forfeited_account(c.asset), c.asset.currency, amount),
                    ],
                    memo=f"forfeiture of c.asset {c.asset.id} ({c.request.to.value})",
                )
            )
    elif c.request.amount_minor is not None:
        raise Invalid("property other than money is realised by its sale (DISPOSED, SOLD)")
    return _Step({"sharing_request_due_at": c.asset.sharing_request_due_at.isoformat()}, entries)


def _remission_pending(c: _Ctx) -> _Step:
    if not c.request.claimant:
        raise Invalid("claimant (the petitioner) is required")
    return _Step({"claimant": c.request.claimant}, [])


def _remitted(c: _Ctx) -> _Step:
    claimant = c.request.claimant
    if claimant is None:
        petition = AssetRepository(c.session).last_event(c.asset.id, S.REMISSION_PENDING.value)
        claimant = petition.data.get("claimant") if petition else None
    if not claimant:
        raise Invalid("claimant is required")
    if c.request.amount_minor is None:
        raise Invalid(
            f"amount_minor (granted to {claimant}) is required; use"
            " REMISSION_DENIED when nothing is granted"
        )
    entry = _propose(
        c.session,
        c.asset,
        principal=c.principal,
        key=f"{c.key}/remission",
        kind=EntryKind.REMISSION,
        lines=[
            Line(
                asset_service.forfeited_account(c.asset), c.asset.currency, -c.request.amount_minor
            ),
            Line(accounts.remission(claimant), c.asset.currency, c.request.amount_minor),
        ],
        memo=f"{c.request.to.value.lower()} to {claimant}",
        data={"claimant": claimant, "kind": c.request.to.value},
    )
    return _Step({"claimant": claimant, "amount_minor": c.request.amount_minor}, [entry])


def _remission_denied(c: _Ctx) -> _Step:
    return _Step({"note": c.request.note} if c.request.note else {}, [])


def _disposed(c: _Ctx) -> _Step:
    if c.request.disposition is None:
        raise Invalid("disposition (SOLD, DESTROYED or OFFICIAL_USE) is required")
    if c.asset.disposition is not None:
        raise Conflict(f"c.asset {c.asset.id} was already disposed of ({c.asset.disposition})")
    kind = AssetType(c.asset.asset_type)
    entries: list[EntryView] = []
    if c.request.disposition is Disposition.SOLD:
        if kind.is_money:
            raise Invalid("money-like property is realised c.at forfeiture, not sold")
        if c.request.proceeds_minor is None:
            raise Invalid("proceeds_minor (gross sale proceeds) is required for a sale")
        entries.append(
            _propose(
                c.session,
                c.asset,
                principal=c.principal,
                key=f"{c.key}/sale",
                kind=EntryKind.SALE,
                lines=[
                    Line(accounts.PROCEEDS, c.asset.currency, -c.request.proceeds_minor),
                    Line(
                        asset_service.forfeited_account(c.asset),
                        c.asset.currency,
                        c.request.proceeds_minor,
                    ),
                ],
                memo=f"sale of c.asset {c.asset.id}",
            )
        )
    elif c.request.proceeds_minor is not None:
        raise Invalid("only a sale has proceeds")
    c.asset.disposition = c.request.disposition.value
    c.asset.disposed_at = c.at
    return _Step({"disposition": c.request.disposition.value}, entries)


def _sharing_requested(c: _Ctx) -> _Step:
    if not AssetType(c.asset.asset_type).is_money and c.asset.disposition is None:
        raise Conflict("property is shared from the net proceeds of its sale: dispose of it first")
    net = _require_sharable(c.session, c.asset, AssetStatus(c.asset.status))
    if net <= 0:
        raise Conflict("there are no net proceeds to share")
    if not AssetRepository(c.session).participants(c.asset.id):
        raise Conflict("no participant has asked for a share")
    _not_before(c.at, c.asset.forfeited_at, "forfeiture")
    c.asset.sharing_requested_at = c.at
    late = c.asset.sharing_request_due_at is not None and c.at > c.asset.sharing_request_due_at
    return _Step({"late": late, "net_proceeds_minor": net}, [])


def _sharing_decided(c: _Ctx) -> _Step:
    if not c.request.rationale:
        raise Invalid("rationale is required for a sharing decision")
    if c.asset.status == S.SHARING_DECIDED.value and _live_allocation(
        c.session, c.principal, c.asset
    ):
        raise Conflict("the current allocation stands: void or reverse it before deciding again")
    net = _require_sharable(c.session, c.asset, AssetStatus(c.asset.status))
    if net <= 0:
        raise Conflict("there are no net proceeds to share")
    shares = _plan(c.session, c.asset, c.request.federal_pct)
    forfeited = asset_service.forfeited_account(c.asset)
    lines = [Line(forfeited, c.asset.currency, -net)] + [
        Line(account, c.asset.currency, amount) for account, amount in shares.accounts.items()
    ]
    decision = {
        "net_proceeds_minor": net,
        "federal_pct": shares.federal_pct,
        "foreign_minor": shares.foreign_minor,
        "domestic_minor": shares.domestic_minor,
        "state_local_cap_minor": shares.state_local_cap_minor,
        "cap_applied": shares.cap_applied,
        "allocations": [
            {
                "agency_id": item.agency_id,
                "role": item.role.value,
                "country": item.country,
                "weight": item.weight,
                "account": item.account,
                "exact_minor": str(item.exact),
                "amount_minor": item.amount_minor,
            }
            for item in shares.participants
        ],
        "accounts": shares.accounts,
        "rationale": c.request.rationale,
        "decider": c.principal.actor,
    }
    entry = _propose(
        c.session,
        c.asset,
        principal=c.principal,
        key=f"{c.key}/allocation",
        kind=EntryKind.ALLOCATION,
        lines=lines,
        memo=f"equitable sharing of c.asset {c.asset.id}",
        data=decision,
    )
    return _Step({"decision": decision}, [entry])


def _settled(c: _Ctx) -> _Step:
    _require_sharable(c.session, c.asset, AssetStatus(c.asset.status))
    allocation = _live_allocation(c.session, c.principal, c.asset)
    if allocation is None or allocation.status is not EntryStatus.POSTED:
        raise Conflict("there is no approved allocation: decide the sharing again")
    owed = {
        balance.account: balance.posted_minor
        for balance in ledger_service.balances(
            c.session, principal=c.principal, asset_id=c.asset.id
        )
        if accounts.is_payable(balance.account) and balance.posted_minor
    }
    if owed:
        raise Conflict("payables of this c.asset are not paid yet", {"owed": owed})
    foreign = any(accounts.is_foreign_payable(line.account) for line in allocation.entry.lines)
    if foreign and c.request.to is S.DISBURSED:
        raise Conflict(
            "a foreign government received a share: the final state is TRANSFERRED_FOREIGN"
        )
    if not foreign and c.request.to is S.TRANSFERRED_FOREIGN:
        raise Conflict("no foreign government received a share: the final state is DISBURSED")
    return _Step({"allocation_seq": allocation.entry.seq}, [])


def _returned(c: _Ctx) -> _Step:
    return _Step({"to": c.request.claimant} if c.request.claimant else {}, [])


_STEPS = {
    S.SEIZED: _seized,
    S.RESTRAINED: _restrained,
    S.NOTICED: _noticed,
    S.CLAIM_FILED: _claim_filed,
    S.JUDICIAL_REFERRAL: _judicial_referral,
    S.FORFEITED_ADMIN: _forfeited,
    S.FORFEITED_JUDICIAL: _forfeited,
    S.REMISSION_PENDING: _remission_pending,
    S.REMITTED: _remitted,
    S.RESTORED: _remitted,
    S.REMISSION_DENIED: _remission_denied,
    S.DISPOSED: _disposed,
    S.SHARING_REQUESTED: _sharing_requested,
    S.SHARING_DECIDED: _sharing_decided,
    S.DISBURSED: _settled,
    S.TRANSFERRED_FOREIGN: _settled,
    S.RETURNED: _returned,
}
assert set(_STEPS) == set(AssetStatus) - {S.IDENTIFIED}


# -- postings outside transitions -----------------------------------------------------------


def _posting_event(
    session: Session, principal: Principal, asset: Asset, view: EntryView, data: dict[str, Any]
) -> Change:
    event = asset_service.record_event(
        session,
        asset,
        principal=principal,
        kind=EventKind.POSTING_PROPOSED,
        data={"kind": view.entry.kind, **data},
        entry_seqs=[view.entry.seq],
    )
    asset_service.touch(session, asset)
    return Change(asset, event, [view])


def post_proceeds(
    session: Session,
    *,
    principal: Principal,
    asset_id: int,
    request: ProceedsRequest,
    idempotency_key: str,
) -> Change:
    """Proposes realised proceeds (e.g. again after a voided posting, or a late recovery)."""
    ledger_service.require_write(principal)
    ledger_service.acquire_write_lock(session)
    asset = asset_service.load(session, asset_id)
    if AssetStatus(asset.status) not in PROCEEDS_OPEN:
        raise Conflict(
            f"proceeds are posted between forfeiture and the sharing decision,"
            f" not in {asset.status}"
        )
    kind = {"forfeiture": EntryKind.FORFEITURE, "sale": EntryKind.SALE}.get(
        request.source, EntryKind.PROCEEDS
    )
    view = _propose(
        session,
        asset,
        principal=principal,
        key=idempotency_key,
        kind=kind,
        lines=[
            Line(accounts.PROCEEDS, asset.currency, -request.amount_minor),
            Line(asset_service.forfeited_account(asset), asset.currency, request.amount_minor),
        ],
        memo=request.memo,
    )
    return _posting_event(session, principal, asset, view, {"amount_minor": request.amount_minor})


def post_expense(
    session: Session,
    *,
    principal: Principal,
    asset_id: int,
    request: ExpenseRequest,
    idempotency_key: str,
) -> Change:
    """Proposes an expense (custody, storage, sale costs) paid from the asset's proceeds."""
    ledger_service.require_write(principal)
    ledger_service.acquire_write_lock(session)
    asset = asset_service.load(session, asset_id)
    if AssetStatus(asset.status) not in PROCEEDS_OPEN:
        raise Conflict(
            f"expenses are posted between forfeiture and the sharing decision,"
            f" not in {asset.status}"
        )
    view = _propose(
        session,
        asset,
        principal=principal,
        key=idempotency_key,
        kind=EntryKind.EXPENSE,
        lines=[
            Line(asset_service.forfeited_account(asset), asset.currency, -request.amount_minor),
            Line(accounts.EXPENSES, asset.currency, request.amount_minor),
        ],
        memo=request.memo,
    )
    return _posting_event(session, principal, asset, view, {"amount_minor": request.amount_minor})


def disburse(
    session: Session,
    *,
    principal: Principal,
    asset_id: int,
    request: DisbursementRequest,
    idempotency_key: str,
) -> Change:
    """Proposes paying out a payable of the asset: an agency's or a foreign government's share,
    or a remission granted to a claimant.

    Raises:
        Conflict: wrong state, nothing owed, or a foreign transfer without the recorded
            concurrence and agreement.
    """
    ledger_service.require_write(principal)
    ledger_service.acquire_write_lock(session)
    asset = asset_service.load(session, asset_id)
    account = request.account
    if not accounts.is_valid(account) or not accounts.is_payable(account):
        raise Invalid(
            "account is agency:<id>:payable, foreign:<CC>:payable or remission:<claimant>"
        )
    status = AssetStatus(asset.status)
    data: dict[str, Any] = {
        "payee": account,
        "method": request.method,
        "reference": request.reference,
        "paid_at": (request.paid_at or utc_now()).isoformat(),
    }
    if account.startswith("remission:"):
        if status not in PROCEEDS_OPEN and status is not S.SHARING_DECIDED:
            raise Conflict(f"remissions are paid after forfeiture, not in {status}")
    elif status is not S.SHARING_DECIDED:
        raise Conflict(f"shares are paid after the sharing decision, not in {status}")
    if accounts.is_foreign_payable(account):
        country = accounts.foreign_country(account)
        foreign = [
            p
            for p in AssetRepository(session).participants(asset.id)
            if p.role == ShareRole.FOREIGN.value and p.country == country
        ]
        ready = [p for p in foreign if p.concurrence_ref and p.agreement_ref]
        if not ready:
            raise Conflict(
                f"a transfer to {country} needs the Secretary of State's concurrence and the"
                " international agreement recorded for its participant"
            )
        data["concurrence_ref"] = ready[0].concurrence_ref
        data["agreement_ref"] = ready[0].agreement_ref
    position = LedgerRepository(session).positions(asset.id, [(account, asset.currency)])[
        (account, asset.currency)
    ]
    available = position.posted + position.pending_credits
    amount = request.amount_minor if request.amount_minor is not None else available
    if amount <= 0:
        raise Conflict(
            f"{account} is owed nothing (approved and not already being paid) for asset {asset.id}"
        )
    view = _propose(
        session,
        asset,
        principal=principal,
        key=idempotency_key,
        kind=EntryKind.DISBURSEMENT,
        lines=[
            Line(account, asset.currency, -amount),
            Line(accounts.DISBURSED, asset.currency, amount),
        ],
        memo=f"payment to {account}",
        data=data,
    )
    return _posting_event(session, principal, asset, view, {"amount_minor": amount, **data})


# -- registration from a trace --------------------------------------------------------------


def run_trace(session: Session, *, principal: Principal, request: AssetFromTrace) -> TraceResult:
    """Runs the trace a registration names (a read: done before taking the write lock)."""
    spec = request.trace
    params = tracing_service.TraceParams(
        direction=spec.direction,
        max_hops=spec.max_hops or tracing_service.DEFAULT_MAX_HOPS,
        since=spec.since,
        until=spec.until,
    )
    if spec.institution_id and spec.report_id:
        return tracing_service.trace_report(
            session,
            principal=principal,
            institution_id=spec.institution_id,
            report_id=spec.report_id,
            params=params,
        )
    if spec.account_id:
        return tracing_service.trace_account(
            session, principal=principal, account_id=spec.account_id, params=params
        )
    raise Invalid("trace names an account_id, or an institution_id and a report_id")


def register_from_trace(
    session: Session, *, principal: Principal, request: AssetFromTrace, trace: TraceResult
) -> tuple[Asset, AssetEvent]:
    """Registers the traced money held by ``holder_account_id`` as an account-funds asset.

    The amount is what the trace (re-run on the server, never taken from the client) leaves
    with the holder, whatever the reason it stopped there.
    """
    holder = request.holder_account_id
    held = [h for h in trace.holdings if h.account_id == holder]
    currencies = sorted({h.currency for h in held})
    currency = request.currency or (currencies[0] if len(currencies) == 1 else None)
    if currency is None:
        raise Invalid(
            f"the trace leaves nothing with {holder}"
            if not currencies
            else f"{holder} holds traced money in {currencies}: choose a currency"
        )
    amount = sum(h.amount_minor for h in held if h.currency == currency)
    if amount <= 0:
        raise Conflict(f"the trace leaves no {currency} with {holder}")
    node = next((n for n in trace.nodes if n.account_id == holder), None)
    jurisdiction = request.jurisdiction
    if jurisdiction is None:
        if node is None or node.country not in (Jurisdiction.US.value, Jurisdiction.MX.value):
            raise Invalid("jurisdiction is required: the holder's country is not US or MX")
        jurisdiction = Jurisdiction(node.country)
    refs = list(request.report_refs)
    for edge in trace.edges:
        if edge.target == holder or edge.source == holder:
            refs.extend(ref for ref in edge.report_refs if ref not in refs)
    create = AssetCreate(
        asset_type=AssetType.ACCOUNT_FUNDS,
        description=request.description or f"Traced funds held in account {holder}",
        identifiers=[AssetIdentifier(type="account", value=holder)],
        value_minor=amount,
        currency=currency,
        **request.model_dump(
            exclude={
                "trace",
                "holder_account_id",
                "currency",
                "description",
                "report_refs",
                "jurisdiction",
            }
        ),
        jurisdiction=jurisdiction,
        report_refs=refs[:1000],
    )
    if create.custodian is None and node is not None and node.institution_id:
        create.custodian = node.institution_id
    source = {
        "origin": trace.origin.model_dump(mode="json"),
        "limits": trace.limits.model_dump(mode="json"),
        "rule": trace.rule,
        "holder": holder,
        "currency": currency,
        "amount_minor": amount,
        "reasons": {h.reason: h.amount_minor for h in held if h.currency == currency},
        "truncated": trace.truncated,
        "computed_at": utc_now().isoformat(),
    }
    return asset_service.register(session, principal=principal, data=create, source_trace=source)
