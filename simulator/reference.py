"""Regulatory amounts, exchange rates and country lists the simulation uses.

These are the simulator's copy of reference data that the detector keeps separately; they
move to the shared bottom package ``refdata`` once it exists (issue 13, item 3).
"""

from __future__ import annotations

from decimal import Decimal

# The fixed exchange rate of the simulation (features and rules convert MXN with it).
MXN_PER_USD = Decimal("17.25")
MXN_PER_USD_X100 = 1725
# Units of a currency per 100 US dollars, for amounts booked in a foreign currency. The same
# round rates as the detector's table, so an amount converts back to what was meant.
UNITS_PER_100_USD: dict[str, int] = {
    "USD": 100,
    "MXN": MXN_PER_USD_X100,
    "CAD": 136,
    "EUR": 92,
    "GBP": 79,
    "CNY": 720,
}
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

# US CTR: cash of *more than* $10,000 (31 CFR 1010.311), in cents.
US_CTR_THRESHOLD_USD_MINOR = 1_000_000
# MX operación relevante: cash of *at least* the MXN equivalent of USD 7,500.
MX_ROR_THRESHOLD_USD_MINOR = 750_000
MX_ROR_THRESHOLD_MXN_MINOR = MX_ROR_THRESHOLD_USD_MINOR * MXN_PER_USD_X100 // 100
# Fan-in legs per FFIEC App. F are "< $3,000".
FAN_IN_LEG_CAP_USD_MINOR = 300_000

# FATF "call for action" (IR, KP, MM), some grey-list countries, and secrecy havens.
HIGH_RISK_COUNTRIES: tuple[str, ...] = (
    "IR",
    "KP",
    "MM",
    "SY",
    "YE",
    "HT",
    "VE",
    "KY",
    "VG",
    "PA",
    "BZ",
    "SC",
    "BS",
)
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
