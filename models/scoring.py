"""Scoring: model score, rules, alert decision, typology guess and reasons in plain words.

The worker (``streaming.detection``) and ``amlscreen score`` both hand a feature frame from
``models.features`` to :meth:`Scorer.score`.

Reasons. Every rule hit gives its own sentence. For alerts, the model's part is explained by
*group occlusion*: the features are grouped by the red flag they measure (structuring legs,
cash volume, pass-through, fan-in, …); each group in turn is set to its typical legitimate
value (the training median, from the model card) and the drop of the score is that group's
contribution. The groups with the largest drops are turned into sentences from the report's
own values, e.g. "7 cash deposits of $9,000–$9,900 in 7 days at 4 branches". One batched
``predict`` call per micro-batch covers every alert and group.

A group speaks only where the report's own values show the red flag it is named after
(:attr:`FeatureGroup.notable`): a model also leans on a group whose values are ordinary (one
payer, one branch, a day since the last report), and "Activity after 1 days without any
report" or "Payments received from 1 account" would tell an investigator something false.
The next group by contribution speaks instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import polars as pl
from sklearn.utils.validation import validate_data

from models.features import (
    F_FX_UNKNOWN,
    FEATURE_COLUMNS,
    STR_GROUPS,
    WINDOWS,
    encode,
    feature_chunks,
    flatten,
    with_keys,
)
from models.pipeline import NEGATIVE_LABEL, ArrayModel
from models.registry import ModelBundle
from models.rules import RuleConfig, RuleHit, evaluate, forcing_masks, rule_masks
from refdata.fx import FxRates

Row = Mapping[str, Any]


def _money(usd: float | None) -> str:
    return f"${(usd or 0.0):,.0f}"


def _cents(cents: Any) -> str:
    return _money(None if cents is None else float(cents) / 100)


def _n(value: Any) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    return int(value)


def _f(value: Any) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0
    return float(value)


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _accounts(count: int) -> str:
    return "1 account" if count == 1 else f"{count} different accounts"


def _structuring(row: Row) -> str:
    for window, label in (("7d", "7 days"), ("30d", "30 days")):
        count = _n(row[f"near_n_{window}"])
        if count >= 2:
            low, high = row[f"near_min_cents_{window}"], row[f"near_max_cents_{window}"]
            branches = _n(row[f"near_branches_{window}"])
            return (
                f"{count} cash deposits of {_cents(low)}–{_cents(high)} in {label}"
                f" at {_plural(branches, 'branch', 'branches')}, just below the reporting threshold"
            )
    return f"A cash deposit of {_money(row['usd'])}, just below the reporting threshold"


def _cash_volume(row: Row) -> str:
    text = f"Cash deposits of {_money(row['cash_in_usd_7d'])} in 7 days"
    jump = _f(row["cash_in_jump_7d"])
    if jump >= 1.5 and _f(row["history_days"]) >= 14:
        text += f", {jump:.1f}× the subject's earlier weekly level"
    return text


def _cash_out(row: Row) -> str:
    count = _n(row["cash_out_n_7d"])
    return (
        f"Cash withdrawals of {_money(row['cash_out_usd_7d'])} in 7 days"
        f" ({_plural(count, 'withdrawal')})"
    )


def _locations(row: Row) -> str:
    return (
        f"Cash handled at {_plural(_n(row['branches_7d']), 'branch', 'branches')} in"
        f" {_plural(_n(row['regions_7d']), 'region')} within 7 days"
    )


def _passthrough(row: Row) -> str:
    share = _f(row["passthrough_7d"])
    flows = f"{_money(row['in_usd_7d'])} in and {_money(row['out_usd_7d'])} out within 7 days"
    text = f"{flows} ({share:.0%} passed through)" if share >= 0.5 else f"Uneven flows: {flows}"
    hours = row["since_opposite_h_7d"]
    if hours is not None and not math.isnan(hours) and _f(row["mirror_7d"]) >= 0.8:
        text += f"; a matching amount moved the other way {hours:.0f} hours earlier"
    return text


def _fan_in(row: Row) -> str:
    beneficiary = _n(row["cp_payers_7d"])
    own = _n(row["payers_7d"])
    if beneficiary >= own and beneficiary >= 3:
        return f"The beneficiary account received from {beneficiary} different accounts in 7 days"
    return f"Payments received from {_accounts(own)} in 7 days"


def _fan_out(row: Row) -> str:
    payer = _n(row["cp_payees_7d"])
    own = _n(row["payees_7d"])
    if payer > own and payer >= 3:
        return f"The paying account paid {payer} different accounts in 7 days"
    countries = _plural(_n(row["countries_7d"]), "country", "countries")
    if own >= 3:
        return f"Payments to {_accounts(own)} in {countries} within 7 days"
    # Few payees: the breadth is in the countries (of every counterparty, in and out).
    return f"Counterparties in {countries} within 7 days"


def _high_risk(row: Row) -> str:
    count = _n(row["hrc_n_30d"])
    return (
        f"{_plural(count, 'transfer')} with high-risk jurisdictions in 30 days"
        f" ({_f(row['hrc_share_30d']):.0%} of the value)"
    )


def _cross_border(row: Row) -> str:
    return (
        f"{_f(row['xb_share_30d']):.0%} of the value in 30 days crossed a border"
        f" ({_plural(_n(row['xb_n_30d']), 'transfer')})"
    )


def _round(row: Row) -> str:
    count = _n(row["round1000_n_30d"])
    share = max(_f(row["round100_share_30d"]), _f(row["round1000_share_30d"]))
    if count:
        return (
            f"{_plural(count, 'transaction')} in round thousands within 30 days"
            f" ({share:.0%} of them)"
        )
    return f"Round-amount transactions make {share:.0%} of the subject's reports in 30 days"


# A gap this long before a report is named as one; shorter gaps are how most subjects bank.
DORMANT_SPEAKS_DAYS = 30.0
# An account this young is named as new.
NEW_ACCOUNT_DAYS = 90.0


def _idle(row: Row) -> float:
    return max(_f(row["idle_days"]), _f(row["max_idle_days_30d"]))


def _young(row: Row) -> bool:
    age = row.get("account_age_days")
    return age is not None and not math.isnan(float(age)) and float(age) < NEW_ACCOUNT_DAYS


def _new_party(row: Row) -> str:
    payers, payees = _n(row.get("payers_30d")), _n(row.get("payees_30d"))
    breadth = _f(row.get("cp_breadth_30d"))
    sentence = "No earlier payment with this counterparty in 30 days"
    if payers + payees < 2 or breadth <= 0:
        return sentence
    # Payers and payees are counted apart (cp_breadth's numerator): a party on both sides
    # is both a payer and a payee.
    legs = round((payers + payees) / breadth)
    return (
        f"{sentence} ({_plural(payers, 'payer')} and {_plural(payees, 'payee')} over "
        f"{_plural(legs, 'payment')} with an account)"
    )


def _new_party_shown(row: Row) -> bool:
    """The report deals with a counterparty account the subject has not dealt with for 30 days."""
    return _f(row.get("cp_account")) > 0 and _n(row.get("cp_repeat_n_30d")) == 0


def _dormancy(row: Row) -> str:
    idle = _idle(row)
    if idle >= DORMANT_SPEAKS_DAYS or not _young(row):
        return f"Activity after {_plural(round(idle), 'day')} without any report on the subject"
    return f"The account was opened {_plural(round(_f(row['account_age_days'])), 'day')} earlier"


def _volume(row: Row) -> str:
    text = f"{_money(row['usd_7d'])} moved in 7 days over {_plural(_n(row['n_7d']), 'transaction')}"
    jump = _f(row["volume_jump_7d"])
    if jump >= 2 and _f(row["history_days"]) >= 14:
        text += f", {jump:.1f}× the earlier weekly level"
    return text


def _suspicion(row: Row) -> str:
    if _f(row["str"]):
        groups = [name.removeprefix("str_") for name in STR_GROUPS if _f(row[name])]
        kinds = ", ".join(groups) or "unclassified"
        return f"The institution filed a suspicious-activity report ({kinds})"
    return "A suspicious-activity report was filed on this subject in the last 30 days"


def _institutions(row: Row) -> str:
    return f"Activity at {_plural(_n(row['institutions_30d']), 'institution')} within 30 days"


def _profile(_row: Row) -> str:
    return "The kind of transaction is unusual for this type of customer"


def _windowed(*names: str) -> list[str]:
    return [f"{name}_{window}" for name in names for window in WINDOWS]


def _always(_row: Row) -> bool:
    return True


@dataclass(frozen=True)
class FeatureGroup:
    """Features measuring one red flag, the sentence that names it from a report's values, and
    whether the report's values show it at all (``notable``)."""

    name: str
    features: tuple[str, ...]
    sentence: Callable[[Row], str]
    notable: Callable[[Row], bool] = _always


FEATURE_GROUPS: tuple[FeatureGroup, ...] = (
    FeatureGroup(
        "structuring",
        (
            "near",
            "day_near_n",
            *_windowed("near_n", "near_usd"),
            "near_branches_7d",
            "near_branches_30d",
        ),
        _structuring,
        lambda row: _f(row["near"]) > 0 or _n(row["near_n_30d"]) >= 2,
    ),
    FeatureGroup(
        "cash_volume",
        (
            "cash",
            "day_cash_in_usd",
            *_windowed("cash_in_n", "cash_in_usd"),
            "cash_share_7d",
            "cash_share_30d",
            "cash_in_jump_7d",
        ),
        _cash_volume,
        lambda row: _f(row["cash_in_usd_7d"]) > 0,
    ),
    FeatureGroup(
        "cash_out",
        ("day_cash_out_usd", *_windowed("cash_out_usd"), "cash_out_n_7d", "cash_out_n_30d"),
        _cash_out,
        lambda row: _f(row["cash_out_usd_7d"]) > 0,
    ),
    FeatureGroup(
        "locations",
        ("day_branches", *_windowed("branches", "regions")),
        _locations,
        lambda row: _n(row["branches_7d"]) >= 2,
    ),
    FeatureGroup(
        "passthrough",
        (
            *_windowed("passthrough", "in_usd", "out_usd"),
            "in_n_7d",
            "in_n_30d",
            "out_n_7d",
            "out_n_30d",
            "mirror_7d",
            "mirror_30d",
            "since_opposite_h_7d",
            "since_opposite_h_30d",
        ),
        _passthrough,
        lambda row: _f(row["in_usd_7d"]) + _f(row["out_usd_7d"]) > 0,
    ),
    FeatureGroup(
        "fan_in",
        ("cp_payers_7d", *_windowed("payers")),
        _fan_in,
        lambda row: max(_n(row["cp_payers_7d"]), _n(row["payers_7d"])) >= 3,
    ),
    FeatureGroup(
        "fan_out",
        ("cp_payees_7d", *_windowed("payees"), "countries_7d", "countries_30d"),
        _fan_out,
        lambda row: (
            max(_n(row["cp_payees_7d"]), _n(row["payees_7d"])) >= 3 or _n(row["countries_7d"]) >= 2
        ),
    ),
    FeatureGroup(
        "new_party",
        ("cp_repeat_n_7d", "cp_repeat_n_30d", "cp_breadth_7d", "cp_breadth_30d"),
        _new_party,
        _new_party_shown,
    ),
    FeatureGroup(
        "high_risk",
        ("hrc", "hrc_n_7d", "hrc_n_30d", "hrc_share_7d", "hrc_share_30d"),
        _high_risk,
        lambda row: _n(row["hrc_n_30d"]) >= 1,
    ),
    FeatureGroup(
        "cross_border",
        ("xborder", "xb_n_7d", "xb_n_30d", "xb_share_7d", "xb_share_30d"),
        _cross_border,
        lambda row: _n(row["xb_n_30d"]) >= 1,
    ),
    FeatureGroup(
        "round_amounts",
        (
            "round100",
            "round1000",
            "round100_share_7d",
            "round100_share_30d",
            "round1000_share_7d",
            "round1000_share_30d",
            "round1000_n_7d",
            "round1000_n_30d",
        ),
        _round,
        lambda row: (
            _n(row["round1000_n_30d"]) >= 1
            or max(_f(row["round100_share_30d"]), _f(row["round1000_share_30d"])) > 0
        ),
    ),
    FeatureGroup(
        "dormancy",
        ("idle_days", "max_idle_days_7d", "max_idle_days_30d", "account_age_days"),
        _dormancy,
        lambda row: _idle(row) >= DORMANT_SPEAKS_DAYS or _young(row),
    ),
    FeatureGroup(
        "volume",
        ("usd", "lvtr", *_windowed("n", "usd"), "max_usd_7d", "max_usd_30d", "volume_jump_7d"),
        _volume,
    ),
    FeatureGroup(
        "suspicion",
        ("str", "str_n_7d", "str_n_30d", *STR_GROUPS),
        _suspicion,
        lambda row: _f(row["str"]) > 0 or _n(row["str_n_30d"]) >= 1,
    ),
    FeatureGroup(
        "institutions",
        ("institutions_7d", "institutions_30d"),
        _institutions,
        lambda row: _n(row["institutions_30d"]) >= 2,
    ),
    FeatureGroup(
        "profile",
        (
            "instrument",
            "channel",
            "naics2",
            "entity",
            "incoming",
            "cp_person",
            "cp_account",
            "mx",
            "peer_group",
        ),
        _profile,
    ),
)


@dataclass(slots=True)
class ScoredBatch:
    """The outcome for each report of a feature frame, in its row order."""

    scores: npt.NDArray[np.float64]
    alerts: npt.NDArray[np.bool_]
    typologies: list[str | None]
    reasons: list[list[str]]
    rule_hits: list[list[RuleHit]]
    top_features: list[dict[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.scores.size)


class Scorer:
    """Scores feature frames with one model bundle and one rule configuration."""

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        rules: RuleConfig | None = None,
        threshold: float | None = None,
        explain: int = 3,
    ) -> None:
        self.bundle = bundle
        self.rules = rules or RuleConfig()
        self.threshold = bundle.threshold if threshold is None else threshold
        self.explain = explain
        self._reference = bundle.reference
        steps = bundle.pipeline.steps
        self._transform = bundle.pipeline[:-1] if len(steps) > 1 else None
        self._model = steps[-1][1]
        self._columns: dict[str, list[int]] = {}
        # The model on one float64 array per call (models.pipeline.ArrayModel): the same
        # numbers without each step converting its input again; None for another shape.
        self._arrays = ArrayModel.of(bundle.pipeline)

    @property
    def model_version(self) -> str:
        return self.bundle.version

    def _inputs(self, features: pl.DataFrame) -> Any:
        matrix = features.select(FEATURE_COLUMNS)
        return self._transform.transform(matrix) if self._transform is not None else matrix

    def _matrix(self, features: pl.DataFrame) -> npt.NDArray[np.float64] | None:
        """The feature columns as one float64 array for ``ArrayModel``, or None to take the
        estimators' own path (another model shape; or an infinite value, which their input
        checks refuse with their own error)."""
        if self._arrays is None:
            return None
        # Column-major, as Polars gives it: scikit-learn's predictor runs each tree over all
        # the rows, reading one feature of consecutive rows at a time.
        matrix = features.select(FEATURE_COLUMNS).cast(pl.Float64).to_numpy()
        return None if np.isinf(matrix).any() else matrix

    def _scores(self, rows: pl.DataFrame | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if isinstance(rows, np.ndarray):
            assert self._arrays is not None
            return np.asarray(self._arrays.decision_score(rows), dtype=np.float64)
        return np.asarray(self._model.decision_score(self._inputs(rows)), dtype=np.float64)

    def laundering_scores(self, features: pl.DataFrame) -> npt.NDArray[np.float64]:
        """P(laundering) of each row."""
        if features.is_empty():
            return np.empty(0)
        matrix = self._matrix(features)
        return self._scores(features if matrix is None else matrix)

    def score_rules(self, features: pl.DataFrame) -> pl.DataFrame:
        """One boolean column per rule, and ``forced``: did a forcing rule fire?"""
        masks = rule_masks(features, self.rules)
        forced = forcing_masks(features, masks, self.rules)
        return masks.with_columns(
            forced.select(pl.any_horizontal(pl.all()).alias("forced"))["forced"]
        )

    def score(self, features: pl.DataFrame, *, typed: bool = True) -> ScoredBatch:
        """Scores, rules, alerts, typology guesses and reasons for a feature frame.

        ``typed=False`` leaves every typology None: a caller that keeps only some of the
        alerting rows (the worker, once each institution's live threshold is known) types
        those with :meth:`typologies`, which gives each row the same guess whatever rows
        it is typed with.
        """
        n = features.height
        scores = self.laundering_scores(features)
        hits = evaluate(features, self.rules)
        forced = np.array([any(hit.forces_alert for hit in row) for row in hits], dtype=bool)
        alerts = (scores >= self.threshold) | forced if n else np.zeros(0, dtype=bool)
        typologies: list[str | None] = [None] * n
        reasons: list[list[str]] = [[hit.reason for hit in row] for row in hits]
        for flagged, currency in fx_unknown(features):
            reasons[flagged].insert(0, fx_unknown_reason(currency))
        top: list[dict[str, float]] = [{} for _ in range(n)]
        rows = np.flatnonzero(alerts)
        if rows.size:
            subset = features[rows.tolist()]
            if typed:
                guesses = self.typologies(subset, positive=scores[rows])
                for index, typology in zip(rows, guesses, strict=True):
                    typologies[index] = typology
            for index, sentences, values in zip(
                rows, *self._explain(subset, scores[rows]), strict=True
            ):
                reasons[index] = reasons[index] + sentences
                top[index] = values
        return ScoredBatch(scores, alerts, typologies, reasons, hits, top)

    def typologies(
        self, subset: pl.DataFrame, *, positive: npt.NDArray[np.float64] | None = None
    ) -> list[str | None]:
        """The most likely typology of each row, given laundering.

        ``positive``: the rows' laundering scores, if already known (the detector is then not
        run again; the result is the same).
        """
        model = self._model
        typer = getattr(model, "typer_", None)
        matrix = self._matrix(subset)
        if positive is None or typer is None or not hasattr(model, "negative_label_"):
            if matrix is not None and self._arrays is not None:
                proba = self._arrays.predict_proba(matrix)
            else:
                proba = model.predict_proba(self._inputs(subset))
        else:
            # TwoStageClassifier.predict_proba with the detector's part given.
            if matrix is not None and self._arrays is not None:
                inputs = self._arrays.model_inputs(matrix)
            else:
                inputs = validate_data(
                    model,
                    self._inputs(subset),
                    ensure_all_finite=model._finite(),
                    dtype=np.float64,
                    reset=False,
                )
            typed = typer.predict_proba(inputs)
            position = {label: index for index, label in enumerate(typer.classes_)}
            proba = np.zeros((subset.height, model.classes_.size), dtype=np.float64)
            proba[:, model.negative_index_] = 1.0 - positive
            for column in np.flatnonzero(model.classes_ != model.negative_label_):
                label = model.classes_[column]
                if label in position:
                    proba[:, column] = positive * typed[:, position[label]]
        classes = [str(label) for label in self._model.classes_]
        mask = np.array([label != NEGATIVE_LABEL for label in classes])
        if not mask.any():
            return [None] * subset.height
        positive = proba[:, mask]
        names = [label for label in classes if label != NEGATIVE_LABEL]
        return supported_typologies(names, positive, subset.to_dicts())

    def _group_columns(self, group: FeatureGroup) -> list[int]:
        columns = self._columns.get(group.name)
        if columns is None:
            position = {name: index for index, name in enumerate(FEATURE_COLUMNS)}
            columns = [position[name] for name in group.features]
            self._columns[group.name] = columns
        return columns

    def _explain(
        self, subset: pl.DataFrame, base: npt.NDArray[np.float64]
    ) -> tuple[list[list[str]], list[dict[str, float]]]:
        groups = list(FEATURE_GROUPS)
        n = subset.height
        # Rows built in NumPy (one frame at the end): per group, the row with the group at
        # typical values ("without"), and typical values with the group from the row ("alone").
        matrix = subset.select(FEATURE_COLUMNS).cast(pl.Float64).to_numpy()
        reference = np.array(
            [self._reference.get(name, 0.0) for name in FEATURE_COLUMNS], dtype=np.float64
        )
        width = len(FEATURE_COLUMNS)
        without = np.repeat(matrix[None, :, :], len(groups), axis=0)
        alone = np.broadcast_to(reference, (len(groups), n, width)).copy()
        for index, group in enumerate(groups):
            columns = self._group_columns(group)
            without[index][:, columns] = reference[columns]
            alone[index][:, columns] = matrix[:, columns]
        rows = np.concatenate(
            [reference[None, :], without.reshape(-1, width), alone.reshape(-1, width)]
        )
        if self._arrays is not None and not np.isinf(rows).any():
            scores = self._scores(rows)
        else:
            stacked = pl.DataFrame(
                rows, schema=dict.fromkeys(FEATURE_COLUMNS, pl.Float64), orient="row"
            )
            scores = self._scores(stacked)
        floor = float(scores[0])
        dropped = scores[1 : 1 + len(groups) * n].reshape(len(groups), n)
        added = scores[1 + len(groups) * n :].reshape(len(groups), n)
        # Two cheap views of a group's part: what the score loses without it, and what it
        # gains from it alone; their mean ranks the groups (a two-point Shapley estimate).
        contributions = 0.5 * ((base[None, :] - dropped) + (added - floor))
        records = subset.to_dicts()
        sentences: list[list[str]] = []
        values: list[dict[str, float]] = []
        for column in range(n):
            row = records[column]
            order = [int(g) for g in np.argsort(-contributions[:, column])]
            spoken = [g for g in order if groups[g].name not in _SILENT and groups[g].notable(row)]
            chosen = [g for g in spoken[: self.explain] if contributions[g, column] > 0.01]
            if not chosen:
                chosen = spoken[:1]
            sentences.append([groups[g].sentence(row) for g in chosen])
            picked: dict[str, float] = {}
            for g in chosen:
                for name in groups[g].features:
                    value = row.get(name)
                    if value is not None and not (isinstance(value, float) and math.isnan(value)):
                        picked[name] = float(value)
            for g in order[:5]:
                picked[f"contribution.{groups[g].name}"] = round(float(contributions[g, column]), 4)
            values.append(picked)
        return sentences, values


def fx_unknown(features: pl.DataFrame) -> list[tuple[int, str]]:
    """(row, currency) of the reports whose currency has no rate (flag ``F_FX_UNKNOWN``)."""
    if features.is_empty():
        return []
    flagged = features.select(
        pl.int_range(pl.len()).alias("row"),
        pl.col("currency").fill_null("?"),
        ((pl.col("flags") & F_FX_UNKNOWN) != 0).alias("unknown"),
    ).filter(pl.col("unknown"))
    return list(zip(flagged["row"].to_list(), flagged["currency"].to_list(), strict=True))


def fx_unknown_reason(currency: str) -> str:
    """The sentence a report gets when its amount could not be converted to US dollars."""
    return (
        f"Amount in {currency}, which has no exchange rate to US dollars in the rate table: "
        "it counts as $0 in amount features, CTR aggregation and structuring "
        "(add the currency to the rate file, AMLSCREEN_FX_RATES_FILE)"
    )


# Groups that shape the score but make no reason on their own (customer profile context).
_SILENT = frozenset({"profile"})


def _shown_by(group_name: str) -> Callable[[Row], bool]:
    (group,) = [group for group in FEATURE_GROUPS if group.name == group_name]
    return group.notable


# A typology named after a red flag the report can show or not, and the test that it does (a
# group's own; for dormancy the gap alone: a new account was never dormant; for a high-risk
# jurisdiction any cross-border transfer too, since the rule's list is the operator's and may
# name countries the features do not). The others (rapid movement, funnel accounts,
# round-tripping, trade-based) are patterns of flows that no single group can rule out.
TYPOLOGY_EVIDENCE: dict[str, Callable[[Row], bool]] = {
    "structuring": _shown_by("structuring"),
    "round_amounts": _shown_by("round_amounts"),
    "fan_in": _shown_by("fan_in"),
    "fan_out": _shown_by("fan_out"),
    "high_risk_jurisdiction": lambda row: _n(row["hrc_n_30d"]) >= 1 or _n(row["xb_n_30d"]) >= 1,
    "cash_intensive_anomaly": _shown_by("cash_volume"),
    "dormant_reactivation": lambda row: _idle(row) >= DORMANT_SPEAKS_DAYS,
}


def supported_typologies(
    names: list[str], proba: npt.NDArray[np.float64], rows: list[dict[str, Any]]
) -> list[str | None]:
    """The most probable typology of each row among those its own values support.

    A guess of "round amounts" for a report with no round amount in 30 days, or "fan-in" with
    one payer, is false on its face; it was a fifth of the model's alerts on a population it
    never saw (docs/detection.md §4). Such a typology gives way to the next one by probability
    (``proba``: one column per name). A row that supports none keeps its most probable one.
    """
    guesses: list[str | None] = []
    for index, row in enumerate(rows):
        for column in np.argsort(-proba[index], kind="stable"):
            name = names[int(column)]
            shown = TYPOLOGY_EVIDENCE.get(name)
            if shown is None or shown(row):
                guesses.append(name)
                break
        else:
            guesses.append(names[int(np.argmax(proba[index]))])
    return guesses


# ---------------------------------------------------------------------------------------------
# Backtests: a file through the worker's feature and model code


def score_history(compact: pl.DataFrame, scorer: Scorer) -> pl.DataFrame:
    """Scores every row of a history (arrival order) → one output row per report."""
    parts: list[pl.DataFrame] = []
    for chunk in feature_chunks(compact):
        scored = scorer.score(chunk)
        parts.append(
            pl.DataFrame(
                {
                    "seq": chunk["seq"],
                    "institution_id": chunk["institution_id"],
                    "report_id": chunk["report_id"],
                    "score": pl.Series(scored.scores, dtype=pl.Float64),
                    "alert": pl.Series(scored.alerts, dtype=pl.Boolean),
                    "typology": pl.Series(scored.typologies, dtype=pl.String),
                    "reasons": pl.Series(scored.reasons, dtype=pl.List(pl.String)),
                    "rules": pl.Series(
                        [[hit.rule for hit in hits] for hits in scored.rule_hits],
                        dtype=pl.List(pl.String),
                    ),
                    "forced_rules": pl.Series(
                        [
                            [hit.rule for hit in hits if hit.forces_alert]
                            for hits in scored.rule_hits
                        ],
                        dtype=pl.List(pl.String),
                    ),
                }
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={
                "seq": pl.Int64(),
                "institution_id": pl.String(),
                "report_id": pl.String(),
                "score": pl.Float64(),
                "alert": pl.Boolean(),
                "typology": pl.String(),
                "reasons": pl.List(pl.String()),
                "rules": pl.List(pl.String()),
                "forced_rules": pl.List(pl.String()),
            }
        )
    return pl.concat(parts).sort("seq")


def read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    """Wire documents of a JSONL file (blank lines skipped)."""
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


def score_file(
    source: Path, target: Path, scorer: Scorer, *, rates: FxRates | None = None
) -> dict[str, int]:
    """``amlscreen score``: one JSON line out per report in, in input order.

    ``rates``: the exchange-rate table (default: the process's, see :mod:`refdata.fx`).
    """
    compact = with_keys(encode(flatten(read_jsonl(source)), rates)).collect()
    result = score_history(compact, scorer)
    with target.open("wb") as out:
        for row in result.drop("seq").iter_rows(named=True):
            row["score"] = round(float(row["score"]), 6)
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
    return {"reports": result.height, "alerts": int(result["alert"].sum())}
