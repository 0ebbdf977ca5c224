"""Fixed exchange rates of detection (documented in docs/detection.md).

Features and rules convert amounts to US-dollar cents with these fixed rates, so that a
backtest gives the numbers the worker gave; money itself stays exact, in its own currency, in
the store. The simulator draws its Mexican amounts at the same rate.
"""

from __future__ import annotations

from decimal import Decimal

# US dollars per unit of a currency, as exact fractions (numerator, denominator).
# MXN at 17.25 per USD; the others are round recent rates. Unknown currencies have no USD
# value (amount 0 for features, flagged) and never trigger an amount rule.
FX_USD_PER_UNIT: dict[str, tuple[int, int]] = {
    "USD": (1, 1),
    "MXN": (100, 1725),
    "CAD": (100, 136),
    "EUR": (100, 92),
    "GBP": (100, 79),
    "CNY": (100, 720),
}


def units_per_usd(currency: str) -> Decimal:
    """How many units of ``currency`` one US dollar buys at the fixed rate (MXN: 17.25)."""
    numerator, denominator = FX_USD_PER_UNIT[currency]
    return Decimal(denominator) / Decimal(numerator)
