"""Forfeiture: assets with their lifecycle and deadlines, participants, the sharing preview,
postings awaiting approval (a checker approves or voids them; never their maker), balances and
shares by agency and by country.

Every write goes through the same idempotent path as the API (``run_idempotent``): each form
carries a key generated when the page was rendered, so submitting it twice does it once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from services.assets import flows
from services.assets import service as asset_service
from services.assets.enums import PROCEEDS_OPEN, TRANSITIONS, AssetStatus
from services.assets.schemas import (
    AssetRead,
    DisbursementRequest,
    ExpenseRequest,
    ParticipantCreate,
    ParticipantRead,
    ProceedsRequest,
)
from services.assets.schemas import TransitionRequest as AssetTransition
from services.console import forms
from services.console.service import ConsoleUser
from services.console.web import ConsoleRoute, PostUserDep, UserDep, render, see_other
from services.deps import SessionDep
from services.errors import ServiceError
from services.kit.ids import PathId
from services.kit.time import utc_now
from services.ledger import service as ledger_service
from services.ledger.enums import EntryStatus, ShareRole
from services.ledger.schemas import EntryRead

router = APIRouter(route_class=ConsoleRoute)


def _key() -> str:
    return str(uuid.uuid4())


def _idempotent(
    session: Session, user: ConsoleUser, key: str, path: str, body: Any, operation: Any
) -> Any:
    return ledger_service.run_idempotent(
        session,
        principal=user.principal,
        key=key,
        method="POST",
        path=path,
        body=body,
        operation=operation,
    )


def _back(value: str, default: str) -> str:
    if value.startswith("/console/") and "//" not in value and "\\" not in value:
        return value
    return default


@router.get("/assets")
def assets_page(
    request: Request,
    session: SessionDep,
    user: UserDep,
    status: Annotated[AssetStatus | None, Query()] = None,
    deadline: Annotated[str | None, Query(pattern="^(overdue|week|month|)$")] = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The asset register: lifecycle state and the next open deadline."""
    before = None
    if deadline == "overdue":
        before = utc_now()
    elif deadline == "week":
        before = utc_now() + timedelta(days=7)
    elif deadline == "month":
        before = utc_now() + timedelta(days=30)
    assets = asset_service.list_assets(
        session,
        principal=user.principal,
        status=[status] if status else None,
        deadline_before=before,
        after_id=after_id,
        limit=100,
    )
    return render(
        request,
        "assets.html",
        {
            "section": "assets",
            "assets": assets,
            "statuses": list(AssetStatus),
            "status": status,
            "deadline": deadline or "",
            "next_after": assets[-1].id if len(assets) == 100 else None,
        },
        user=user,
    )


@router.get("/assets/{asset_id}")
def asset_page(request: Request, asset_id: PathId, session: SessionDep, user: UserDep) -> Response:
    """One asset: dates and deadlines, what can happen next, participants, sharing, postings."""
    asset = asset_service.get(session, principal=user.principal, asset_id=asset_id)
    current = AssetStatus(asset.status)
    try:
        _asset, plan = flows.sharing_preview(session, principal=user.principal, asset_id=asset_id)
        preview: Any = plan
        preview_error = None
    except ServiceError as error:
        preview, preview_error = None, error.message
    entries = ledger_service.list_entries(
        session, principal=user.principal, asset_id=asset_id, limit=1000
    )
    payables = sorted(
        {
            line.account
            for view in entries
            if view.status is EntryStatus.POSTED
            for line in view.entry.lines
            if line.amount_minor > 0
            and (line.account.endswith(":payable") or line.account.startswith("remission:"))
        }
    )
    targets = sorted(TRANSITIONS[current], key=list(AssetStatus).index)
    return render(
        request,
        "asset.html",
        {
            "section": "assets",
            "asset": asset,
            "moves": [(target, forms.asset_fields(target)) for target in targets],
            "participants": asset_service.participants(
                session, principal=user.principal, asset_id=asset_id
            ),
            "timeline": asset_service.timeline(
                session, principal=user.principal, asset_id=asset_id
            ),
            "entries": [view for view in entries if view.status is not EntryStatus.DECISION],
            "preview": preview,
            "preview_error": preview_error,
            "proceeds_open": current in PROCEEDS_OPEN,
            "payables": payables,
            "roles": [role.value for role in ShareRole],
            "key": _key(),
        },
        user=user,
    )


def _transition_body(form: Any, currency: str) -> AssetTransition:
    raw = {key: str(value) for key, value in form.items()}
    data = forms.blank_to_none(
        {
            key: raw.get(key, "")
            for key in (
                "to",
                "note",
                "seizing_authority",
                "seizure_number",
                "custodian",
                "claimant",
                "disposition",
                "federal_pct",
                "rationale",
            )
        }
    )
    data["at"] = forms.utc_datetime(raw.get("at"), "at")
    data["amount_minor"] = forms.minor_units(raw.get("amount_minor"), currency, "amount_minor")
    data["proceeds_minor"] = forms.minor_units(
        raw.get("proceeds_minor"), currency, "proceeds_minor"
    )
    return forms.parse_model(AssetTransition, data)


@router.post("/assets/{asset_id}/transition")
async def asset_transition(
    request: Request, asset_id: PathId, session: SessionDep, user: PostUserDep
) -> Response:
    """One lifecycle step; guarded, and posting to the ledger where it must."""
    form = await request.form()
    asset = asset_service.get(session, principal=user.principal, asset_id=asset_id)
    body = _transition_body(form, asset.currency)
    key = str(form.get("idempotency_key") or "")

    def operation() -> Any:
        change = flows.transition(
            session, principal=user.principal, asset_id=asset_id, request=body, idempotency_key=key
        )
        return {"asset": AssetRead.model_validate(change.asset).model_dump(mode="json")}

    _idempotent(
        session,
        user,
        key,
        f"/console/assets/{asset_id}/transition",
        body.model_dump(mode="json"),
        operation,
    )
    return see_other(f"/console/assets/{asset_id}", notice="asset-moved")


@router.post("/assets/{asset_id}/participants")
def add_participant(
    asset_id: PathId,
    session: SessionDep,
    user: PostUserDep,
    idempotency_key: Annotated[str, Form(min_length=1, max_length=200)],
    agency_id: Annotated[str, Form(max_length=64)],
    agency_name: Annotated[str, Form(max_length=200)],
    country: Annotated[str, Form(max_length=2)],
    role: Annotated[str, Form(max_length=16)],
    work_hours: Annotated[int, Form(ge=0)],
    originated_info: Annotated[bool, Form()] = False,
    unique_assistance: Annotated[bool, Form()] = False,
    agreement_ref: Annotated[str, Form(max_length=200)] = "",
    share_bps: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    """Adds an agency or foreign government asking for a share."""
    body = forms.parse_model(
        ParticipantCreate,
        forms.blank_to_none(
            {
                "agency_id": agency_id,
                "agency_name": agency_name,
                "country": country.upper(),
                "role": role,
                "work_hours": work_hours,
                "originated_info": originated_info,
                "unique_assistance": unique_assistance,
                "agreement_ref": agreement_ref,
                "share_bps": share_bps,
            }
        ),
    )

    def operation() -> Any:
        participant, _event = asset_service.add_participant(
            session, principal=user.principal, asset_id=asset_id, data=body
        )
        return ParticipantRead.model_validate(participant).model_dump(mode="json")

    _idempotent(
        session,
        user,
        idempotency_key,
        f"/console/assets/{asset_id}/participants",
        body.model_dump(mode="json"),
        operation,
    )
    return see_other(f"/console/assets/{asset_id}", notice="participant-added")


@router.post("/assets/{asset_id}/postings")
def propose_posting(
    asset_id: PathId,
    session: SessionDep,
    user: PostUserDep,
    idempotency_key: Annotated[str, Form(min_length=1, max_length=200)],
    kind: Annotated[str, Form(pattern="^(proceeds|expense|disbursement)$")],
    amount: Annotated[str, Form(max_length=32)] = "",
    memo: Annotated[str, Form(max_length=1000)] = "",
    account: Annotated[str, Form(max_length=160)] = "",
) -> Response:
    """Proposes realised proceeds, an expense or a payment: pending until another approves."""
    asset = asset_service.get(session, principal=user.principal, asset_id=asset_id)
    amount_minor = forms.minor_units(amount, asset.currency, "amount")
    body: Any
    if kind == "proceeds":
        body = forms.parse_model(
            ProceedsRequest, forms.blank_to_none({"amount_minor": amount_minor, "memo": memo})
        )
    elif kind == "expense":
        body = forms.parse_model(ExpenseRequest, {"amount_minor": amount_minor, "memo": memo})
    else:
        body = forms.parse_model(
            DisbursementRequest,
            forms.blank_to_none({"account": account, "amount_minor": amount_minor}),
        )

    def operation() -> Any:
        common: dict[str, Any] = {
            "principal": user.principal,
            "asset_id": asset_id,
            "idempotency_key": idempotency_key,
        }
        if isinstance(body, ProceedsRequest):
            change = flows.post_proceeds(session, request=body, **common)
        elif isinstance(body, ExpenseRequest):
            change = flows.post_expense(session, request=body, **common)
        else:
            change = flows.disburse(session, request=body, **common)
        return {"entries": [EntryRead.of(view).model_dump(mode="json") for view in change.entries]}

    _idempotent(
        session,
        user,
        idempotency_key,
        f"/console/assets/{asset_id}/postings/{kind}",
        body.model_dump(mode="json"),
        operation,
    )
    return see_other(f"/console/assets/{asset_id}", notice="posting-proposed")


@router.get("/ledger")
def ledger_page(request: Request, session: SessionDep, user: UserDep) -> Response:
    """Postings awaiting approval, balances, and shares by agency and by country."""
    principal = user.principal
    pending = ledger_service.list_entries(
        session, principal=principal, status=EntryStatus.PENDING, limit=200
    )
    return render(
        request,
        "ledger.html",
        {
            "section": "ledger",
            "pending": pending,
            "balances": ledger_service.balances(session, principal=principal),
            "by_agency": asset_service.share_totals(session, principal=principal, by="agency"),
            "by_country": asset_service.share_totals(session, principal=principal, by="country"),
            "key": _key(),
        },
        user=user,
    )


@router.post("/ledger/{seq}/{decision}")
def decide(
    seq: PathId,
    decision: str,
    session: SessionDep,
    user: PostUserDep,
    idempotency_key: Annotated[str, Form(min_length=1, max_length=200)],
    memo: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The checker's decision on a pending posting: approve or void (never its maker)."""
    if decision not in ("approve", "void"):
        raise ServiceError("a decision is approve or void", 404)
    approve = decision == "approve"
    note = memo or None

    def operation() -> Any:
        ledger_service.decide(
            session,
            principal=user.principal,
            seq=seq,
            approve=approve,
            idempotency_key=idempotency_key,
            memo=note,
        )
        return {"seq": seq, "decision": decision}

    _idempotent(
        session,
        user,
        idempotency_key,
        f"/console/ledger/{seq}/{decision}",
        {"memo": note},
        operation,
    )
    return see_other(_back(back, "/console/ledger"), notice="approved" if approve else "voided")
