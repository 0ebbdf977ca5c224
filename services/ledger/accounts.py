"""The chart of accounts: names, which may be negative, and the names flows build.

Value flows left to right::

    forfeiture-proceeds ─► forfeited:<case> ─┬─► expenses
                                             ├─► remission:<claimant> ─► disbursed
                                             ├─► federal-share
                                             ├─► agency:<id>:payable ──► disbursed
                                             └─► foreign:<country>:payable ─► disbursed

``forfeiture-proceeds`` is the only credit-normal account (its balance is minus everything
realised so far); every other account must never go below zero, per asset.
"""

from __future__ import annotations

import re

SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
SEGMENT_RE = re.compile(rf"^{SEGMENT}$")

PROCEEDS = "forfeiture-proceeds"
EXPENSES = "expenses"
FEDERAL_SHARE = "federal-share"
DISBURSED = "disbursed"

_PATTERNS = [
    re.compile(rf"^{re.escape(PROCEEDS)}$"),
    re.compile(rf"^forfeited:{SEGMENT}$"),
    re.compile(rf"^{re.escape(EXPENSES)}$"),
    re.compile(rf"^remission:{SEGMENT}$"),
    re.compile(rf"^{re.escape(FEDERAL_SHARE)}$"),
    re.compile(rf"^agency:{SEGMENT}:payable$"),
    re.compile(r"^foreign:[A-Z]{2}:payable$"),
    re.compile(rf"^{re.escape(DISBURSED)}$"),
]


def is_valid(account: str) -> bool:
    return any(pattern.match(account) for pattern in _PATTERNS)


def normal_sign(account: str) -> int:
    """+1 for accounts that hold value (never negative), -1 for the proceeds source."""
    return -1 if account == PROCEEDS else 1


def forfeited(case_key: str) -> str:
    return f"forfeited:{case_key}"


def remission(claimant: str) -> str:
    return f"remission:{claimant}"


def agency_payable(agency_id: str) -> str:
    return f"agency:{agency_id}:payable"


def foreign_payable(country: str) -> str:
    return f"foreign:{country}:payable"


def is_payable(account: str) -> bool:
    """Accounts paid out by a disbursement."""
    return (
        account.startswith("remission:")
        or (account.startswith("agency:") and account.endswith(":payable"))
        or (account.startswith("foreign:") and account.endswith(":payable"))
    )


def is_foreign_payable(account: str) -> bool:
    return account.startswith("foreign:") and account.endswith(":payable")


def foreign_country(account: str) -> str:
    return account.split(":")[1]
