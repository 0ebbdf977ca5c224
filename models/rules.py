"""Regulatory rules: explicit, configurable, explainable; evaluated on the feature frame.

Each rule has an id, a reason in plain words and whether a hit forces an alert whatever the
model says. The defaults:

``us_ctr_cash_in`` / ``us_ctr_cash_out`` (31 CFR 1010.311 and 1010.313)
    The report takes the subject's currency *in* (or *out*) at one institution over $10,000
    for one business day. Cash-in and cash-out are aggregated separately and never netted;
    all branches count as one institution; weekend, holiday (and, if configured, after-cutoff
    night) deposits count on the next business day; exactly $10,000.00 does not trigger. It
    fires once, on the report that crosses the amount. A CTR is routine, so it does not
    force an alert by default.
``structuring`` (31 USC 5324; SAR subtype 114)
    This report is a cash deposit just below the threshold T ($10,000 at US institutions,
    USD 7,500 at Mexican ones: [0.8 T, T)), and the subject made at least ``min_legs_day``
    such deposits on the business day, with cash-in over T that day, or at least
    ``min_legs_3d`` within 72 hours summing over T — across branches and institutions.
    Forces an alert on a natural person, and on a legal entity when at least 0.4 of its cash
    deposits over 30 days were such near-threshold legs; on any other business (whose
    ordinary takings sometimes fall just under T) it gives its reason and the score decides.
``mx_ror`` (Mexico, operación relevante)
    Cash at a Mexican institution of at least the MXN equivalent of USD 7,500 (at the rate
    table's MXN rate, ``refdata.fx``). Quarterly report; no forced alert.
``high_risk_jurisdiction`` (FATF R.19; SAR subtype 928)
    The counterparty's country is on the configured high-risk list (default: the FATF "call
    for action" countries and grey-listed ones with sanctions exposure). Forces an alert.
``secrecy_jurisdiction``
    The counterparty's country is a secrecy haven of the configured list. Legitimate trade
    and treasury flows go there too, so it adds a reason without forcing an alert.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from models.features import F_CASH, F_IN, F_MX, F_OUT, country_code
from refdata.countries import FATF_HIGH_RISK_COUNTRIES, SECRECY_COUNTRIES
from refdata.thresholds import MX_ROR_CENTS, NEAR_FRACTION, US_CTR_CENTS


@dataclass(frozen=True)
class RuleConfig:
    """Which rules run, their amounts (USD cents) and whether a hit forces an alert."""

    ctr_enabled: bool = True
    ctr_threshold_cents: int = US_CTR_CENTS
    ctr_forces_alert: bool = False
    structuring_enabled: bool = True
    structuring_min_legs_day: int = 2
    structuring_min_legs_3d: int = 3
    structuring_forces_alert: bool = True
    # On a legal entity a near-threshold hit is weaker evidence: a cash business's takings fall
    # just under the threshold on ordinary days. So an entity's hit always gives its reason,
    # but forces only if at least ``structuring_entity_min_near_share`` of its cash deposits
    # over 30 days were near-threshold legs (deposits piled just under the threshold, not
    # ordinary takings that sometimes fall there; None: never); otherwise the score and the
    # budget decide. Measured on independent populations: docs/detection.md, "Structuring on
    # legal entities". ``structuring_forces_alert_entities`` forces on every entity's hit.
    structuring_forces_alert_entities: bool = False
    structuring_entity_min_near_share: float | None = 0.4
    ror_enabled: bool = True
    ror_threshold_cents: int = MX_ROR_CENTS
    ror_forces_alert: bool = False
    high_risk_enabled: bool = True
    high_risk_countries: tuple[str, ...] = FATF_HIGH_RISK_COUNTRIES
    high_risk_forces_alert: bool = True
    secrecy_enabled: bool = True
    secrecy_countries: tuple[str, ...] = SECRECY_COUNTRIES
    secrecy_forces_alert: bool = False

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        """A short fingerprint of the configuration: workers with equal rules have equal ones."""
        # Lists in order: a country list is a set, however the file orders it.
        values = {
            key: sorted(value) if isinstance(value, tuple) else value
            for key, value in self.describe().items()
        }
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: str
    forces_alert: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "forces_alert": self.forces_alert, "reason": self.reason}


RULE_IDS = (
    "us_ctr_cash_in",
    "us_ctr_cash_out",
    "structuring",
    "mx_ror",
    "high_risk_jurisdiction",
    "secrecy_jurisdiction",
)


def _flag(flag: int) -> pl.Expr:
    return (pl.col("flags") & flag) != 0


def rule_masks(features: pl.DataFrame, config: RuleConfig) -> pl.DataFrame:
    """One boolean column per rule id: did the rule fire on the report?"""
    cash = _flag(F_CASH)
    mx = _flag(F_MX)
    cents = pl.col("cents")
    threshold = config.ctr_threshold_cents
    masks: dict[str, pl.Expr] = {}
    crossing_in = (pl.col("ctr_in_cents") > threshold) & (
        pl.col("ctr_in_cents") - cents <= threshold
    )
    crossing_out = (pl.col("ctr_out_cents") > threshold) & (
        pl.col("ctr_out_cents") - cents <= threshold
    )
    enabled = pl.lit(config.ctr_enabled)
    masks["us_ctr_cash_in"] = enabled & ~mx & cash & _flag(F_IN) & crossing_in
    masks["us_ctr_cash_out"] = enabled & ~mx & cash & _flag(F_OUT) & crossing_out
    limit = pl.when(mx).then(config.ror_threshold_cents).otherwise(threshold)
    low, high = NEAR_FRACTION
    near = cash & _flag(F_IN) & (cents * high >= limit * low) & (cents < limit)
    daily = (pl.col("day_near_n") >= config.structuring_min_legs_day) & (
        pl.col("day_cash_in_cents") > limit
    )
    three_days = (pl.col("near_n_3d") >= config.structuring_min_legs_3d) & (
        pl.col("near_cents_3d") > limit
    )
    masks["structuring"] = pl.lit(config.structuring_enabled) & near & (daily | three_days)
    masks["mx_ror"] = pl.lit(config.ror_enabled) & mx & cash & (cents >= config.ror_threshold_cents)
    codes = [country_code(code) for code in config.high_risk_countries]
    masks["high_risk_jurisdiction"] = pl.lit(config.high_risk_enabled) & pl.col("cp_country").is_in(
        codes
    )
    havens = [country_code(code) for code in config.secrecy_countries]
    masks["secrecy_jurisdiction"] = pl.lit(config.secrecy_enabled) & pl.col("cp_country").is_in(
        havens
    )
    return features.select(*[expr.fill_null(False).alias(name) for name, expr in masks.items()])


def _usd(cents: int | float | None) -> str:
    return f"${(cents or 0) / 100:,.2f}"


_COUNTRY_OF = {
    code: f"{chr(65 + (code - 1) // 26)}{chr(65 + (code - 1) % 26)}" for code in range(1, 677)
}


def _reason(rule: str, row: dict[str, Any], config: RuleConfig) -> str:
    if rule == "us_ctr_cash_in":
        return (
            f"Cash deposits of {_usd(row['ctr_in_cents'])} on one business day at this"
            f" institution exceed $10,000: a CTR is required (31 CFR 1010.311/313)"
        )
    if rule == "us_ctr_cash_out":
        return (
            f"Cash withdrawals of {_usd(row['ctr_out_cents'])} on one business day at this"
            f" institution exceed $10,000: a CTR is required (31 CFR 1010.311/313)"
        )
    if rule == "structuring":
        mx = bool(row["flags"] & F_MX)
        limit = "USD 7,500 (MX)" if mx else "$10,000"
        if row["day_near_n"] >= config.structuring_min_legs_day and (
            row["day_cash_in_cents"] or 0
        ) > (config.ror_threshold_cents if mx else config.ctr_threshold_cents):
            pattern = (
                f"Structuring pattern: {int(row['day_near_n'])} cash deposits just below"
                f" {limit} on one business day, {_usd(row['day_cash_in_cents'])} in total"
            )
        else:
            pattern = (
                f"Structuring pattern: {int(row['near_n_3d'])} cash deposits just below {limit}"
                f" within 3 days, {_usd(row['near_cents_3d'])} in total"
            )
        if not row["entity"]:
            return pattern
        # A business: whether its deposits cluster under the threshold decides the forcing.
        return (
            f"{pattern}; {int(row['near_n_30d'] or 0)} of the business's"
            f" {int(row['cash_in_n_30d'] or 0)} cash deposits over 30 days were just below it"
        )
    if rule == "mx_ror":
        return (
            f"Cash of {_usd(row['cents'])} (USD equivalent) at a Mexican institution: at least"
            " USD 7,500, an operación relevante to report"
        )
    country = _COUNTRY_OF.get(int(row["cp_country"] or 0), "?")
    if rule == "secrecy_jurisdiction":
        return f"Counterparty in a secrecy jurisdiction ({country})"
    return f"Counterparty in a high-risk jurisdiction ({country})"


def forcing_masks(features: pl.DataFrame, masks: pl.DataFrame, config: RuleConfig) -> pl.DataFrame:
    """One boolean column per rule id: did the rule fire on the report *and* force an alert?

    ``masks`` is :func:`rule_masks`' output for ``features``. A rule forces where its flag says
    so, except that structuring forces on a legal entity only when
    ``structuring_forces_alert_entities`` is set, or when at least
    ``structuring_entity_min_near_share`` of the entity's cash deposits over 30 days were
    near-threshold legs.
    """
    forces = forcing(config)
    share = config.structuring_entity_min_near_share
    clustered = (
        (pl.col("near_n_30d") >= pl.col("cash_in_n_30d") * share)
        if share is not None
        else pl.lit(False)
    )
    # Where an entity's structuring hit may force: every person, and clustered entities.
    may_force = features.select(
        ((pl.col("entity") == 0) | clustered).fill_null(True).alias("may_force")
    )["may_force"]
    columns: list[pl.Series] = []
    for rule in RULE_IDS:
        fired = masks[rule]
        if not forces[rule]:
            columns.append(pl.Series(rule, [False] * features.height, dtype=pl.Boolean))
        elif rule == "structuring" and not config.structuring_forces_alert_entities:
            columns.append((fired & may_force).alias(rule))
        else:
            columns.append(fired)
    return pl.DataFrame(columns)


def evaluate(features: pl.DataFrame, config: RuleConfig) -> list[list[RuleHit]]:
    """The rule hits of each report (empty lists for most)."""
    masks = rule_masks(features, config)
    hits: list[list[RuleHit]] = [[] for _ in range(features.height)]
    any_hit = masks.select(pl.any_horizontal(pl.all()).alias("any"))["any"]
    rows = any_hit.arg_true().to_list()
    if not rows:
        return hits
    needed = [
        "ctr_in_cents",
        "ctr_out_cents",
        "day_cash_in_cents",
        "day_near_n",
        "near_n_3d",
        "near_cents_3d",
        "near_n_30d",
        "cash_in_n_30d",
        "entity",
        "cents",
        "flags",
        "cp_country",
    ]
    hit_features, hit_masks = features[rows], masks[rows]
    subset = hit_features.select(needed).to_dicts()
    fired = hit_masks.to_dicts()
    forced = forcing_masks(hit_features, hit_masks, config).to_dicts()
    for index, row, flags, forces in zip(rows, subset, fired, forced, strict=True):
        hits[index] = [
            RuleHit(rule, forces[rule], _reason(rule, row, config))
            for rule in RULE_IDS
            if flags[rule]
        ]
    return hits


def forcing(config: RuleConfig) -> dict[str, bool]:
    """Whether each rule forces an alert."""
    return {
        "us_ctr_cash_in": config.ctr_forces_alert,
        "us_ctr_cash_out": config.ctr_forces_alert,
        "structuring": config.structuring_forces_alert,
        "mx_ror": config.ror_forces_alert,
        "high_risk_jurisdiction": config.high_risk_forces_alert,
        "secrecy_jurisdiction": config.secrecy_forces_alert,
    }


def rules_only_score(features: pl.DataFrame, config: RuleConfig) -> pl.Series:
    """The baseline's score: forcing hits weigh 2, other hits 1 (ties are many)."""
    masks = rule_masks(features, config)
    forced = forcing_masks(features, masks, config)
    weights = [masks[rule].cast(pl.Float64) + forced[rule].cast(pl.Float64) for rule in RULE_IDS]
    return pl.DataFrame(weights).select(pl.sum_horizontal(pl.all()).alias("rules_score"))[
        "rules_score"
    ]


def rules_only_alert(features: pl.DataFrame, config: RuleConfig) -> pl.Series:
    """The baseline's alerts: any rule hit."""
    masks = rule_masks(features, config)
    return masks.select(pl.any_horizontal(pl.all()).alias("rules_alert"))["rules_alert"]


def parse_countries(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"IR, KP,MM"`` → ``("IR", "KP", "MM")``."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(item.strip().upper() for item in items if item.strip())
