"""The alert policy's pure decisions: budget quantile, suppression, material updates."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from services.alerts.policy import (
    BUDGET_SPENT,
    Action,
    AlertPolicy,
    Candidate,
    Closure,
    Episode,
    Threshold,
    budget_threshold,
    decide,
    ranked_picks,
    reaches,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _candidate(score: float, rules: tuple[str, ...] = ("structuring",), **extra) -> Candidate:
    values = {
        "institution_id": "US-FI-0001",
        "report_id": f"R-{score}",
        "subject_key": "S1",
        "jurisdiction": "US",
        "score": score,
        "rules": frozenset(rules),
        "forced_rules": frozenset(),
        "typology": "structuring",
        **extra,
    }
    return Candidate(**values)


class TestBudgetThreshold:
    scores = np.linspace(0.0, 0.99, 100)

    def _estimate(self, policy, scores=None, *, subjects=100, opened=0, reports=500, span=10):
        scores = self.scores if scores is None else np.asarray(scores, dtype=np.float64)
        return budget_threshold(
            scores, subjects=subjects, opened=opened, reports=reports, span_days=span, policy=policy
        )

    def test_per_day_lets_the_budgeted_subjects_through(self):
        policy = AlertPolicy(budget_per_day=1, budget_floor=0.0)
        estimate = self._estimate(policy)
        assert estimate is not None
        assert int((self.scores >= estimate.threshold).sum()) == 10
        assert (estimate.allowance, estimate.opened) == (10, 0)

    def test_share_of_active_subjects(self):
        policy = AlertPolicy(budget_share=0.05, budget_floor=0.0)
        estimate = self._estimate(policy)
        assert estimate is not None
        assert int((self.scores >= estimate.threshold).sum()) == 5

    def test_never_below_the_floor(self):
        policy = AlertPolicy(budget_per_day=50, budget_floor=0.3)
        estimate = self._estimate(policy)
        assert estimate is not None
        assert estimate.threshold == pytest.approx(0.3)

    def test_too_few_reports_say_nothing(self):
        policy = AlertPolicy(budget_per_day=1)
        assert self._estimate(policy, self.scores[:5], subjects=5, reports=5, span=1) is None
        assert self._estimate(policy, [], subjects=0) is None

    def test_a_share_needs_enough_subjects(self):
        # 0.5 % of 60 subjects rounds to one alert a window, whatever they did: below
        # budget_min_subjects a share budget says nothing and the model's threshold stands.
        policy = AlertPolicy(budget_share=0.005, budget_floor=0.0, budget_min_subjects=80)
        assert self._estimate(policy, subjects=60) is None
        estimate = self._estimate(policy, subjects=100)
        assert estimate is not None
        assert estimate.allowance == 1
        # A budget per day is a volume, not a quantile: no minimum.
        per_day = AlertPolicy(budget_per_day=1, budget_floor=0.0, budget_min_subjects=80)
        assert self._estimate(per_day, subjects=60) is not None

    def test_alerts_opened_in_the_window_spend_the_budget(self):
        # k = 10 a window; 4 already opened: 6 left for the subjects without an alert.
        policy = AlertPolicy(budget_per_day=1, budget_floor=0.0)
        estimate = self._estimate(policy, opened=4)
        assert estimate is not None
        assert int((self.scores >= estimate.threshold).sum()) == 6
        assert estimate.threshold == pytest.approx(0.94)
        assert (estimate.allowance, estimate.opened) == (10, 4)

    def test_the_share_counts_every_active_subject_and_the_spent_alerts(self):
        # 200 active subjects (100 of them alerted, so not among the scores) at 5 %: k = 10;
        # 3 opened in the window, so the 7th highest of the unalerted.
        policy = AlertPolicy(budget_share=0.05, budget_floor=0.0)
        estimate = self._estimate(policy, subjects=200, opened=3)
        assert estimate is not None
        assert int((self.scores >= estimate.threshold).sum()) == 7
        assert estimate.subjects == 200

    def test_a_spent_budget_lets_no_score_through(self):
        policy = AlertPolicy(budget_per_day=1, budget_floor=0.0)
        for opened in (10, 11, 50):
            estimate = self._estimate(policy, opened=opened)
            assert estimate is not None
            assert estimate.threshold == BUDGET_SPENT
            assert estimate.threshold > 1.0  # above any score, and finite (it is stored)
            assert np.isfinite(estimate.threshold)

    def test_ties_at_the_kth_score_all_reach_it(self):
        # k = 3 left; the 3rd highest is tied with the 4th: both reach it (counted as spent
        # at the next recompute).
        scores = [0.1] * 60 + [0.5, 0.7, 0.7, 0.9]
        policy = AlertPolicy(budget_per_day=0.5, budget_floor=0.0)
        estimate = self._estimate(policy, scores, subjects=70, opened=2, span=10)
        assert estimate is not None
        assert estimate.threshold == pytest.approx(0.7)
        assert sum(score >= estimate.threshold for score in scores) == 3

    def test_the_floor_holds_when_fewer_subjects_are_left_than_the_budget(self):
        policy = AlertPolicy(budget_per_day=20, budget_floor=0.2)
        estimate = self._estimate(policy, self.scores[:50], subjects=100, opened=100 - 60)
        assert estimate is not None
        assert estimate.threshold == pytest.approx(0.2)
        # And a k-th score under the floor is raised to it: 90 left, the 90th highest is 0.1.
        estimate = self._estimate(policy, subjects=100, opened=200 - 90)
        assert estimate is not None
        assert estimate.threshold == pytest.approx(0.2)


class TestDecide:
    def _decide(self, candidates, episodes=None, closures=None, threshold=0.5):
        return decide(
            candidates,
            thresholds={"US-FI-0001": Threshold(threshold, None)},
            episodes={} if episodes is None else episodes,
            closures=closures or {},
            policy=AlertPolicy(material_margin=0.1),
        )

    def test_open_then_join_and_material_rises(self):
        decisions = self._decide([_candidate(0.6), _candidate(0.65), _candidate(0.8)])
        assert [d.action for d in decisions] == [Action.OPEN, Action.JOIN, Action.JOIN]
        assert [d.material for d in decisions] == [False, False, True]

    def test_a_new_rule_is_material(self):
        episodes = {("S1", "US"): Episode(7, 0.9, {"structuring"}, "structuring")}
        (decision,) = self._decide([_candidate(0.6, ("structuring", "mx_ror"))], episodes)
        assert (decision.action, decision.material) == (Action.JOIN, True)

    def test_forced_below_threshold_still_alerts(self):
        forced = _candidate(0.1, ("high_risk_jurisdiction",), forced_rules=frozenset({"x"}))
        assert self._decide([forced])[0].action is Action.OPEN

    def test_suppression_and_what_lifts_it(self):
        closures = {("S1", "US"): [Closure(0.7, frozenset({"structuring"}), "structuring", NOW)]}
        same = self._decide([_candidate(0.75)], closures=closures)
        assert same[0].action is Action.SUPPRESS
        higher = self._decide([_candidate(0.81)], closures=closures)
        assert higher[0].action is Action.OPEN
        new_rule = self._decide([_candidate(0.7, ("structuring", "mx_ror"))], closures=closures)
        assert new_rule[0].action is Action.OPEN


class TestReaches:
    """The one test of whether the policy acts on a candidate (decide, and the worker's
    choice of what to type)."""

    def test_the_threshold_itself_is_reached(self):
        assert reaches(_candidate(0.5), Threshold(0.5, None))

    def test_below_the_threshold_is_not(self):
        assert not reaches(_candidate(0.4999), Threshold(0.5, 3))

    def test_a_forcing_rule_reaches_any_threshold(self):
        forced = _candidate(0.01, forced_rules=frozenset({"high_risk_jurisdiction"}))
        assert reaches(forced, Threshold(BUDGET_SPENT, 7))

    def test_decide_leaves_below_what_does_not_reach(self):
        candidates = [_candidate(0.3), _candidate(0.7, report_id="R-high")]
        decisions = decide(
            candidates,
            thresholds={"US-FI-0001": Threshold(0.5, None)},
            episodes={},
            closures={},
            policy=AlertPolicy(),
        )
        assert [d.action for d in decisions] == [Action.BELOW, Action.OPEN]


class TestDefaultFloor:
    """A window whose allowance no subject above the floor claims keeps the rest, rather than
    spending it on whatever ranks highest, however low (docs/detection.md, "The budget's
    floor")."""

    def test_a_quiet_window_keeps_its_allowance(self):
        policy = AlertPolicy(budget_share=0.05)  # k = 5 of 100 subjects, nothing opened yet
        quiet = np.array([0.25, 0.2, 0.12, 0.1, 0.08, 0.06] + [0.01] * 94)
        estimate = budget_threshold(
            quiet, subjects=100, opened=0, reports=500, span_days=10, policy=policy
        )
        assert estimate is not None
        assert estimate.allowance == 5
        # The fifth-highest subject scores 0.08: the former floor (0.05) let it and the four
        # above it through; the default floor lets none of them.
        assert estimate.threshold == 0.3

    def test_a_busy_window_is_not_held_back(self):
        policy = AlertPolicy(budget_share=0.05)
        busy = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4] + [0.01] * 94)
        estimate = budget_threshold(
            busy, subjects=100, opened=0, reports=500, span_days=10, policy=policy
        )
        assert estimate is not None
        assert estimate.threshold == 0.5


class TestRankedPicks:
    """Ranked spending: the allowance left goes to the window's best subjects at each recompute."""

    POLICY = AlertPolicy(budget_share=0.02, budget_min_subjects=50, budget_spending="ranked")

    def _picks(self, unalerted, *, subjects=200, opened=0, span_days=14.0, policy=None):
        return ranked_picks(
            unalerted,
            subjects=subjects,
            opened=opened,
            reports=1_000,
            span_days=span_days,
            policy=policy or self.POLICY,
        )

    def test_the_best_subjects_at_or_above_the_floor_best_first(self):
        unalerted = [("a", 0.5), ("b", 0.95), ("c", 0.2), ("d", 0.7), ("e", 0.6), ("f", 0.31)]
        estimate, picked = self._picks(unalerted)  # 0.02 x 200 = 4 alerts a window
        assert picked == ["b", "d", "e", "a"]
        assert (estimate.allowance, estimate.opened, estimate.threshold) == (4, 0, 0.5)

    def test_what_is_spent_in_the_window_is_not_handed_out_again(self):
        estimate, picked = self._picks([("a", 0.9), ("b", 0.8)], opened=3)
        assert picked == ["a"]
        assert estimate.threshold == 0.9
        estimate, picked = self._picks([("a", 0.9)], opened=4)
        assert picked == []
        assert estimate.threshold == BUDGET_SPENT

    def test_nobody_above_the_floor_leaves_the_allowance_unspent(self):
        estimate, picked = self._picks([("a", 0.29), ("b", 0.1)])
        assert picked == []
        assert estimate.threshold == self.POLICY.budget_floor

    def test_a_cold_start_hands_out_the_part_of_the_window_it_covers(self):
        unalerted = [(f"s{n}", 0.9 - n / 100) for n in range(10)]
        _, picked = self._picks(unalerted, span_days=3.5)  # a quarter of 14 days: 1 of 4
        assert picked == ["s0"]
        _, picked = self._picks(unalerted, span_days=7.0)
        assert picked == ["s0", "s1"]

    def test_ties_go_by_subject_the_same_in_every_worker(self):
        _, picked = self._picks([("z", 0.8), ("m", 0.8), ("a", 0.8), ("q", 0.8), ("b", 0.8)])
        assert picked == ["a", "b", "m", "q"]

    def test_too_few_reports_or_subjects_say_nothing(self):
        assert self._picks([("a", 0.9)], subjects=49) is None
        assert (
            ranked_picks(
                [("a", 0.9)], subjects=200, opened=0, reports=10, span_days=14, policy=self.POLICY
            )
            is None
        )

    def test_a_ranked_threshold_joins_and_forces_but_opens_nothing(self):
        threshold = self.POLICY.live_threshold(0.6, 3)
        assert threshold == Threshold(0.6, 3, ranked=True)
        episodes = {("S2", "US"): Episode(7, 0.9, {"structuring"}, "structuring")}
        decisions = decide(
            [
                _candidate(0.95),  # subject S1, no open alert: held for the ranking
                _candidate(0.7, subject_key="S2"),  # joins S2's alert
                _candidate(0.5, subject_key="S2"),  # under the bar: below
                _candidate(
                    0.1,
                    ("high_risk_jurisdiction",),
                    subject_key="S3",
                    forced_rules=frozenset({"high_risk_jurisdiction"}),
                ),
            ],
            thresholds={"US-FI-0001": threshold},
            episodes=episodes,
            closures={},
            policy=self.POLICY,
        )
        assert [decision.action for decision in decisions] == [
            Action.BELOW,
            Action.JOIN,
            Action.BELOW,
            Action.OPEN,
        ]
