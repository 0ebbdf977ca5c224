from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.orm import Session

from refdata.enums import Jurisdiction
from services.assets import exports, flows
from services.assets import service as asset_service
from services.assets.enums import AssetStatus, AssetType, DeadlineKind
from services.assets.schemas import (
    AssetChange,
    AssetCreate,
    AssetFromTrace,
    AssetPage,
    AssetRead,
    ConcurrenceRequest,
    CustodyRequest,
    DisbursementRequest,
    EventRead,
    ExpenseRequest,
    ParticipantCreate,
    ParticipantRead,
    ProceedsRequest,
    ShareLine,
    SharingPreview,
    TimelineItem,
    TransitionRequest,
)
from services.auth.service import Principal
from services.deps import PrincipalDep, SessionDep
from services.errors import UNAUTHENTICATED
from services.kit.ids import PathId
from services.ledger import service as ledger_service
from services.ledger.endpoints import (
    READ_ERRORS,
    READ_ONE_ERRORS,
    WRITE_ERRORS,
    IdempotencyKeyDep,
)
from services.ledger.schemas import EntryRead, ShareTotal

router = APIRouter(tags=["assets"], responses=UNAUTHENTICATED)


def _change(change: flows.Change) -> dict[str, Any]:
    return AssetChange(
        asset=AssetRead.model_validate(change.asset),
        event=EventRead.model_validate(change.event),
        entries=[EntryRead.of(view) for view in change.entries],
    ).model_dump(mode="json")


def _write(
    session: Session,
    principal: Principal,
    key: str | None,
    path: str,
    body: BaseModel,
    operation: Callable[[], Any],
    status_code: int = 200,
) -> Any:
    return ledger_service.run_idempotent(
        session,
        principal=principal,
        key=key,
        method="POST",
        path=path,
        body=body.model_dump(mode="json"),
        operation=operation,
        status_code=status_code,
    )


@router.post(
    "/v1/assets",
    response_model=AssetRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def register_asset(
    body: AssetCreate,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Any:
    """Registers an asset by hand (state IDENTIFIED)."""

    def operation() -> Any:
        asset, _event = asset_service.register(session, principal=principal, data=body)
        return AssetRead.model_validate(asset).model_dump(mode="json")

    return _write(session, principal, idempotency_key, "/v1/assets", body, operation, 201)


@router.post(
    "/v1/assets/from-trace",
    response_model=AssetRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def register_from_trace(
    body: AssetFromTrace,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Any:
    """Registers the traced money an account holds, re-running the trace on the server."""
    ledger_service.require_write(principal)
    # The trace is a read: run it before the write lock is taken, not while holding it.
    trace = flows.run_trace(session, principal=principal, request=body)

    def operation() -> Any:
        asset, _event = flows.register_from_trace(
            session, principal=principal, request=body, trace=trace
        )
        return AssetRead.model_validate(asset).model_dump(mode="json")

    return _write(
        session, principal, idempotency_key, "/v1/assets/from-trace", body, operation, 201
    )


@router.get("/v1/assets", response_model=AssetPage, responses=READ_ERRORS)
def list_assets(
    session: SessionDep,
    principal: PrincipalDep,
    asset_status: Annotated[list[AssetStatus] | None, Query(alias="status")] = None,
    asset_type: AssetType | None = None,
    jurisdiction: Jurisdiction | None = None,
    case_number: str | None = None,
    case_id: str | None = None,
    alert_id: str | None = None,
    deadline_before: Annotated[
        AwareDatetime | None,
        Query(description="only assets whose next open deadline is before this time"),
    ] = None,
    deadline_kind: DeadlineKind | None = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AssetPage:
    """Lists assets by id, filtered; ``deadline_before`` finds what falls due."""
    assets = asset_service.list_assets(
        session,
        principal=principal,
        status=asset_status,
        asset_type=asset_type.value if asset_type else None,
        jurisdiction=jurisdiction.value if jurisdiction else None,
        case_number=case_number,
        case_id=case_id,
        alert_id=alert_id,
        deadline_before=deadline_before,
        deadline_kind=deadline_kind,
        after_id=after_id,
        limit=limit,
    )
    return AssetPage(
        items=[AssetRead.model_validate(asset) for asset in assets],
        next_cursor=assets[-1].id if len(assets) == limit else None,
    )


@router.get("/v1/assets/{asset_id}", response_model=AssetRead, responses=READ_ONE_ERRORS)
def read_asset(asset_id: PathId, session: SessionDep, principal: PrincipalDep) -> Any:
    """Returns an asset with its state, dates and computed deadlines."""
    return asset_service.get(session, principal=principal, asset_id=asset_id)


@router.post(
    "/v1/assets/{asset_id}/transitions", response_model=AssetChange, responses=WRITE_ERRORS
)
def transition_asset(
    asset_id: PathId,
    body: TransitionRequest,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Any:
    """Moves an asset along its lifecycle; guarded, and posts to the ledger where it must."""

    def operation() -> Any:
        return _change(
            flows.transition(
                session,
                principal=principal,
                asset_id=asset_id,
                request=body,
                idempotency_key=idempotency_key or "",
            )
        )

    return _write(
        session, principal, idempotency_key, f"/v1/assets/{asset_id}/transitions", body, operation
    )


@router.post(
    "/v1/assets/{asset_id}/participants",
    response_model=ParticipantRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def add_participant(
    asset_id: PathId,
    body: ParticipantCreate,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Any:
    """Adds an agency or foreign government asking for a share, with its contribution."""

    def operation() -> Any:
        participant, _event = asset_service.add_participant(
            session, principal=principal, asset_id=asset_id, data=body
        )
        return ParticipantRead.model_validate(participant).model_dump(mode="json")

    return _write(
        session,
        principal,
        idempotency_key,
        f"/v1/assets/{asset_id}/participants",
        body,
        operation,
        201,
    )


@router.get(
    "/v1/assets/{asset_id}/participants",
    response_model=list[ParticipantRead],
    responses=READ_ONE_ERRORS,
)
def list_participants(asset_id: PathId, session: SessionDep, principal: PrincipalDep) -> Any:
    """Lists the participants of an asset's sharing."""
    return asset_service.participants(session, principal=principal, asset_id=asset_id)


@router.post(
    "/v1/assets/{asset_id}/concurrences", response_model=ParticipantRead, responses=WRITE_ERRORS
)
def record_concurrence(
    asset_id: PathId,
    body: ConcurrenceRequest,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Any:
    """Records the Secretary of State's concurrence in a transfer to a foreign participant."""

    def operation() -> Any:
        participant, _event = asset_service.record_concurrence(
            session, principal=principal, asset_id=asset_id, data=body
        )
        return ParticipantRead.model_validate(participant).model_dump(mode="json")

    return _write(
        session,
        principal,
        idempotency_key,
        f"/v1/assets/{asset_id}/concurrences",
        body,
        operation,
    )


@router.post("/v1/assets/{asset_id}/custody", response_model=AssetRead, responses=WRITE_ERRORS)
def change_custody(
    asset_id: PathId,
    body: CustodyRequest,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Any:
    """Records a change of custodian (the custody history is in the timeline)."""

    def operation() -> Any:
        asset, _event = asset_service.change_custody(
            session, principal=principal, asset_id=asset_id, data=body
        )
        return AssetRead.model_validate(asset).model_dump(mode="json")

    return _write(
        session, principal, idempotency_key, f"/v1/assets/{asset_id}/custody", body, operation
    )


@router.post(
    "/v1/assets/{asset_id}/proceeds",
    response_model=AssetChange,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def post_proceeds(
    asset_id: PathId,
    body: ProceedsRequest,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Any:
    """Proposes realised proceeds of a forfeited asset (pending approval)."""

    def operation() -> Any:
        return _change(
            flows.post_proceeds(
                session,
                principal=principal,
                asset_id=asset_id,
                request=body,
                idempotency_key=idempotency_key or "",
            )
        )

    return _write(
        session,
        principal,
        idempotency_key,
        f"/v1/assets/{asset_id}/proceeds",
        body,
        operation,
        201,
    )


@router.post(
    "/v1/assets/{asset_id}/expenses",
    response_model=AssetChange,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def post_expense(
    asset_id: PathId,
    body: ExpenseRequest,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Any:
    """Proposes an expense paid from the asset's proceeds (pending approval)."""

    def operation() -> Any:
        return _change(
            flows.post_expense(
                session,
                principal=principal,
                asset_id=asset_id,
                request=body,
                idempotency_key=idempotency_key or "",
            )
        )

    return _write(
        session,
        principal,
        idempotency_key,
        f"/v1/assets/{asset_id}/expenses",
        body,
        operation,
        201,
    )


@router.post(
    "/v1/assets/{asset_id}/disbursements",
    response_model=AssetChange,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def disburse(
    asset_id: PathId,
    body: DisbursementRequest,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Any:
    """Proposes a payment of a share or a remission (pending approval)."""

    def operation() -> Any:
        return _change(
            flows.disburse(
                session,
                principal=principal,
                asset_id=asset_id,
                request=body,
                idempotency_key=idempotency_key or "",
            )
        )

    return _write(
        session,
        principal,
        idempotency_key,
        f"/v1/assets/{asset_id}/disbursements",
        body,
        operation,
        201,
    )


@router.get(
    "/v1/assets/{asset_id}/sharing", response_model=SharingPreview, responses=READ_ONE_ERRORS
)
def sharing_preview(
    asset_id: PathId,
    session: SessionDep,
    principal: PrincipalDep,
    federal_pct: Annotated[int | None, Query(ge=20, le=100)] = None,
) -> SharingPreview:
    """Computes the sharing of the current net proceeds without posting anything."""
    asset, plan = flows.sharing_preview(
        session, principal=principal, asset_id=asset_id, federal_pct=federal_pct
    )
    return SharingPreview(
        asset_id=asset.id,
        currency=asset.currency,
        net_minor=plan.net_minor,
        foreign_minor=plan.foreign_minor,
        domestic_minor=plan.domestic_minor,
        federal_pct=plan.federal_pct,
        state_local_cap_minor=plan.state_local_cap_minor,
        cap_applied=plan.cap_applied,
        participants=[
            ShareLine(
                agency_id=item.agency_id,
                role=item.role.value,
                country=item.country,
                weight=item.weight,
                account=item.account,
                exact_minor=str(item.exact),
                amount_minor=item.amount_minor,
            )
            for item in plan.participants
        ],
        accounts=plan.accounts,
    )


@router.get(
    "/v1/assets/{asset_id}/timeline", response_model=list[TimelineItem], responses=READ_ONE_ERRORS
)
def timeline(asset_id: PathId, session: SessionDep, principal: PrincipalDep) -> list[TimelineItem]:
    """The asset's history: lifecycle events, custody, and its ledger postings and decisions."""
    return asset_service.timeline(session, principal=principal, asset_id=asset_id)


# Ledger views that read the asset register: served here, where both are known (assets post
# to the ledger; the ledger knows nothing of assets). Their paths and tags stay the ledger's.
ledger_views = APIRouter(tags=["ledger"], responses=UNAUTHENTICATED)


@ledger_views.get("/v1/ledger/shares", response_model=list[ShareTotal], responses=READ_ERRORS)
def shares(
    session: SessionDep,
    principal: PrincipalDep,
    by: Literal["agency", "country"] = "agency",
) -> list[ShareTotal]:
    """Totals shared per agency or per country: allocated, disbursed, outstanding."""
    return [
        ShareTotal(
            key=row.key,
            currency=row.currency,
            allocated_minor=row.allocated_minor,
            disbursed_minor=row.disbursed_minor,
            outstanding_minor=row.outstanding_minor,
        )
        for row in asset_service.share_totals(session, principal=principal, by=by)
    ]


@ledger_views.get(
    "/v1/ledger/exports/{view}.csv",
    # Response, not PlainTextResponse: FastAPI would declare text/plain for the CSV and for
    # the (JSON) error bodies.
    response_class=Response,
    responses={
        **READ_ERRORS,
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "the view as CSV",
        },
    },
)
def export_csv(
    view: Literal["entries", "balances", "shares-by-agency", "shares-by-country", "assets"],
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Exports entries (one row per line), balances, sharing totals or the asset register."""
    return Response(
        exports.export(session, principal=principal, view=view),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="ledger-{view}.csv"'},
    )
