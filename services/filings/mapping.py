"""Code tables: typologies to SAR classifications, identifiers to FinCEN and goAML fields."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Typology or suspicion category → (SuspiciousActivityTypeID, SuspiciousActivitySubtypeID).
# Design mapping of DOMAIN.md §2; a profile's ``sar_classification`` overrides it.
SAR_CLASSIFICATION: dict[str, tuple[int, int]] = {
    "structuring": (1, 114),
    "smurfing": (1, 114),
    "below_ctr_threshold": (1, 114),
    "ctr_avoidance": (1, 112),
    "funnel_account": (8, 824),
    "funnel": (8, 824),
    "tbml": (8, 823),
    "bmpe": (8, 823),
    "trade_based": (8, 823),
    "trade_based_money_laundering": (8, 823),
    "rapid_movement": (8, 805),
    "pass_through": (8, 805),
    "rapid_pass_through": (8, 805),
    "fan_in": (8, 807),
    "fan_out": (8, 805),
    "round_amounts": (8, 805),
    "cash_intensive_business": (8, 812),
    "dormant_reactivation": (8, 812),
    "dormant_account": (8, 812),
    "cross_border": (8, 822),
    "casa_de_cambio": (8, 822),
    "currency_exchange": (8, 822),
    "round_tripping": (9, 925),
    "no_economic_purpose": (9, 925),
    "high_risk_jurisdiction": (9, 928),
    "multiple_locations": (9, 910),
}
OTHER_CLASSIFICATION = (9, 9999)

# Wire-format identifier type → FinCEN PartyIdentificationTypeCode.
FINCEN_ID_CODES = {"SSN": "1", "ITIN": "1", "EIN": "2", "PASSPORT": "6", "RFC": "9", "CURP": "9"}
TAX_IDENTIFIERS = frozenset({"SSN", "ITIN", "EIN", "RFC"})

# CTR detail type codes by direction (DOMAIN.md §1.4).
CTR_DETAIL = {
    ("in", "domestic"): "55",  # deposit
    ("out", "domestic"): "56",  # withdrawal
    ("in", "foreign"): "53",  # foreign currency in
    ("out", "foreign"): "54",  # foreign currency out
}


def normalise(label: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", label.casefold()).strip("_")


def classify(
    labels: Iterable[str], overrides: Mapping[str, tuple[int, int]] | None = None
) -> tuple[list[tuple[int, int]], list[str]]:
    """Maps labels to unique (type, subtype) pairs; returns them and the unmapped labels."""
    table = {**SAR_CLASSIFICATION, **{normalise(k): v for k, v in (overrides or {}).items()}}
    found: dict[int, tuple[int, int]] = {}
    unmapped: list[str] = []
    for label in labels:
        key = normalise(label)
        if not key:
            continue
        pair = table.get(key)
        if pair is None:
            if label not in unmapped:
                unmapped.append(label)
        else:
            found.setdefault(pair[1], pair)
    return sorted(found.values(), key=lambda pair: pair[1]), unmapped


def split_name(name: str) -> tuple[str | None, str]:
    """Splits a person's name into (first, last): "Juan Carlos Pérez" → ("Juan Carlos", "Pérez")."""
    if "," in name:
        last, _, first = name.partition(",")
        return (first.strip() or None), last.strip()
    parts = name.split()
    if len(parts) == 1:
        return None, parts[0]
    return " ".join(parts[:-1]), parts[-1]


def currency_country(currency: str) -> str:
    """The country of a national currency (MXN → MX); empty for EUR, XAU and the like."""
    import pycountry

    prefix = currency[:2].upper()
    return prefix if pycountry.countries.get(alpha_2=prefix) else ""
