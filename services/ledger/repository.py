"""Every ledger query. Appends only: there is no update or delete of entries or lines here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased, selectinload

from services.kit.sql import insert_ignoring_conflicts
from services.ledger.chain import GENESIS_HASH
from services.ledger.enums import EntryKind
from services.ledger.orm import IdempotencyRecord, LedgerChainHead, LedgerEntry, LedgerLine

HEAD_ID = 1


@dataclass(frozen=True, slots=True)
class AccountPosition:
    """An account's approved balance and the not yet decided lines on it, for one asset."""

    posted: int = 0
    pending_debits: int = 0  # sum of positive pending lines
    pending_credits: int = 0  # sum of negative pending lines


class LedgerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- chain head ---------------------------------------------------------------------------

    def lock_head(self) -> LedgerChainHead:
        """Locks the chain head row (creating it if missing) until the transaction ends.

        PostgreSQL: ``SELECT … FOR UPDATE`` blocks every other writer on this row. SQLite
        ignores ``FOR UPDATE``, but the ``INSERT OR IGNORE`` before it is a write: it takes the
        database's single write lock, so writers are serialised there too.
        """
        self.session.execute(
            insert_ignoring_conflicts(self.session, LedgerChainHead),
            [{"id": HEAD_ID, "last_seq": 0, "last_hash": GENESIS_HASH}],
        )
        head = self.session.scalar(
            select(LedgerChainHead)
            .where(LedgerChainHead.id == HEAD_ID)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert head is not None  # inserted just above
        return head

    def read_head(self) -> LedgerChainHead | None:
        return self.session.scalar(
            select(LedgerChainHead)
            .where(LedgerChainHead.id == HEAD_ID)
            .execution_options(populate_existing=True)
        )

    def advance_head(self, seq: int, entry_hash: str) -> None:
        self.session.execute(
            update(LedgerChainHead)
            .where(LedgerChainHead.id == HEAD_ID)
            .values(last_seq=seq, last_hash=entry_hash)
        )

    # -- entries ------------------------------------------------------------------------------

    def add(self, entry: LedgerEntry, lines: Sequence[LedgerLine]) -> None:
        self.session.add(entry)
        self.session.flush()
        self.session.add_all(lines)
        self.session.flush()

    def get(self, seq: int) -> LedgerEntry | None:
        return self.session.scalar(
            select(LedgerEntry)
            .where(LedgerEntry.seq == seq)
            .options(selectinload(LedgerEntry.lines))
        )

    def by_key(self, idempotency_key: str) -> LedgerEntry | None:
        return self.session.scalar(
            select(LedgerEntry)
            .where(LedgerEntry.idempotency_key == idempotency_key)
            .options(selectinload(LedgerEntry.lines))
        )

    def decisions_for(self, seqs: Iterable[int]) -> dict[int, LedgerEntry]:
        """Returns the approve/void decision of each of these postings that has one."""
        wanted = list(seqs)
        found: dict[int, LedgerEntry] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            statement = select(LedgerEntry).where(LedgerEntry.decision_for.in_(chunk))
            for decision in self.session.scalars(statement):
                assert decision.decision_for is not None
                found[decision.decision_for] = decision
        return found

    def reversals_of(self, seq: int) -> Sequence[LedgerEntry]:
        return self.session.scalars(
            select(LedgerEntry).where(LedgerEntry.reverses == seq).order_by(LedgerEntry.seq)
        ).all()

    def page(
        self,
        *,
        asset_id: int | None = None,
        kinds: Sequence[str] | None = None,
        after_seq: int = 0,
        limit: int = 100,
        account: str | None = None,
    ) -> Sequence[LedgerEntry]:
        statement = (
            select(LedgerEntry)
            .where(LedgerEntry.seq > after_seq)
            .order_by(LedgerEntry.seq)
            .limit(limit)
            .options(selectinload(LedgerEntry.lines))
        )
        if asset_id is not None:
            statement = statement.where(LedgerEntry.asset_id == asset_id)
        if kinds:
            statement = statement.where(LedgerEntry.kind.in_(kinds))
        if account is not None:
            statement = statement.where(
                LedgerEntry.seq.in_(
                    select(LedgerLine.entry_seq).where(LedgerLine.account == account)
                )
            )
        return self.session.scalars(statement).all()

    def stream(self, batch: int = 1000) -> Iterator[LedgerEntry]:
        """Yields every entry with its lines in chain order, a batch at a time."""
        after = 0
        while True:
            rows = self.session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.seq > after)
                .order_by(LedgerEntry.seq)
                .limit(batch)
                .options(selectinload(LedgerEntry.lines))
            ).all()
            if not rows:
                return
            yield from rows
            after = rows[-1].seq
            self.session.expunge_all()

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)

    # -- balances -----------------------------------------------------------------------------

    def _decided(self) -> Any:
        return aliased(LedgerEntry, name="decision")

    def positions(
        self, asset_id: int | None, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], AccountPosition]:
        """Returns the position of each (account, currency) restricted to one asset's entries."""
        keys = set(keys)
        if not keys:
            return {}
        decision = self._decided()
        posted = case((decision.kind == EntryKind.APPROVE.value, LedgerLine.amount_minor), else_=0)
        pending_debit = case(
            (and_(decision.seq.is_(None), LedgerLine.amount_minor > 0), LedgerLine.amount_minor),
            else_=0,
        )
        pending_credit = case(
            (and_(decision.seq.is_(None), LedgerLine.amount_minor < 0), LedgerLine.amount_minor),
            else_=0,
        )
        statement = (
            select(
                LedgerLine.account,
                LedgerLine.currency,
                func.coalesce(func.sum(posted), 0),
                func.coalesce(func.sum(pending_debit), 0),
                func.coalesce(func.sum(pending_credit), 0),
            )
            .join(LedgerEntry, LedgerEntry.seq == LedgerLine.entry_seq)
            .outerjoin(decision, decision.decision_for == LedgerEntry.seq)
            .where(LedgerLine.account.in_({account for account, _ in keys}))
            .group_by(LedgerLine.account, LedgerLine.currency)
        )
        statement = statement.where(
            LedgerEntry.asset_id.is_(None) if asset_id is None else LedgerEntry.asset_id == asset_id
        )
        result = {key: AccountPosition() for key in keys}
        for account, currency, total, debits, credits in self.session.execute(statement):
            if (account, currency) in result:
                result[(account, currency)] = AccountPosition(int(total), int(debits), int(credits))
        return result

    def balances(
        self,
        *,
        asset_id: int | None = None,
        currency: str | None = None,
        prefix: str | None = None,
    ) -> list[tuple[str, str, int, int]]:
        """Returns (account, currency, posted, pending net) per account, from the lines."""
        decision = self._decided()
        posted = case((decision.kind == EntryKind.APPROVE.value, LedgerLine.amount_minor), else_=0)
        pending = case((decision.seq.is_(None), LedgerLine.amount_minor), else_=0)
        statement = (
            select(
                LedgerLine.account,
                LedgerLine.currency,
                func.coalesce(func.sum(posted), 0),
                func.coalesce(func.sum(pending), 0),
            )
            .join(LedgerEntry, LedgerEntry.seq == LedgerLine.entry_seq)
            .outerjoin(decision, decision.decision_for == LedgerEntry.seq)
            .group_by(LedgerLine.account, LedgerLine.currency)
            .order_by(LedgerLine.account, LedgerLine.currency)
        )
        if asset_id is not None:
            statement = statement.where(LedgerEntry.asset_id == asset_id)
        if currency is not None:
            statement = statement.where(LedgerLine.currency == currency)
        if prefix:
            statement = statement.where(LedgerLine.account.startswith(prefix, autoescape=True))
        return [
            (account, cur, int(total), int(pend))
            for account, cur, total, pend in self.session.execute(statement)
        ]

    def posted_share_lines(self) -> list[tuple[str, int | None, str, str, int]]:
        """Returns (effective kind, asset id, account, currency, amount) of approved lines on
        the federal share and the agency and foreign payables.

        The effective kind of a reversal is the kind of the entry it reverses, so a reversed
        allocation subtracts from what was allocated.
        """
        decision = self._decided()
        target = aliased(LedgerEntry, name="reversed")
        statement = (
            select(
                func.coalesce(target.kind, LedgerEntry.kind),
                LedgerEntry.asset_id,
                LedgerLine.account,
                LedgerLine.currency,
                LedgerLine.amount_minor,
            )
            .join(LedgerEntry, LedgerEntry.seq == LedgerLine.entry_seq)
            .join(decision, decision.decision_for == LedgerEntry.seq)
            .outerjoin(target, target.seq == LedgerEntry.reverses)
            .where(
                decision.kind == EntryKind.APPROVE.value,
                or_(
                    LedgerLine.account == "federal-share",
                    and_(
                        or_(
                            LedgerLine.account.startswith("agency:"),
                            LedgerLine.account.startswith("foreign:"),
                        ),
                        LedgerLine.account.endswith(":payable"),
                    ),
                ),
            )
            .order_by(LedgerEntry.seq, LedgerLine.line_no)
        )
        return [
            (kind, asset_id, account, currency, int(amount))
            for kind, asset_id, account, currency, amount in self.session.execute(statement)
        ]

    def pending_count(self, asset_id: int) -> int:
        """Counts the asset's postings that are still awaiting a decision."""
        decision = self._decided()
        statement = (
            select(func.count())
            .select_from(LedgerEntry)
            .outerjoin(decision, decision.decision_for == LedgerEntry.seq)
            .where(
                LedgerEntry.asset_id == asset_id,
                LedgerEntry.kind.not_in([EntryKind.APPROVE.value, EntryKind.VOID.value]),
                decision.seq.is_(None),
            )
        )
        return int(self.session.scalar(statement) or 0)

    # -- idempotency --------------------------------------------------------------------------

    def idempotency_record(self, key: str) -> IdempotencyRecord | None:
        return self.session.get(IdempotencyRecord, key)

    def add_idempotency_record(self, record: IdempotencyRecord) -> None:
        self.session.add(record)
        self.session.flush()
