"""CSV exports of the ledger, balances, sharing totals and the asset register."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from services.assets import service as asset_service
from services.auth.service import Principal
from services.errors import NotFound
from services.ledger import service as ledger_service

VIEWS = ("entries", "balances", "shares-by-agency", "shares-by-country", "assets")


# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection":
# tab and carriage return too, which some spreadsheets skip before reading the formula).
FORMULA_STARTS = frozenset("=+-@\t\r")


def cell(value: Any) -> Any:
    """A text cell that would start a formula gets a leading ``'``; an empty one stays empty."""
    if isinstance(value, str) and value and value[0] in FORMULA_STARTS:
        return f"'{value}"
    return value


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue()


def export(session: Session, *, principal: Principal, view: str) -> str:
    """Returns one view as CSV (one row per line for entries, amounts in minor units)."""
    ledger_service.require_read(principal)
    if view == "entries":
        rows: list[Sequence[Any]] = []
        cursor = 0
        while True:
            page = ledger_service.list_entries(
                session, principal=principal, after_seq=cursor, limit=1000
            )
            if not page:
                break
            for item in page:
                entry = item.entry
                base = [
                    entry.seq,
                    entry.created_at.isoformat(),
                    entry.kind,
                    item.status.value,
                    entry.actor,
                    entry.asset_id,
                    entry.decision_for,
                    entry.reverses,
                    entry.memo,
                    entry.entry_hash,
                ]
                if not entry.lines:
                    rows.append([*base, None, None, None, None])
                for line in entry.lines:
                    rows.append(
                        [*base, line.line_no, line.account, line.currency, line.amount_minor]
                    )
            cursor = page[-1].entry.seq
        return _csv(
            [
                "seq",
                "created_at",
                "kind",
                "status",
                "actor",
                "asset_id",
                "decision_for",
                "reverses",
                "memo",
                "entry_hash",
                "line_no",
                "account",
                "currency",
                "amount_minor",
            ],
            rows,
        )
    if view == "balances":
        return _csv(
            ["account", "currency", "posted_minor", "pending_minor"],
            [
                (b.account, b.currency, b.posted_minor, b.pending_minor)
                for b in ledger_service.balances(session, principal=principal)
            ],
        )
    if view in ("shares-by-agency", "shares-by-country"):
        by = view.removeprefix("shares-by-")
        return _csv(
            [by, "currency", "allocated_minor", "disbursed_minor", "outstanding_minor"],
            [
                (t.key, t.currency, t.allocated_minor, t.disbursed_minor, t.outstanding_minor)
                for t in asset_service.share_totals(session, principal=principal, by=by)
            ],
        )
    if view == "assets":
        asset_rows: list[Sequence[Any]] = []
        cursor = 0
        while True:
            assets = asset_service.list_assets(
                session, principal=principal, after_id=cursor, limit=1000
            )
            if not assets:
                break
            asset_rows.extend(
                (
                    a.id,
                    a.asset_type,
                    a.description,
                    a.status,
                    a.value_minor,
                    a.currency,
                    a.jurisdiction,
                    a.case_number,
                    " ".join(a.case_ids),
                    a.custodian,
                    a.seized_at and a.seized_at.isoformat(),
                    a.forfeited_at and a.forfeited_at.isoformat(),
                    a.next_deadline_kind,
                    a.next_deadline_at and a.next_deadline_at.isoformat(),
                )
                for a in assets
            )
            cursor = assets[-1].id
        return _csv(
            [
                "id",
                "asset_type",
                "description",
                "status",
                "value_minor",
                "currency",
                "jurisdiction",
                "case_number",
                "case_ids",
                "custodian",
                "seized_at",
                "forfeited_at",
                "next_deadline_kind",
                "next_deadline_at",
            ],
            asset_rows,
        )
    raise NotFound(f"no export {view!r}; one of {', '.join(VIEWS)}")
