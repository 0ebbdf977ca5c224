"""Country lists of detection (ISO 3166-1 alpha-2), documented in docs/detection.md.

The rules' lists are configurable (``models.rules.RuleConfig``); these are their defaults, and
:data:`HIGH_RISK_COUNTRIES` also defines the ``hrc_*`` features a model was trained with (it
is recorded in the model card, so changing it changes the feature digest).
"""

from __future__ import annotations

from functools import lru_cache

import pycountry

# FATF "call for action" (IR, KP, MM) and grey-listed countries with sanctions exposure
# (FATF R.19; SAR subtype 928).
FATF_HIGH_RISK_COUNTRIES: tuple[str, ...] = ("IR", "KP", "MM", "SY", "YE", "HT", "VE")
# Secrecy havens named by US and Mexican supervisors: legitimate trade and treasury flows go
# there too, so a payment there explains an alert without forcing one.
SECRECY_COUNTRIES: tuple[str, ...] = ("KY", "VG", "PA", "BZ", "SC", "BS")
HIGH_RISK_COUNTRIES: tuple[str, ...] = FATF_HIGH_RISK_COUNTRIES + SECRECY_COUNTRIES


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


def check_country(code: str) -> str:
    """``code`` if it is an ISO 3166-1 alpha-2 code (upper case), else ValueError."""
    if code not in _country_codes():
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code
