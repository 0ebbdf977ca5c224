"""Request and response bodies of the ledger API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from services.ledger.service import Balance, EntryView, VerifyReport


class LineRead(BaseModel):
    account: str
    currency: str
    amount_minor: int


class DecisionRead(BaseModel):
    seq: int
    kind: str
    actor: str
    created_at: datetime
    memo: str | None


class EntryRead(BaseModel):
    seq: int
    kind: str
    status: str
    created_at: datetime
    actor: str
    actor_role: str
    asset_id: int | None
    memo: str | None
    decision_for: int | None
    reverses: int | None
    idempotency_key: str
    data: dict[str, Any]
    lines: list[LineRead]
    prev_hash: str
    entry_hash: str
    decision: DecisionRead | None

    @classmethod
    def of(cls, view: EntryView) -> EntryRead:
        entry, decision = view.entry, view.decision
        return cls(
            seq=entry.seq,
            kind=entry.kind,
            status=view.status.value,
            created_at=entry.created_at,
            actor=entry.actor,
            actor_role=entry.actor_role,
            asset_id=entry.asset_id,
            memo=entry.memo,
            decision_for=entry.decision_for,
            reverses=entry.reverses,
            idempotency_key=entry.idempotency_key,
            data=entry.data,
            lines=[
                LineRead(
                    account=line.account, currency=line.currency, amount_minor=line.amount_minor
                )
                for line in entry.lines
            ],
            prev_hash=entry.prev_hash,
            entry_hash=entry.entry_hash,
            decision=(
                DecisionRead(
                    seq=decision.seq,
                    kind=decision.kind,
                    actor=decision.actor,
                    created_at=decision.created_at,
                    memo=decision.memo,
                )
                if decision is not None
                else None
            ),
        )


class EntryPage(BaseModel):
    items: list[EntryRead]
    next_cursor: int | None


class DecisionRequest(BaseModel):
    memo: Annotated[str, Field(max_length=1000)] | None = None


class BalanceRead(BaseModel):
    account: str
    currency: str
    posted_minor: int
    pending_minor: int

    @classmethod
    def of(cls, balance: Balance) -> BalanceRead:
        return cls(
            account=balance.account,
            currency=balance.currency,
            posted_minor=balance.posted_minor,
            pending_minor=balance.pending_minor,
        )


class ProblemRead(BaseModel):
    seq: int | None
    reason: str


class VerifyRead(BaseModel):
    ok: bool
    entries: int
    postings: int
    posted: int
    pending: int
    voided: int
    head_seq: int
    head_hash: str
    first_error: ProblemRead | None
    currency_totals: dict[str, int]
    balances: list[BalanceRead]

    @classmethod
    def of(cls, report: VerifyReport) -> VerifyRead:
        return cls(
            ok=report.ok,
            entries=report.entries,
            postings=report.postings,
            posted=report.posted,
            pending=report.pending,
            voided=report.voided,
            head_seq=report.head_seq,
            head_hash=report.head_hash,
            first_error=(
                ProblemRead(seq=report.first_error.seq, reason=report.first_error.reason)
                if report.first_error
                else None
            ),
            currency_totals=report.currency_totals,
            balances=[BalanceRead.of(balance) for balance in report.balances],
        )


class ShareTotal(BaseModel):
    """Money shared with one agency or country: allocated, paid, still owed (posted only)."""

    key: str
    currency: str
    allocated_minor: int
    disbursed_minor: int
    outstanding_minor: int
