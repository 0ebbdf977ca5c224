"""The laundering typologies the project names (DOMAIN.md §2): one closed vocabulary.

The simulator labels its schemes with these names, the detector learns them as classes, and
the worker's alert metrics use them as a bounded label set.
"""

from __future__ import annotations

TYPOLOGIES: tuple[str, ...] = (
    "structuring",
    "funnel_account",
    "rapid_movement",
    "fan_in",
    "fan_out",
    "round_tripping",
    "high_risk_jurisdiction",
    "dormant_reactivation",
    "cash_intensive_anomaly",
    "round_amounts",
    "tbml_third_party",
)
