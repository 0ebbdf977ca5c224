"""Presentation helpers of the console: how values read on a page. No I/O, no rules.

Feature names become plain words, money is formatted from minor units, deadlines become badges.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from refdata.money import Money
from services.alerts.enums import TERMINAL_STATUSES, AlertStatus

# An open item whose deadline is this close is "due soon".
DUE_SOON = timedelta(days=7)

NOTICES = {
    "signed-out": "You are signed out.",
    "assigned": "Assignment saved.",
    "moved": "Status changed.",
    "second-approval": (
        "Closure as a false positive proposed, not yet done: the score is at or above the"
        " second-approval threshold, so it takes effect once another investigator or"
        " supervisor confirms the same closure."
    ),
    "noted": "Note added.",
    "case-created": "Case created.",
    "case-saved": "Case saved.",
    "asset-registered": "Asset registered.",
    "asset-moved": "Asset status changed.",
    "participant-added": "Participant added.",
    "posting-proposed": "Posting proposed: it counts once another supervisor approves it.",
    "approved": "Posting approved.",
    "voided": "Posting voided.",
}

SCORE_BANDS: dict[str, tuple[str, float | None, float | None]] = {
    "high": ("High (0.9 and above)", 0.9, None),
    "elevated": ("Elevated (0.7 to 0.9)", 0.7, 0.9),
    "moderate": ("Moderate (0.5 to 0.7)", 0.5, 0.7),
    "low": ("Low (below 0.5)", None, 0.5),
}


def notice(key: str | None) -> str | None:
    """The message of a notice key from a redirect; unknown keys show nothing."""
    return NOTICES.get(key or "")


def money(amount_minor: int | None, currency: str | None) -> str:
    """``1234567, "USD"`` → ``12,345.67 USD``."""
    if amount_minor is None or not currency:
        return "—"
    try:
        text = Money(int(amount_minor), currency).format()
    except ValueError:
        return f"{amount_minor} {currency} (minor units)"
    whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    grouped = f"{int(whole.lstrip('-')):,}"
    return f"{sign}{grouped}{'.' + fraction if fraction else ''} {currency}"


def when(value: datetime | str | None) -> str:
    """An aware datetime as ``2026-11-28 10:00 UTC``."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed.strftime("%Y-%m-%d %H:%M UTC")
    return value.strftime("%Y-%m-%d %H:%M UTC")


def day(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d")


def deadline_state(
    deadline_at: datetime | None, status: str | None, now: datetime, *, open_item: bool = True
) -> str | None:
    """``overdue``, ``due-soon`` or None; closed and filed items have no running clock."""
    if deadline_at is None or not open_item:
        return None
    if status in {s.value for s in TERMINAL_STATUSES}:
        return None
    if deadline_at <= now:
        return "overdue"
    if deadline_at - now <= DUE_SOON:
        return "due-soon"
    return None


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One row of the queue page, formatted once in Python (the page's hot loop)."""

    id: int
    version: int
    score: str
    typology: str
    status: str
    disposition: str
    subject: str
    subject_href: str
    institution_id: str
    jurisdiction: str
    assignee: str
    created: str
    deadline: str
    deadline_at: str
    badge: str | None


def queue_rows(items: Sequence[Mapping[str, Any]], now: datetime) -> list[QueueRow]:
    """The queue's rows as the page prints them: formatting 50 rows in the template (macro
    calls, filters and attribute look-ups per cell) cost several times the page's query."""
    rows = []
    for item in items:
        deadline_at = item["deadline_at"]
        rows.append(
            QueueRow(
                id=item["id"],
                version=item["version"],
                score=f"{item['score']:.3f}",
                typology=label(item["typology"]),
                status=label(item["status"]),
                disposition=label(item["disposition"]) if item["disposition"] else "",
                subject=item["subject_key"][:18],
                subject_href=quote(item["subject_key"], safe=""),
                institution_id=item["institution_id"],
                jurisdiction=item["jurisdiction"],
                assignee=item["assignee"] or "—",
                created=when(item["created_at"]),
                deadline=day(deadline_at),
                deadline_at=when(deadline_at),
                badge=deadline_state(deadline_at, item["status"], now),
            )
        )
    return rows


def is_open(status: str) -> bool:
    return AlertStatus(status) not in TERMINAL_STATUSES


_WINDOW = re.compile(r"_(\d+)([dh])$")
_WORDS = {
    "usd": "amount (USD)",
    "n": "number of reports",
    "cash_in": "cash deposited",
    "cash_out": "cash withdrawn",
    "cash_in_n": "cash deposits",
    "cash_out_n": "cash withdrawals",
    "cash_in_usd": "cash deposited (USD)",
    "cash_out_usd": "cash withdrawn (USD)",
    "in_usd": "money received (USD)",
    "out_usd": "money sent (USD)",
    "in_n": "payments received",
    "out_n": "payments sent",
    "near": "deposit just below the reporting threshold",
    "near_n": "deposits just below the reporting threshold",
    "near_usd": "amount just below the reporting threshold (USD)",
    "near_branches": "branches used for near-threshold deposits",
    "branches": "branches used",
    "regions": "regions used",
    "payers": "different payers",
    "payees": "different payees",
    "passthrough": "money passed straight through (share)",
    "mirror": "money out mirroring money in",
    "since_opposite_h": "hours between money in and money out",
    "hrc": "high-risk-country counterparty",
    "hrc_n": "payments with high-risk countries",
    "hrc_share": "share of money with high-risk countries",
    "xb_n": "cross-border payments",
    "xb_share": "share of money crossing borders",
    "xborder": "cross-border payment",
    "cash_share": "share of cash",
    "round100_share": "share of round-hundred amounts",
    "round1000_share": "share of round-thousand amounts",
    "round1000_n": "round-thousand amounts",
    "round100_n": "round-hundred amounts",
    "max_usd": "largest payment (USD)",
    "countries": "countries involved",
    "institutions": "institutions involved",
    "str_n": "suspicious-activity reports",
    "idle_days": "days without activity before this report",
    "max_idle_days": "longest quiet spell (days)",
    "day_cash_in_usd": "cash deposited that day (USD)",
    "day_cash_out_usd": "cash withdrawn that day (USD)",
    "day_near_n": "near-threshold deposits that day",
    "day_branches": "branches used that day",
    "cp_payers_7d": "payers into the beneficiary account in 7 days",
    "cp_payees_7d": "payees of the paying account in 7 days",
    "cash_in_jump_7d": "cash deposits against the subject's own usual level",
    "volume_jump_7d": "activity against the subject's own usual level",
    "account_age_days": "age of the account (days)",
    "history_days": "days of history on the subject",
    "match_n": "payments matching an earlier amount",
    "match_age_h": "hours since the matching payment",
    "usd_vs_peers": "amount against peers",
}


def feature_label(name: str) -> str:
    """A feature's name in plain words: ``cash_in_usd_7d`` → "cash deposited (USD), 7 days"."""
    if name.startswith("contribution."):
        return f"weight of “{name.split('.', 1)[1].replace('_', ' ')}” in the score"
    if name in _WORDS:
        return _WORDS[name]
    window = _WINDOW.search(name)
    if window:
        base = name[: window.start()]
        unit = "days" if window.group(2) == "d" else "hours"
        count = int(window.group(1))
        span = "1 day" if (count, unit) == (1, "days") else f"{count} {unit}"
        return f"{_WORDS.get(base, base.replace('_', ' '))}, {span}"
    return name.replace("_", " ")


def number(value: Any) -> str:
    """A feature value, rounded the way a person reads it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.2f}"
    return str(value)


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """What an audit event changed, as ``field: old → new`` lines (versions left out)."""
    before = before or {}
    after = after or {}
    lines = []
    for key in sorted(set(before) | set(after)):
        if key in ("version", "updated_at"):
            continue
        old, new = before.get(key), after.get(key)
        if old != new:
            lines.append(f"{key.replace('_', ' ')}: {_short(old)} → {_short(new)}")
    return lines


def _short(value: Any) -> str:
    if value is None or value == [] or value == "":
        return "—"
    text = ", ".join(str(item) for item in value) if isinstance(value, list) else str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def bar_scale(values: Sequence[float], width: float) -> Callable[[float], float]:
    """Maps values to bar lengths of at most ``width`` (charts are drawn in SVG on the server)."""
    top = max([abs(value) for value in values] + [0.0])

    def scale(value: float) -> float:
        return 0.0 if top == 0 else round(abs(value) / top * width, 1)

    return scale


def label(text: str | None) -> str:
    """An enum value as a label: ``PENDING_FILING_DECISION`` → "pending filing decision"."""
    return (text or "—").replace("_", " ").lower()


FILTERS: dict[str, Callable[..., Any]] = {
    "money": money,
    "when": when,
    "day": day,
    "feature_label": feature_label,
    "number": number,
    "label": label,
}
GLOBALS: dict[str, Any] = {
    "deadline_state": deadline_state,
    "is_open": is_open,
    "changes": changes,
    "bar_scale": bar_scale,
    "score_bands": SCORE_BANDS,
}
