"""The fan-out query of the tracer: one account's transfers on one side of a time, capped.

A stored report with a transaction and both account ids is one side's view of a transfer:
``direction = "out"`` means ``account_id → counterparty_account_id`` reported by the sender's
institution, ``"in"`` means ``counterparty_account_id → account_id`` reported by the
receiver's. Both views are read; ``services.tracing.service`` merges them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from services.reports.orm import Report


@dataclass(frozen=True, slots=True)
class TransferRow:
    """One report's view of one transfer, with what it says about both accounts."""

    row_id: int
    institution_id: str
    report_id: str
    transaction_id: str | None
    direction: str
    account_id: str
    counterparty_account_id: str
    amount_minor: int
    currency: str
    txn_at: datetime
    subject_key: str
    jurisdiction: str
    location_country: str | None
    counterparty_institution_id: str | None
    counterparty_country: str | None

    @property
    def source(self) -> str:
        return self.account_id if self.direction == "out" else self.counterparty_account_id

    @property
    def target(self) -> str:
        return self.counterparty_account_id if self.direction == "out" else self.account_id


_COLUMNS: tuple[Any, ...] = (
    Report.id,
    Report.institution_id,
    Report.report_id,
    Report.transaction_id,
    Report.direction,
    Report.account_id,
    Report.counterparty_account_id,
    Report.amount_minor,
    Report.currency,
    Report.txn_at,
    Report.subject_key,
    Report.jurisdiction,
    Report.document["transaction"]["location"]["country"].as_string(),
    Report.document["transaction"]["counterparty"]["institution_id"].as_string(),
    Report.counterparty_country,
)


def _row(values: Sequence[Any]) -> TransferRow:
    return TransferRow(*values)


@lru_cache(maxsize=16)
def _fanout_statement(
    outgoing: bool, ascending: bool, bounded_after: bool, bounded_before: bool
) -> Any:
    """Builds (once per shape) the capped two-half query of one account's transfers.

    Built once and reused with bind parameters: constructing the statement costs more Python
    time than PostgreSQL takes to run it, and a trace runs it once per account.
    """
    # Outgoing transfers of A: A reported "out", or A named as counterparty of an "in".
    own_direction, their_direction = ("out", "in") if outgoing else ("in", "out")
    halves = []
    for column, other, direction in (
        (Report.account_id, Report.counterparty_account_id, own_direction),
        (Report.counterparty_account_id, Report.account_id, their_direction),
    ):
        statement = select(*_COLUMNS).where(
            column == bindparam("account"),
            Report.direction == direction,
            other.is_not(None),
            Report.amount_minor.is_not(None),
            Report.txn_at.is_not(None),
        )
        if bounded_after:
            statement = statement.where(Report.txn_at > bindparam("after"))
        if bounded_before:
            statement = statement.where(Report.txn_at < bindparam("before"))
        order = (
            (Report.txn_at.asc(), Report.id.asc())
            if ascending
            else (Report.txn_at.desc(), Report.id.desc())
        )
        halves.append(statement.order_by(*order).limit(bindparam("limit")))
    # One round trip: each half keeps its own ORDER BY/LIMIT inside a subquery.
    subqueries = [half.subquery() for half in halves]
    return union_all(
        *(select(*sub.c, literal(index).label("half")) for index, sub in enumerate(subqueries))
    )


class TransferRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def transfers(
        self,
        account_id: str,
        *,
        outgoing: bool,
        after: datetime | None,
        before: datetime | None,
        ascending: bool,
        limit: int,
    ) -> tuple[list[TransferRow], list[TransferRow]]:
        """Returns the account's outgoing (or incoming) transfers strictly inside the window.

        Two capped halves, one per reporting side, each ordered by time (``ascending`` or
        not) and limited to ``limit`` rows, so a hub with a million transfers costs no more
        than one with ``limit`` (given an index on the account and time; see docs/ledger.md).
        Returned separately so the caller knows where each was cut.
        """
        statement = _fanout_statement(outgoing, ascending, after is not None, before is not None)
        params: dict[str, Any] = {"account": account_id, "limit": limit}
        if after is not None:
            params["after"] = after
        if before is not None:
            params["before"] = before
        first: list[TransferRow] = []
        second: list[TransferRow] = []
        for values in self.session.connection().execute(statement, params):
            (first if values[-1] == 0 else second).append(_row(values[:-1]))
        return first, second

    def report(self, institution_id: str, report_id: str) -> TransferRow | None:
        values = self.session.execute(
            select(*_COLUMNS).where(
                Report.institution_id == institution_id, Report.report_id == report_id
            )
        ).first()
        if values is None or values[5] is None or values[6] is None or values[7] is None:
            return None
        return _row(values)

    def report_exists(self, institution_id: str, report_id: str) -> bool:
        return (
            self.session.scalar(
                select(Report.id).where(
                    Report.institution_id == institution_id, Report.report_id == report_id
                )
            )
            is not None
        )
