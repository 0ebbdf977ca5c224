from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status

from services.deps import PrincipalDep, SessionDep, SettingsDep
from services.errors import MALFORMED_BODY, UNAUTHENTICATED, Responses
from services.kit.ids import MAX_DB_ID, PathId
from services.ledger import monitor
from services.ledger import service as ledger_service
from services.ledger.enums import EntryKind, EntryStatus
from services.ledger.schemas import (
    BalanceRead,
    DecisionRequest,
    EntryPage,
    EntryRead,
    VerifyRead,
)

router = APIRouter(tags=["ledger"], responses=UNAUTHENTICATED)

IdempotencyKeyDep = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="required on every write: the same key and request replay the first"
        " response; the same key with another request is refused (409)",
    ),
]
READ_ERRORS: Responses = {403: {"description": "not an investigative role"}}
READ_ONE_ERRORS: Responses = {
    **READ_ERRORS,
    404: {"description": "no such entry or asset"},
}
WRITE_ERRORS: Responses = {
    **MALFORMED_BODY,
    403: {"description": "role may not write, or maker-checker"},
    404: {"description": "no such entry or asset"},
    409: {"description": "refused by a rule or guard, or idempotency key reuse"},
    422: {"description": "invalid request"},
}


@router.get("/v1/ledger/entries", response_model=EntryPage, responses=READ_ERRORS)
def list_entries(
    session: SessionDep,
    principal: PrincipalDep,
    asset_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    kind: Annotated[list[EntryKind] | None, Query()] = None,
    entry_status: Annotated[EntryStatus | None, Query(alias="status")] = None,
    account: str | None = None,
    after_seq: Annotated[int, Query(ge=0, le=MAX_DB_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EntryPage:
    """Lists entries in chain order; pass the last ``seq`` as ``after_seq`` for the next page."""
    views = ledger_service.list_entries(
        session,
        principal=principal,
        asset_id=asset_id,
        kinds=[item.value for item in kind] if kind else None,
        status=entry_status,
        account=account,
        after_seq=after_seq,
        limit=limit,
    )
    return EntryPage(
        items=[EntryRead.of(view) for view in views],
        next_cursor=views[-1].entry.seq if len(views) == limit else None,
    )


@router.get("/v1/ledger/entries/{seq}", response_model=EntryRead, responses=READ_ONE_ERRORS)
def read_entry(seq: PathId, session: SessionDep, principal: PrincipalDep) -> EntryRead:
    """Returns one entry with its lines, status, decision and hashes."""
    return EntryRead.of(ledger_service.get_entry(session, principal=principal, seq=seq))


def _decide(
    seq: PathId,
    approve: bool,
    body: DecisionRequest,
    session: SessionDep,
    principal: PrincipalDep,
    key: str | None,
) -> Any:
    def operation() -> Any:
        ledger_service.decide(
            session,
            principal=principal,
            seq=seq,
            approve=approve,
            idempotency_key=key or "",
            memo=body.memo,
        )
        target = ledger_service.get_entry(session, principal=principal, seq=seq)
        return EntryRead.of(target).model_dump(mode="json")

    return ledger_service.run_idempotent(
        session,
        principal=principal,
        key=key,
        method="POST",
        path=f"/v1/ledger/entries/{seq}/{'approve' if approve else 'void'}",
        body=body.model_dump(mode="json"),
        operation=operation,
    )


@router.post("/v1/ledger/entries/{seq}/approve", response_model=EntryRead, responses=WRITE_ERRORS)
def approve_entry(
    seq: PathId,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
    body: DecisionRequest | None = None,
) -> Any:
    """Approves a pending posting (a supervisor or admin other than its maker)."""
    return _decide(seq, True, body or DecisionRequest(), session, principal, idempotency_key)


@router.post("/v1/ledger/entries/{seq}/void", response_model=EntryRead, responses=WRITE_ERRORS)
def void_entry(
    seq: PathId,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
    body: DecisionRequest | None = None,
) -> Any:
    """Voids a pending posting: it will never count (a supervisor or admin, not the maker)."""
    return _decide(seq, False, body or DecisionRequest(), session, principal, idempotency_key)


@router.post(
    "/v1/ledger/entries/{seq}/reverse",
    response_model=EntryRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def reverse_entry(
    seq: PathId,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep = None,
    body: DecisionRequest | None = None,
) -> Any:
    """Proposes the reversal of a posted entry: the correction, pending approval like any."""
    request = body or DecisionRequest()

    def operation() -> Any:
        entry = ledger_service.reverse(
            session,
            principal=principal,
            seq=seq,
            idempotency_key=idempotency_key or "",
            memo=request.memo,
        )
        return EntryRead.of(ledger_service.view(session, entry)).model_dump(mode="json")

    return ledger_service.run_idempotent(
        session,
        principal=principal,
        key=idempotency_key,
        method="POST",
        path=f"/v1/ledger/entries/{seq}/reverse",
        body=request.model_dump(mode="json"),
        operation=operation,
        status_code=201,
    )


@router.get("/v1/ledger/balances", response_model=list[BalanceRead], responses=READ_ERRORS)
def balances(
    session: SessionDep,
    principal: PrincipalDep,
    asset_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    currency: str | None = None,
    prefix: Annotated[str | None, Query(description="e.g. 'agency:' or 'forfeited:'")] = None,
) -> list[BalanceRead]:
    """Balances per account, derived from the lines: approved, and pending net."""
    return [
        BalanceRead.of(balance)
        for balance in ledger_service.balances(
            session, principal=principal, asset_id=asset_id, currency=currency, prefix=prefix
        )
    ]


@router.get("/v1/ledger/verify", response_model=VerifyRead, responses=READ_ERRORS)
def verify(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    expect_seq: Annotated[int | None, Query(ge=1, description="anchor from an earlier run")] = None,
    expect_hash: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None,
) -> VerifyRead:
    """Recomputes the hash chain and all balances; names the first inconsistent entry.

    Only a check against the operator's configured anchor (none, when none is configured)
    updates the verification alarm."""
    report = ledger_service.verify(
        session, principal=principal, expect_seq=expect_seq, expect_hash=expect_hash
    )
    # The alarm (amlscreen_ledger_verification_ok) moves only on a check against the
    # operator's anchor: a caller's own anchor is answered, never alarmed on, or anyone
    # investigative could fire the critical alert with any 64 hex digits.
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None and (expect_seq, expect_hash) == monitor.anchor(settings):
        monitor.record(metrics, report)
    return VerifyRead.of(report)
