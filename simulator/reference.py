"""Amounts, rates and country lists of the simulation.

Regulatory thresholds, exchange rates and the high-risk list are detection's own
(``refdata``); the rest (where ordinary trade goes, in which currency a foreign party pays)
belongs to the simulated world.
"""

from __future__ import annotations

from refdata.thresholds import MX_ROR_CENTS

# Units of each currency per 100 US dollars at detection's shipped rates
# (refdata/data/fx_rates.csv; tests/simulator/test_world.py holds the two together), so that
# an amount the simulation books converts back to what was meant.
UNITS_PER_100_USD: dict[str, int] = {
    "USD": 100,
    "MXN": 1725,
    "CAD": 136,
    "EUR": 92,
    "GBP": 79,
    "CNY": 720,
}
MXN_PER_USD_X100 = UNITS_PER_100_USD["MXN"]
# The currency a foreign counterparty of each country would pay in, when not in US dollars.
COUNTRY_CURRENCY: dict[str, str] = {
    "CA": "CAD",
    "CN": "CNY",
    "HK": "CNY",
    "DE": "EUR",
    "ES": "EUR",
    "IE": "EUR",
    "NL": "EUR",
    "GB": "GBP",
    "MX": "MXN",
}

# MX operación relevante (refdata.thresholds.MX_ROR_CENTS) in centavos.
MX_ROR_THRESHOLD_MXN_MINOR = MX_ROR_CENTS * MXN_PER_USD_X100 // 100
# Fan-in legs per FFIEC App. F are "< $3,000".
FAN_IN_LEG_CAP_USD_MINOR = 300_000

# High-risk countries with which ordinary businesses legitimately trade (grey list, havens).
TRADED_HIGH_RISK_COUNTRIES: tuple[str, ...] = ("HT", "VE", "PA", "BS", "KY", "BZ")

# Foreign countries for ordinary cross-border flows (trade partners, beneficiaries).
FOREIGN_COUNTRIES: tuple[str, ...] = (
    "CN",
    "CA",
    "DE",
    "CO",
    "GT",
    "SV",
    "HN",
    "ES",
    "GB",
    "HK",
    "AE",
    "BR",
    "JP",
    "KR",
    "IN",
    "DO",
    "PE",
    "TR",
)


def convert(amount: int, source: str, target: str) -> int:
    """Converts minor units between two currencies of the simulation (at least 1)."""
    if source == target:
        return amount
    if source == "USD" and target == "MXN":
        return max(1, amount * MXN_PER_USD_X100 // 100)
    if source == "MXN" and target == "USD":
        return max(1, amount * 100 // MXN_PER_USD_X100)
    return max(1, amount * UNITS_PER_100_USD[target] // UNITS_PER_100_USD[source])
