"""``amlscreen score``: a JSONL file of reports through the worker's detection path (backtest).

:func:`score_reports` is what the command runs. The shifted-world evaluation
(``amlscreen.evaluation``) calls the same function, so that it judges exactly what a user's
backtest produces: whatever scoring policy ``amlscreen score`` applies belongs here.

The alert policy is the worker's (``services.alerts.policy``: episodes, suppression, budget),
fed from the stream itself instead of the store: the open alerts are the episodes opened so far
(nobody closes them in a backtest, so nothing is suppressed either), and a budget threshold is
recomputed at the worker's cadence from the trailing window of the stream's own scores and the
alerts opened in it, by the worker's own arithmetic (``budget_threshold``). Under ranked spending
(``ranked_picks``) the subjects a recompute picks open their alert on their highest report of the
window, an earlier line of the output: the worker opens it on that report too, at the recompute.
The stream's end is a quiet spell for every institution: what was held after its latest version
is ranked once more, as the worker's sweep of quiet institutions does
(``services.alerts.flows.open_quiet_picks``).
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
    ranked_picks,
)

DAY_S = 86_400


@dataclass(slots=True)
class _Budget:
    """One institution's stream so far, and its threshold versions (as the worker stores them)."""

    t: npt.NDArray[np.int64]
    subject: npt.NDArray[np.int64]
    score: npt.NDArray[np.float64]
    threshold: Threshold
    # The subject key of each subject id (ranked picks are ordered by it on ties).
    keys: dict[int, str] = field(default_factory=dict)
    # Ranked spending: the latest version's lowest picked score, the threshold its picks passed.
    bar: Threshold | None = None
    computed_for: datetime | None = None
    # The first position the latest version did not rank (the reports held after it).
    unranked_from: int = 0
    versions: list[tuple[int, float]] = field(default_factory=list)
    # Event time of each alert this institution opened (forced ones included): what it spent.
    opened: list[int] = field(default_factory=list)

    def at(
        self, position: int, moment: int, policy: AlertPolicy, held: set[int]
    ) -> tuple[Threshold, list[int]]:
        """The threshold for a candidate at ``position`` of this institution's rows, and under
        ranked spending the positions of the reports a recompute here opens alerts on.

        ``held``: the subject ids with an open alert (in a backtest nobody closes one, so every
        subject alerted so far); they cannot open another one and take no place in the budget.
        """
        now = datetime.fromtimestamp(moment, tz=UTC)
        if not needs_recompute(self.computed_for, now, policy):
            return self.threshold, []
        since = moment - policy.budget_window_days * DAY_S
        start = int(np.searchsorted(self.t[: position + 1], since, side="right"))
        window = slice(start, position + 1)
        subjects, scores = self.subject[window], self.score[window]
        if subjects.size == 0:
            return self.threshold, []
        spent = np.asarray(self.opened, dtype=np.int64)
        opened = int(np.count_nonzero((spent > since) & (spent <= moment)))
        span = min((moment - int(self.t[start])) / DAY_S, float(policy.budget_window_days))
        held_ids = np.fromiter(held, dtype=np.int64, count=len(held))
        if policy.ranked:
            # The window's subjects and reports count the candidate itself (the worker counts
            # its whole batch, stored before the policy runs); the picks are among the reports
            # before it (the worker picks among the candidates that earlier batches held back).
            return self._ranked(start, position, position + 1, now, policy, held_ids, opened, span)
        order = np.lexsort((scores, subjects))
        last = np.r_[subjects[order][1:] != subjects[order][:-1], True]
        best, ids = scores[order][last], subjects[order][last]
        if held:
            best = best[~np.isin(ids, held_ids)]
        estimate = budget_threshold(
            best,
            subjects=int(ids.size),
            opened=opened,
            reports=int(subjects.size),
            span_days=span,
            policy=policy,
        )
        if estimate is None:
            return self.threshold, []
        self.threshold = Threshold(
            estimate.threshold, self._version(now, estimate.threshold, position)
        )
        return self.threshold, []

    def flush(self, policy: AlertPolicy, held: set[int]) -> tuple[int, list[int]]:
        """The end of the stream, as the worker's sweep of a quiet institution sees it
        (``services.alerts.flows.open_quiet_picks``): when reports at or above the floor came
        after the latest version, one more recompute ranks them, for the event time of the
        latest (or of the version, if later). Returns that event time and the positions it
        opens alerts on. Nothing before a first version (cold start)."""
        if not policy.ranked or self.computed_for is None:
            return 0, []
        later = np.arange(self.unranked_from, self.t.size, dtype=np.int64)
        held_ids = np.fromiter(held, dtype=np.int64, count=len(held))
        later = later[
            (self.score[later] >= policy.budget_floor) & ~np.isin(self.subject[later], held_ids)
        ]
        if later.size == 0:
            return 0, []
        stop = int(later.max()) + 1
        moment = max(int(self.t[later].max()), int(self.computed_for.timestamp()))
        since = moment - policy.budget_window_days * DAY_S
        start = int(np.searchsorted(self.t[:stop], since, side="right"))
        spent = np.asarray(self.opened, dtype=np.int64)
        opened = int(np.count_nonzero((spent > since) & (spent <= moment)))
        span = min((moment - int(self.t[start])) / DAY_S, float(policy.budget_window_days))
        now = datetime.fromtimestamp(moment, tz=UTC)
        _, picks = self._ranked(start, stop, stop, now, policy, held_ids, opened, span)
        return moment, picks

    def _ranked(
        self,
        start: int,
        position: int,
        counted_until: int,
        now: datetime,
        policy: AlertPolicy,
        held_ids: npt.NDArray[np.int64],
        opened: int,
        span: float,
    ) -> tuple[Threshold, list[int]]:
        """A ranked recompute: picks among the reports in [start, position), counts the
        window's subjects and reports in [start, counted_until)."""
        subjects = self.subject[start:counted_until]
        before = np.arange(start, position, dtype=np.int64)
        eligible = before[
            (self.score[before] >= policy.budget_floor) & ~np.isin(self.subject[before], held_ids)
        ]
        # Each subject's highest report (the latest of equal ones): last of its group.
        order = eligible[np.lexsort((eligible, self.score[eligible], self.subject[eligible]))]
        grouped = self.subject[order]
        best = order[np.r_[grouped[1:] != grouped[:-1], True]] if order.size else order
        position_of = {self.keys[int(self.subject[index])]: int(index) for index in best}
        result = ranked_picks(
            [(key, float(self.score[index])) for key, index in position_of.items()],
            subjects=int(np.unique(subjects).size),
            opened=opened,
            reports=int(subjects.size),
            span_days=span,
            policy=policy,
        )
        if result is None:
            return self.threshold, []
        estimate, picked = result
        version = self._version(now, estimate.threshold, position)
        self.bar = Threshold(estimate.threshold, version)
        self.threshold = policy.live_threshold(estimate.threshold, version)
        return self.threshold, [position_of[key] for key in picked]

    def _version(self, now: datetime, value: float, unranked_from: int) -> int:
        """Records a new threshold version computed for ``now`` that ranked the reports before
        ``unranked_from``; returns its number."""
        self.versions.append((int(now.timestamp()), value))
        self.computed_for = now
        self.unranked_from = unranked_from
        return len(self.versions)


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
    keys = rows["subject_key"].to_list()
    budgets: dict[str, _Budget] = {}
    local: list[int] = []
    positions: dict[str, list[int]] = {}  # each institution's rows, by local position
    if policy.budgeted:
        for index, institution in enumerate(institutions):
            seen = positions.setdefault(institution, [])
            local.append(len(seen))
            seen.append(index)
        for institution, members in positions.items():
            picked = np.asarray(members, dtype=np.int64)
            budgets[institution] = _Budget(
                times[picked],
                subject_ids[picked],
                scores[picked],
                Threshold(model_threshold, None),
                keys={int(subject_ids[row]): keys[row] for row in members},
            )
    candidates = rows["alert"].to_list()
    report_ids = rows["report_id"].to_list()
    jurisdictions = rows["jurisdiction"].to_list()
    typologies = rows["typology"].to_list()
    rule_lists = rows["rules"].to_list()
    forced_lists = rows["forced_rules"].to_list()
    alerted = [False] * rows.height
    opened_for: list[int | None] = [None] * rows.height  # the event time a line's alert opened
    episode_of: list[int | None] = [None] * rows.height
    versions: list[int | None] = [None] * rows.height
    episodes: dict[EpisodeKey, Episode] = {}
    numbers: dict[EpisodeKey, int] = {}
    held: set[int] = set()  # the subject ids with an open alert
    opened = 0
    fixed = Threshold(model_threshold, None)

    def candidate_of(index: int) -> Candidate:
        return Candidate(
            institution_id=institutions[index],
            report_id=report_ids[index],
            subject_key=keys[index],
            jurisdiction=jurisdictions[index],
            score=float(scores[index]),
            rules=frozenset(rule_lists[index] or ()),
            forced_rules=frozenset(forced_lists[index] or ()),
            typology=typologies[index],
        )

    def settle(index: int, threshold: Threshold, opened_at: int | None = None) -> None:
        """Decides line ``index``; ``opened_at``: the event time a ranked pick opens at (it
        spends the budget from then, as the worker's ``alerts.opened_for``)."""
        nonlocal opened
        candidate = candidate_of(index)
        (decision,) = decide(
            [candidate],
            thresholds={candidate.institution_id: threshold},
            episodes=episodes,
            closures={},
            policy=policy,
        )
        versions[index] = threshold.version
        if decision.action is Action.OPEN:
            spent_at = int(times[index]) if opened_at is None else opened_at
            opened_for[index] = spent_at
            opened += 1
            numbers[candidate.key] = opened
            held.add(int(subject_ids[index]))
            if policy.budgeted:
                budgets[candidate.institution_id].opened.append(spent_at)
        if decision.alerted:
            alerted[index] = True
            episode_of[index] = numbers[candidate.key]

    for index, institution in enumerate(institutions):
        if not candidates[index]:
            continue
        if not policy.budgeted:
            settle(index, fixed)
            continue
        budget = budgets[institution]
        threshold, picks = budget.at(local[index], int(times[index]), policy, held)
        if picks:
            # Ranked spending: the recompute's picks open first, on their earlier reports.
            assert budget.bar is not None
            for pick in picks:
                settle(positions[institution][pick], budget.bar, int(times[index]))
        settle(index, threshold)
    for institution, budget in budgets.items():
        # The stream ends: what was held after each institution's latest version is ranked.
        moment, picks = budget.flush(policy, held)
        if picks:
            assert budget.bar is not None
            for pick in picks:
                settle(positions[institution][pick], budget.bar, moment)
    result = rows.with_columns(
        pl.Series("alert", alerted, dtype=pl.Boolean),
        pl.Series("episode", episode_of, dtype=pl.Int64),
        pl.Series("threshold_version", versions, dtype=pl.Int64),
        pl.Series("opened_for", opened_for, dtype=pl.Int64),
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
_POLICY_KEYS = ("seq", "subject_key", "jurisdiction", "subject_type", "t", "opened_for")


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
