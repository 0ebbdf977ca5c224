"""``amlscreen score``: a JSONL file of reports through the worker's detection path (backtest).

:func:`score_reports` is what the command runs. The shifted-world evaluation
(``amlscreen.evaluation``) calls the same function, so that it judges exactly what a user's
backtest produces: whatever scoring policy ``amlscreen score`` applies belongs here.

The alert policy is the worker's (``services.alerts.policy``: episodes, suppression, budget),
fed from the stream itself instead of the store: the open alerts are the episodes opened so far
(nobody closes them in a backtest, so nothing is suppressed either), and a budget threshold is
recomputed at the worker's cadence from the trailing window of the stream's own scores and the
alerts opened in it, by the worker's own arithmetic (``budget_threshold``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import polars as pl

from models.features import encode, flatten, with_keys
from models.registry import ModelBundle
from models.rules import RuleConfig
from models.scoring import Scorer, read_jsonl, score_history
from refdata.fx import FxRates
from services.alerts.policy import (
    Action,
    AlertPolicy,
    Candidate,
    Episode,
    EpisodeKey,
    Threshold,
    budget_threshold,
    decide,
    needs_recompute,
)

DAY_S = 86_400


@dataclass(slots=True)
class _Budget:
    """One institution's stream so far, and its threshold versions (as the worker stores them)."""

    t: npt.NDArray[np.int64]
    subject: npt.NDArray[np.int64]
    score: npt.NDArray[np.float64]
    threshold: Threshold
    computed_for: datetime | None = None
    versions: list[tuple[int, float]] = field(default_factory=list)
    # Event time of each alert this institution opened (forced ones included): what it spent.
    opened: list[int] = field(default_factory=list)

    def at(self, position: int, moment: int, policy: AlertPolicy, held: set[int]) -> Threshold:
        """The threshold for a candidate at ``position`` of this institution's rows.

        ``held``: the subject ids with an open alert (in a backtest nobody closes one, so every
        subject alerted so far); they cannot open another one and take no place in the budget.
        """
        now = datetime.fromtimestamp(moment, tz=UTC)
        if not needs_recompute(self.computed_for, now, policy):
            return self.threshold
        since = moment - policy.budget_window_days * DAY_S
        start = int(np.searchsorted(self.t[: position + 1], since, side="right"))
        window = slice(start, position + 1)
        subjects, scores = self.subject[window], self.score[window]
        if subjects.size == 0:
            return self.threshold
        order = np.lexsort((scores, subjects))
        last = np.r_[subjects[order][1:] != subjects[order][:-1], True]
        best, ids = scores[order][last], subjects[order][last]
        if held:
            best = best[~np.isin(ids, np.fromiter(held, dtype=np.int64, count=len(held)))]
        spent = np.asarray(self.opened, dtype=np.int64)
        span = (moment - int(self.t[start])) / DAY_S
        estimate = budget_threshold(
            best,
            subjects=int(ids.size),
            opened=int(np.count_nonzero((spent > since) & (spent <= moment))),
            reports=int(subjects.size),
            span_days=min(span, float(policy.budget_window_days)),
            policy=policy,
        )
        if estimate is None:
            return self.threshold
        version = len(self.versions) + 1
        self.versions.append((moment, estimate.threshold))
        self.threshold = Threshold(estimate.threshold, version)
        self.computed_for = now
        return self.threshold


def apply_policy(
    rows: pl.DataFrame, policy: AlertPolicy, model_threshold: float
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The worker's alert policy over a scored stream in arrival order.

    ``rows``: ``score_history``'s output plus ``subject_key``, ``jurisdiction`` and ``t``.
    Returns the rows with ``alert`` (the report opened or joined an alert), ``episode`` (the
    alert's number) and ``threshold_version``, and the policy's figures.
    """
    institutions = rows["institution_id"].to_list()
    subject_ids = rows["subject_key"].cast(pl.Categorical).to_physical().to_numpy()
    times = rows["t"].fill_null(0).to_numpy().astype(np.int64)
    scores = rows["score"].to_numpy().astype(np.float64)
    budgets: dict[str, _Budget] = {}
    local: list[int] = []
    if policy.budgeted:
        positions: dict[str, list[int]] = {}
        for index, institution in enumerate(institutions):
            seen = positions.setdefault(institution, [])
            local.append(len(seen))
            seen.append(index)
        for institution, members in positions.items():
            picked = np.asarray(members, dtype=np.int64)
            budgets[institution] = _Budget(
                times[picked], subject_ids[picked], scores[picked], Threshold(model_threshold, None)
            )
    candidates = rows["alert"].to_list()
    alerted = [False] * rows.height
    episode_of: list[int | None] = [None] * rows.height
    versions: list[int | None] = [None] * rows.height
    episodes: dict[EpisodeKey, Episode] = {}
    numbers: dict[EpisodeKey, int] = {}
    held: set[int] = set()  # the subject ids with an open alert
    opened = 0
    fixed = Threshold(model_threshold, None)
    for index, (
        institution,
        report_id,
        subject_key,
        jurisdiction,
        typology,
        rules,
        forced,
    ) in enumerate(
        zip(
            institutions,
            rows["report_id"].to_list(),
            rows["subject_key"].to_list(),
            rows["jurisdiction"].to_list(),
            rows["typology"].to_list(),
            rows["rules"].to_list(),
            rows["forced_rules"].to_list(),
            strict=True,
        )
    ):
        if not candidates[index]:
            continue
        fired = frozenset(rules or ())
        candidate = Candidate(
            institution_id=institution,
            report_id=report_id,
            subject_key=subject_key,
            jurisdiction=jurisdiction,
            score=float(scores[index]),
            rules=fired,
            forced_rules=frozenset(forced or ()),
            typology=typology,
        )
        threshold = (
            budgets[institution].at(local[index], int(times[index]), policy, held)
            if policy.budgeted
            else fixed
        )
        (decision,) = decide(
            [candidate],
            thresholds={institution: threshold},
            episodes=episodes,
            closures={},
            policy=policy,
        )
        versions[index] = threshold.version
        if decision.action is Action.OPEN:
            opened += 1
            numbers[candidate.key] = opened
            held.add(int(subject_ids[index]))
            if policy.budgeted:
                budgets[institution].opened.append(int(times[index]))
        if decision.alerted:
            alerted[index] = True
            episode_of[index] = numbers[candidate.key]
    result = rows.with_columns(
        pl.Series("alert", alerted, dtype=pl.Boolean),
        pl.Series("episode", episode_of, dtype=pl.Int64),
        pl.Series("threshold_version", versions, dtype=pl.Int64),
    )
    span_days = max((int(times.max()) - int(times.min())) / DAY_S, 1.0) if rows.height else 1.0
    per_institution = {
        institution: round(count / span_days, 2)
        for institution, count in _opened_by(result, institutions).items()
    }
    figures: dict[str, Any] = {
        "episodes": opened,
        "days": round(span_days, 2),
        "alerts_per_day": round(opened / span_days, 2),
        "alerts_per_day_by_institution": per_institution,
        "threshold_versions": {
            institution: len(budget.versions) for institution, budget in budgets.items()
        },
        "policy": policy.describe(),
    }
    return result, figures


def _opened_by(result: pl.DataFrame, institutions: Sequence[str]) -> dict[str, int]:
    firsts = (
        result.with_row_index("row")
        .filter(pl.col("episode").is_not_null())
        .group_by("episode")
        .agg(pl.col("row").min())
    )
    counts: dict[str, int] = dict.fromkeys(sorted(set(institutions)), 0)
    for row in firsts["row"].to_list():
        counts[institutions[row]] += 1
    return counts


# The columns scored_stream adds for the policy; write_scored leaves them out of the output.
_POLICY_KEYS = ("seq", "subject_key", "jurisdiction", "subject_type", "t")


def scored_stream(source: Path, scorer: Scorer, rates: FxRates | None = None) -> pl.DataFrame:
    """Every report of ``source`` scored from an empty history, in arrival order, with what
    :func:`apply_policy` needs (``subject_key``, ``jurisdiction``, ``t``) and ``subject_type``."""
    flat = flatten(read_jsonl(source))
    compact = with_keys(encode(flat, rates)).collect()
    scored = score_history(compact, scorer)
    # The compact frame keeps no jurisdiction; its rows are the flat frame's, in order.
    keys = compact.select("seq", "subject_key", "t").with_columns(
        flat["jurisdiction"], flat["subject_type"]
    )
    return scored.join(keys, on="seq", how="left").sort("seq")


def write_scored(result: pl.DataFrame, target: Path) -> None:
    """``amlscreen score``'s output: one JSON line per report of :func:`apply_policy`'s result."""
    with target.open("wb") as out:
        for row in result.drop(_POLICY_KEYS).iter_rows(named=True):
            row["score"] = round(float(row["score"]), 6)
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))


def score_reports(
    source: Path,
    target: Path,
    bundle: ModelBundle,
    *,
    threshold: float | None = None,
    policy: AlertPolicy | None = None,
    rates: FxRates | None = None,
    rules: RuleConfig | None = None,
) -> dict[str, Any]:
    """Scores every report of ``source`` from an empty history; one JSON line each in ``target``.

    Each line: the report's keys, ``score``, ``alert`` (it opened or joined an alert under the
    worker's policy), ``episode`` (the alert it belongs to), ``threshold_version``, typology,
    reasons, ``rules`` (every rule that fired) and ``forced_rules`` (those of them that force an
    alert on this report). ``rates``: the exchange-rate table (default: the process's,
    ``AMLSCREEN_FX_RATES_FILE``); ``rules``: the rule configuration (default: the shipped rules).
    Returns the counts (``reports``, ``alerts``: reports alerted, ``episodes``: alerts opened,
    ``alerts_per_day``) and the ``threshold`` applied.
    """
    policy = policy or AlertPolicy()
    model_threshold = bundle.threshold if threshold is None else threshold
    scorer = Scorer(bundle, threshold=policy.scoring_threshold(model_threshold), rules=rules)
    rows = scored_stream(source, scorer, rates)
    result, figures = apply_policy(rows, policy, model_threshold)
    write_scored(result, target)
    return {
        "reports": result.height,
        "alerts": int(result["alert"].sum()),
        "threshold": model_threshold,
        **figures,
    }
