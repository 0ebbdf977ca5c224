"""Regulatory reporting thresholds, in US-dollar cents (DOMAIN.md §1.1, §1.5).

Detection's features and rules, the simulator and the CTR filing all read these; amounts in
other currencies are compared after conversion at the fixed rates of ``refdata.fx``.
"""

from __future__ import annotations

# US currency transaction report: cash of *more than* $10,000 (31 CFR 1010.311); exactly
# $10,000.00 does not trigger.
US_CTR_CENTS = 1_000_000
# Mexican operación relevante: cash of *at least* the MXN equivalent of USD 7,500
# (DCG art. 115 LIC).
MX_ROR_CENTS = 750_000
# "Just below" a threshold T (structuring): a cash leg in [0.8 T, T), as the fraction 8/10.
NEAR_FRACTION: tuple[int, int] = (8, 10)
