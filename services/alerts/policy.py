"""The alert policy: subject episodes, false-positive suppression and the alert budget.

Pure decisions, no database: the worker (``services.alerts.flows``) and the backtest
(``amlscreen.backtest``) feed them the same inputs from their own stores, so ``amlscreen score``
shows the alerts the worker would raise on the same stream.

**Episodes.** Investigators work subjects, not reports. A report whose score passes the
threshold (or that fires a forcing rule) is a *candidate*. A candidate whose subject already
has an open alert in the same jurisdiction *joins* it: the alert gathers the report, its rule
hits, and its score (the alert's score is the episode's maximum). Otherwise it *opens* a new
alert. So a subject has at most one open alert per jurisdiction, and a new one opens only after
it is closed or filed.

**Suppression.** An investigator's FALSE_POSITIVE closure says "this pattern on this subject is
normal". For ``suppression_days`` after it, a candidate of the *same pattern* opens nothing:
same subject and jurisdiction, the same typology, and no rule the closed alert did not already
carry. The risk rising materially lifts the suppression: a score above the closed alert's by
``material_margin``, or a forcing rule the closed alert did not carry (a forcing rule the
investigator already dismissed on this subject does not reopen the pattern within the window:
that is the "known good" practice; a new one, e.g. a first high-risk-country wire, does).

**Material update.** A join is *material* when the score rises by ``material_margin`` over the
alert's, a new rule fires or the typology changes; only opens and material updates are published
on ``aml.alerts`` (a subject wiring daily would otherwise republish its alert daily).

**Budget.** The operator states the volume the team can work: ``budget_per_day`` new alerts per
day per institution, or ``budget_share`` of the institution's active subjects over the trailing
window (``budget_window_days``); either gives ``k`` alerts per window. A share budget is a
quantile of the institution's own subjects, so it needs enough of them: with fewer than
``budget_min_subjects`` active subjects in the window no budget threshold is computed, and the
threshold in force stands: the model's, unless the institution had enough subjects before (a
share of a few dozen subjects would round to one alert a window, whatever they did). The
service's default (``services.config.Settings``) is a share budget of ``DEFAULT_BUDGET_SHARE``;
this dataclass defaults to no budget, for callers that state their own policy.

The budget counts what it has already spent: every ``budget_recompute_hours`` of event time the
institution's threshold is recomputed from the trailing window, ``opened`` being the alerts the
institution opened in it (every alert counts, whatever let it through: the score passing a
threshold, or a forcing rule -- forced alerts spend the budget too, so a stream full of forced
alerts raises the threshold for the rest). Of the ``k - opened`` left, the threshold is the score
the top ``k - opened`` of the window's subjects that hold no open alert reach (each counted by its
highest score: with episodes a subject opens one alert, not one per report; a subject with an open
alert cannot open another, so it takes no place), never below ``budget_floor``. With nothing left,
the threshold is ``BUDGET_SPENT`` (above any score) until alerts leave the window. Forcing rules
still force, on top of the budget.

**Spending the budget: ranked (the service's default) or at a threshold.** With
``budget_spending="threshold"`` a report opens an alert when it arrives at or above the
threshold in force, so the allowance goes to whoever crosses it first, and a subject that scored
high while the threshold stood above it is never alerted unless it scores higher still. With
``"ranked"``, each recompute hands the allowance left to the window's highest-ranked subjects
without an open alert (:func:`ranked_picks`: each subject by its highest score, at or above the
floor, best first) and their alerts open then, on that report; between recomputes only forcing
rules open an alert, and a report joins its subject's open alert when it scores at or above the
lowest score the last recompute picked (the threshold it stores; as under threshold spending,
nothing but a forcing rule joins once the budget is spent). The allowance of a share budget
grows with how much of the window the data covers (a cold start spends a fraction of it).
Alerts it opens wait for the next recompute (up to ``budget_recompute_hours`` of event time,
longer while the institution sends no candidate). Why it is the default: docs/detection.md,
"The order in which the budget is spent" (more launderers caught at a higher subject precision
on independent populations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

EpisodeKey = tuple[str, str]  # (subject_key, jurisdiction)

# Fewer reports than this in an institution's window: too few to estimate a quantile, the
# model's own threshold applies.
MIN_BUDGET_SAMPLE = 50
# The service's default budget (services.config.Settings): half a percent of an institution's
# active subjects per 14-day window, about 2-3 % of them over two months once new subjects keep
# arriving (docs/detection.md, "The default alert budget"); only for institutions with at least
# this many active subjects in the window (below, 0.5 % rounds to a single alert).
DEFAULT_BUDGET_SHARE = 0.005
DEFAULT_BUDGET_MIN_SUBJECTS = 50
# The lowest threshold a budget may set. A window whose allowance is not spent by subjects
# scoring above it keeps the rest: spending it lower alerted mostly legitimate subjects, and
# keeping it lost no launderer (docs/detection.md, "The budget's floor": on two
# independent population seeds, 0.3 against 0.05 alerted 15 % fewer subjects with a pooled
# subject precision 0.06-0.08 higher, and caught as many launderers).
DEFAULT_BUDGET_FLOOR = 0.3
# The threshold of a spent budget: above any score (scores are probabilities, at most 1.0), so
# only a forcing rule opens an alert until the window frees budget. Finite, not ``inf``: the
# threshold is stored in ``alert_thresholds``, in each alert, and in the audit trail's JSON
# (which has no infinity), and published on ``aml.alerts``.
BUDGET_SPENT = 1.000001

BudgetSpending = Literal["threshold", "ranked"]
# The service's default (services.config.Settings): see "Spending the budget" above.
DEFAULT_BUDGET_SPENDING: BudgetSpending = "ranked"


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    suppression_days: int = 30
    material_margin: float = 0.1
    budget_per_day: float | None = None
    budget_share: float | None = None
    budget_window_days: int = 14
    budget_recompute_hours: float = 6.0
    budget_floor: float = DEFAULT_BUDGET_FLOOR
    budget_min_subjects: int = 1
    budget_spending: BudgetSpending = "threshold"

    @classmethod
    def from_settings(cls, settings: Any) -> AlertPolicy:
        """The policy of ``services.config.Settings`` (``AMLSCREEN_ALERT_*``)."""
        budgeted = settings.alert_budget
        return cls(
            suppression_days=settings.alert_suppression_days,
            material_margin=settings.alert_material_margin,
            budget_per_day=settings.alert_budget_per_day if budgeted else None,
            budget_share=settings.alert_budget_share if budgeted else None,
            budget_window_days=settings.alert_budget_window_days,
            budget_recompute_hours=settings.alert_budget_recompute_hours,
            budget_floor=settings.alert_budget_floor,
            budget_min_subjects=settings.alert_budget_min_subjects,
            budget_spending=settings.alert_budget_spending,
        )

    @property
    def budgeted(self) -> bool:
        return self.budget_per_day is not None or self.budget_share is not None

    @property
    def ranked(self) -> bool:
        """The budget's allowance is handed out by rank at each recompute."""
        return self.budgeted and self.budget_spending == "ranked"

    def live_threshold(self, value: float, version: int) -> Threshold:
        """The threshold in force under the budget's version ``version`` (``value``: the one
        stored with it). Ranked: a report reaching it joins its subject's open alert and opens
        none (the version's picks opened theirs)."""
        return Threshold(value, version, ranked=self.ranked)

    def scoring_threshold(self, model_threshold: float) -> float:
        """The threshold the scorer runs at: every report that may become a candidate.

        Under a budget the live threshold may fall below the model's, down to the floor; the
        scorer must then name the typology and reasons of everything above the floor.
        """
        return min(self.budget_floor, model_threshold) if self.budgeted else model_threshold

    def describe(self) -> dict[str, Any]:
        """The policy as recorded in the model card and printed by ``amlscreen score``."""
        budget: str | None = None
        if self.budget_per_day is not None:
            budget = f"{self.budget_per_day:g} alerts/day per institution"
        elif self.budget_share is not None:
            budget = f"{self.budget_share:g} of active subjects"
        return {
            "episodes": "one open alert per subject and jurisdiction",
            "suppression_days": self.suppression_days,
            "material_margin": self.material_margin,
            "budget": budget,
            "budget_window_days": self.budget_window_days if budget else None,
            "budget_recompute_hours": self.budget_recompute_hours if budget else None,
            "budget_floor": self.budget_floor if budget else None,
            "budget_min_subjects": (
                self.budget_min_subjects if self.budget_share is not None else None
            ),
            "budget_spending": self.budget_spending if budget else None,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """A scored report, as the policy sees it."""

    institution_id: str
    report_id: str
    subject_key: str
    jurisdiction: str
    score: float
    rules: frozenset[str]
    forced_rules: frozenset[str]
    typology: str | None

    @property
    def key(self) -> EpisodeKey:
        return (self.subject_key, self.jurisdiction)


@dataclass(slots=True)
class Episode:
    """An open alert: what a joining report is compared with. ``alert_id`` None: not stored yet."""

    alert_id: int | None
    score: float
    rules: set[str]
    typology: str | None


@dataclass(frozen=True, slots=True)
class Closure:
    """A FALSE_POSITIVE closure of a subject's alert."""

    score: float
    rules: frozenset[str]
    typology: str | None
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    version: int | None  # None: the model's own threshold, no budget version
    # Ranked spending: reaching ``value`` (the lowest score the version picked) lets a report
    # join its subject's open alert, never open one; the budget's picks open alerts.
    ranked: bool = False


class Action(StrEnum):
    BELOW = "below"
    OPEN = "open"
    JOIN = "join"
    SUPPRESS = "suppress"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    material: bool = False
    threshold: Threshold | None = None

    @property
    def alerted(self) -> bool:
        """The report opened or joined an alert (``amlscreen score``'s ``alert``)."""
        return self.action in (Action.OPEN, Action.JOIN)


def reaches(candidate: Candidate, threshold: Threshold) -> bool:
    """True when the policy acts on the candidate: its score reaches the threshold, or a rule
    forces it. Anything else stays below (``Action.BELOW``), whatever its subject's state."""
    return candidate.score >= threshold.value or bool(candidate.forced_rules)


def suppressed(candidate: Candidate, closures: Sequence[Closure], policy: AlertPolicy) -> bool:
    """True when a recent FALSE_POSITIVE closure of the same pattern holds the candidate back.

    ``closures`` are the subject's closures within the suppression window already.
    """
    for closure in closures:
        if candidate.typology != closure.typology or not candidate.rules <= closure.rules:
            continue
        if candidate.score > closure.score + policy.material_margin:
            continue
        if candidate.forced_rules - closure.rules:
            continue
        return True
    return False


def is_material(candidate: Candidate, episode: Episode, policy: AlertPolicy) -> bool:
    """True when a joining report changes what the investigator is looking at."""
    return (
        candidate.score >= episode.score + policy.material_margin
        or not candidate.rules <= episode.rules
        or (candidate.typology is not None and candidate.typology != episode.typology)
    )


def decide(
    candidates: Sequence[Candidate],
    *,
    thresholds: Mapping[str, Threshold],
    episodes: dict[EpisodeKey, Episode],
    closures: Mapping[EpisodeKey, Sequence[Closure]],
    policy: AlertPolicy,
) -> list[Decision]:
    """Decides every candidate in arrival order; ``episodes`` is updated in place.

    ``thresholds`` by institution; ``episodes`` the open alerts of the candidates' subjects
    (an alert opened here is added with ``alert_id`` None, so a later report of the same
    subject joins it); ``closures`` the FALSE_POSITIVE closures within the suppression window.
    """
    decisions: list[Decision] = []
    for candidate in candidates:
        threshold = thresholds[candidate.institution_id]
        if not reaches(candidate, threshold):
            decisions.append(Decision(Action.BELOW, threshold=threshold))
            continue
        episode = episodes.get(candidate.key)
        if episode is None and threshold.ranked and not candidate.forced_rules:
            # Held for the budget's ranking at its next recompute.
            decisions.append(Decision(Action.BELOW, threshold=threshold))
            continue
        if episode is not None:
            material = is_material(candidate, episode, policy)
            if material:
                # The published state moves on: the next update is material against it.
                episode.score = max(episode.score, candidate.score)
                episode.typology = candidate.typology or episode.typology
            episode.rules |= candidate.rules
            decisions.append(Decision(Action.JOIN, material=material, threshold=threshold))
            continue
        if suppressed(candidate, closures.get(candidate.key, ()), policy):
            decisions.append(Decision(Action.SUPPRESS, threshold=threshold))
            continue
        episodes[candidate.key] = Episode(
            None, candidate.score, set(candidate.rules), candidate.typology
        )
        decisions.append(Decision(Action.OPEN, threshold=threshold))
    return decisions


def suppression_since(now: datetime, policy: AlertPolicy) -> datetime:
    """The oldest FALSE_POSITIVE closure that still suppresses at ``now``."""
    return now - timedelta(days=policy.suppression_days)


@dataclass(frozen=True, slots=True)
class BudgetEstimate:
    threshold: float
    subjects: int
    reports: int
    budget: str = field(default="")
    allowance: int = 0  # k: the alerts the budget grants per window
    opened: int = 0  # the alerts already opened in the window


def _allowance(
    subjects: int, reports: int, span_days: float, policy: AlertPolicy, *, ramp: bool
) -> tuple[int, str] | None:
    """The alerts the budget grants per window (at least 1) and its label, or None when the
    window has too few reports, or (a share budget) too few active subjects, to say.

    ``ramp``: a share budget grants its share times the part of the window the data covers
    (ranked spending); otherwise the whole share at once (threshold spending, whose threshold
    caps what a cold start spends).
    """
    if reports < MIN_BUDGET_SAMPLE or subjects <= 0:
        return None
    if policy.budget_per_day is not None:
        wanted = policy.budget_per_day * max(span_days, 1.0)
        label = f"{policy.budget_per_day:g}/day"
    elif policy.budget_share is not None:
        if subjects < policy.budget_min_subjects:
            return None
        covered = min(1.0, max(span_days, 0.0) / policy.budget_window_days) if ramp else 1.0
        wanted = policy.budget_share * subjects * covered
        label = f"{policy.budget_share:g} of subjects"
    else:
        return None
    return max(1, int(round(wanted))), label


def budget_threshold(
    unalerted_max_scores: npt.NDArray[np.float64],
    *,
    subjects: int,
    opened: int,
    reports: int,
    span_days: float,
    policy: AlertPolicy,
) -> BudgetEstimate | None:
    """The threshold that spends what is left of the budget over the window.

    ``unalerted_max_scores``: the highest score in the window of each active subject that holds
    no open alert (forced reports included). ``subjects``: the window's active subjects, alerted
    ones included (``budget_share`` is a share of them). ``opened``: the alerts the institution
    opened in the window, forced ones included. ``reports``: the window's scored reports.
    ``span_days``: how much of the window the data covers (a cold start has less than the whole
    window). None when there are too few reports to say, or (a share budget) fewer active
    subjects than ``budget_min_subjects``.

    ``k`` is the budget per window (at least 1); with ``k - opened <= 0`` the threshold is
    ``BUDGET_SPENT``; otherwise the ``(k - opened)``-th highest of ``unalerted_max_scores``
    (subjects tied with it reach it too: they are counted as spent at the next recompute), or
    the floor when fewer subjects than that are left; never below ``budget_floor``.
    """
    granted = _allowance(subjects, reports, span_days, policy, ramp=False)
    if granted is None:
        return None
    k, label = granted
    opened = max(0, int(opened))
    left = k - opened
    candidates = int(unalerted_max_scores.size)

    def estimate(threshold: float) -> BudgetEstimate:
        return BudgetEstimate(threshold, subjects, reports, label, k, opened)

    if left <= 0:
        return estimate(BUDGET_SPENT)
    if left >= candidates:
        return estimate(policy.budget_floor)
    # The left-th highest unalerted subject score: that many subjects reach it.
    kth = float(np.partition(unalerted_max_scores, candidates - left)[candidates - left])
    return estimate(max(kth, policy.budget_floor))


def ranked_picks(
    unalerted: Sequence[tuple[str, float]],
    *,
    subjects: int,
    opened: int,
    reports: int,
    span_days: float,
    policy: AlertPolicy,
) -> tuple[BudgetEstimate, list[str]] | None:
    """Ranked spending: the subjects the allowance left goes to, best first.

    ``unalerted``: (subject, highest score in the window) of each active subject that holds no
    open alert. The other arguments are :func:`budget_threshold`'s, and None means the same:
    too few reports or subjects to say. The allowance of a share budget is the share of the
    window's active subjects times the part of the window the data covers (``span_days``), so a
    cold start does not hand a whole window's alerts to its first hours. The picks are the
    ``allowance - opened`` subjects scoring highest, at or above ``budget_floor`` (ties by
    subject, for the same picks in every worker and in ``amlscreen score``). The estimate's
    threshold is the lowest score picked; with none, the floor, or ``BUDGET_SPENT`` when nothing
    is left.
    """
    granted = _allowance(subjects, reports, span_days, policy, ramp=True)
    if granted is None:
        return None
    allowance, label = granted
    opened = max(0, int(opened))
    left = allowance - opened
    eligible = sorted(
        (pair for pair in unalerted if pair[1] >= policy.budget_floor),
        key=lambda pair: (-pair[1], pair[0]),
    )
    picked = eligible[: max(left, 0)]
    if picked:
        bar = picked[-1][1]
    else:
        bar = BUDGET_SPENT if left <= 0 else policy.budget_floor
    estimate = BudgetEstimate(bar, subjects, reports, label, allowance, opened)
    return estimate, [subject for subject, _ in picked]


def needs_recompute(last: datetime | None, at: datetime, policy: AlertPolicy) -> bool:
    """True when the institution's threshold is older (in event time) than the cadence."""
    return last is None or at >= last + timedelta(hours=policy.budget_recompute_hours)
