"""``amlscreen score`` applies the worker's alert policy: episodes and the alert budget."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pytest

from amlscreen.backtest import apply_policy, score_reports
from amlscreen.evaluation import champion_challenger, render_champion_challenger
from models.registry import ModelBundle, load_bundle
from models.rules import RuleConfig
from models.scoring import Scorer, score_file
from services.alerts.policy import AlertPolicy
from simulator.generate import GeneratorConfig, generate
from tests.models.test_registry import tiny_model
from tests.models.test_rules import as_entity
from tests.models.test_scoring import structuring_case


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return load_bundle(tiny_model())


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = GeneratorConfig(
        seed=31,
        n_reports=3_000,
        start=datetime(2026, 2, 2, tzinfo=UTC),
        days=12,
        laundering_share=0.1,
    )
    source = tmp_path_factory.mktemp("backtest") / "in.jsonl"
    labels = source.with_name("labels.jsonl")
    with source.open("wb") as handle, labels.open("wb") as truth:
        for item in generate(config):
            handle.write(orjson.dumps(item.report) + b"\n")
            key = {k: item.report[k] for k in ("institution_id", "report_id")}
            truth.write(orjson.dumps({**key, "typology": item.typology}) + b"\n")
    return source


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


class TestEpisodes:
    def test_one_line_per_report_and_one_alert_per_subject(self, bundle, stream, tmp_path):
        target = tmp_path / "out.jsonl"
        threshold = 0.2
        summary = score_reports(stream, target, bundle, threshold=threshold)
        lines = _lines(target)
        assert len(lines) == summary["reports"]
        # Without a budget, every report over the threshold (or forced) opened or joined an
        # alert: the per-report flag is the scorer's own.
        plain = tmp_path / "plain.jsonl"
        score_file(stream, plain, Scorer(bundle, threshold=threshold))
        assert [line["alert"] for line in lines] == [line["alert"] for line in _lines(plain)]
        alerted = [line for line in lines if line["alert"]]
        assert all(line["episode"] is not None for line in alerted)
        assert summary["episodes"] == len({line["episode"] for line in alerted})
        # Fewer alerts than alerted reports: a subject's reports gather in one alert.
        assert summary["episodes"] < summary["alerts"]
        subjects = Counter(line["episode"] for line in alerted)
        assert max(subjects.values()) > 1


class TestForcing:
    def test_only_a_forcing_hit_opens_an_alert_that_the_score_would_not(self, bundle, tmp_path):
        # Three near-threshold cash deposits in one day, by a person and by a business, under a
        # threshold no score reaches: only a forcing rule opens an alert.
        person = structuring_case()
        business = [
            as_entity({**document, "report_id": f"B{document['report_id']}"})
            for document in structuring_case(subject="S2")
        ]
        source = tmp_path / "in.jsonl"
        source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in [*person, *business]))

        def alerts(entities_forced: bool) -> list[dict]:
            target = tmp_path / f"out-{entities_forced}.jsonl"
            rules = RuleConfig(
                structuring_forces_alert_entities=entities_forced,
                structuring_entity_min_near_share=None,
            )
            score_reports(source, target, bundle, threshold=1.01, rules=rules)
            return _lines(target)

        hit_only = alerts(False)
        assert [line["alert"] for line in hit_only] == [False, True, True, False, False, False]
        assert [line["forced_rules"] for line in hit_only] == [
            [],
            ["structuring"],
            ["structuring"],
            [],
            [],
            [],
        ]
        assert hit_only[5]["rules"] == ["structuring"]
        forced = alerts(True)
        assert [line["alert"] for line in forced] == [False, True, True, False, True, True]


class TestBudget:
    def test_the_budget_sets_the_volume(self, bundle, stream, tmp_path):
        loose = score_reports(stream, tmp_path / "loose.jsonl", bundle, threshold=0.05)
        policy = AlertPolicy(budget_per_day=1.0, budget_window_days=7, budget_recompute_hours=6)
        budgeted = score_reports(
            stream, tmp_path / "budget.jsonl", bundle, threshold=0.05, policy=policy
        )
        assert budgeted["episodes"] < loose["episodes"]
        assert budgeted["threshold_versions"]
        assert any(count > 0 for count in budgeted["threshold_versions"].values())
        versions = {line["threshold_version"] for line in _lines(tmp_path / "budget.jsonl")}
        assert len(versions - {None}) > 1
        # Within a factor of the budget per institution (the first days are the model's
        # threshold, before the window holds enough reports to estimate a quantile).
        for rate in budgeted["alerts_per_day_by_institution"].values():
            assert rate <= 3.0


DAY_S = 86_400


def _turnover_stream(seed: int, days: int = 90, per_day: int = 150) -> pl.DataFrame:
    """A scored stream of two institutions whose subjects come and go (each active for about
    30 days, reporting every other day, scores noisy around the subject's own level), with a
    few reports firing a forcing rule; in arrival order, as ``apply_policy`` takes it."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, int, float, bool]] = []
    for institution in ("US-FI-0001", "MX-FI-0002"):
        count = days * per_day // 5
        starts = rng.uniform(-10, days, count)
        lives = rng.exponential(30, count)
        levels = rng.beta(1.2, 9, count)
        for subject in range(count):
            reports = rng.poisson(max(lives[subject], 0.5) / 2) + 1
            for moment in rng.uniform(starts[subject], starts[subject] + lives[subject], reports):
                if 0 <= moment < days:
                    score = float(np.clip(levels[subject] + rng.normal(0, 0.15), 0, 1))
                    forced = bool(rng.random() < 0.0005)
                    rows.append(
                        (
                            institution,
                            f"{institution}-S{subject}",
                            int(moment * DAY_S),
                            score,
                            forced,
                        )
                    )
    rows.sort(key=lambda row: row[2])
    return pl.DataFrame(
        {
            "seq": range(len(rows)),
            "institution_id": [row[0] for row in rows],
            "report_id": [f"R{n}" for n in range(len(rows))],
            "subject_key": [row[1] for row in rows],
            "jurisdiction": [row[0][:2] for row in rows],
            "typology": pl.Series([None] * len(rows), dtype=pl.String),
            "rules": [["high_risk_jurisdiction"] if row[4] else [] for row in rows],
            "forced_rules": [["high_risk_jurisdiction"] if row[4] else [] for row in rows],
            "score": [row[3] for row in rows],
            "t": [row[2] for row in rows],
        }
    )


def _window_excesses(stream: pl.DataFrame, openers: pl.DataFrame, policy: AlertPolicy) -> list[int]:
    """For each institution and each 14-day window ending at a midnight: the alerts opened in it
    (``openers``: ``institution_id``, ``t`` the event time the alert spends the budget from,
    ``rules``), forced ones aside, minus the budget's allowance over the window's subjects."""
    window = policy.budget_window_days * DAY_S
    assert policy.budget_share is not None
    excesses: list[int] = []
    for institution in ("US-FI-0001", "MX-FI-0002"):
        mine = stream.filter(pl.col("institution_id") == institution)
        times, subjects = mine["t"].to_numpy(), mine["subject_key"].to_numpy()
        opened = openers.filter(pl.col("institution_id") == institution)
        at = opened["t"].to_numpy()
        forced = (opened["rules"].list.len() > 0).to_numpy()
        last_day = int(times.max()) // DAY_S
        for end in range(window, last_day * DAY_S + 1, DAY_S):
            inside = (times > end - window) & (times <= end)
            k = max(1, round(policy.budget_share * len(set(subjects[inside]))))
            spent = (at > end - window) & (at <= end)
            excesses.append(int(spent.sum()) - int((spent & forced).sum()) - k)
    return excesses


class TestBudgetSpent:
    """The budget counts the alerts it already opened in the window (turnover: new subjects
    crossing a k-th-highest threshold as the window slides overshot it)."""

    @pytest.mark.parametrize("seed", [7, 8])
    def test_alerts_opened_per_window_stay_within_the_budget(self, seed):
        policy = AlertPolicy(budget_share=0.02, budget_window_days=14, budget_recompute_hours=6)
        model_threshold = 0.5
        stream = _turnover_stream(seed)
        rows = stream.with_columns(
            alert=(pl.col("score") >= policy.scoring_threshold(model_threshold))
            | (pl.col("rules").list.len() > 0)
        )
        result, figures = apply_policy(rows, policy, model_threshold)
        assert figures["episodes"] > 100
        openers = (
            result.filter(pl.col("episode").is_not_null())
            .group_by("episode")
            .agg(pl.col("institution_id", "t", "rules").sort_by("seq").first())
        )
        excesses = _window_excesses(stream, openers, policy)
        # Every 14-day window: no more alerts than the budget, forced ones aside, but for one:
        # a threshold stands for 6 h between recomputes, and what crosses it meanwhile is only
        # counted at the next one (today's k-th-highest threshold, blind to what it spent, went
        # 7 and 6 over on these two streams).
        assert max(excesses) <= 1
        assert len(excesses) > 100
        # And in the typical window within it.
        assert float(np.median(excesses)) <= 0


class TestChampionChallenger:
    def test_both_models_on_the_same_data(self, bundle, stream):
        # The same artefact as challenger: every figure must come out the same.
        result = champion_challenger(
            bundle,
            load_bundle(tiny_model()),
            stream,
            stream.with_name("labels.jsonl"),
            policy=AlertPolicy(budget_per_day=1.0),
        )
        champion, challenger = result["models"]["champion"], result["models"]["challenger"]
        assert champion["pr_auc"] is not None
        assert champion["pr_auc"] == challenger["pr_auc"]
        assert champion["subject_alerts"] == challenger["subject_alerts"] > 0
        assert 0 <= champion["report_recall"] <= 1
        table = render_champion_challenger(result)
        assert "subject alerts per day" in table
        assert "challenger" in table


class TestRankedSpending:
    """Ranked spending in ``amlscreen score``: a recompute's picks open on their own lines."""

    POLICY = AlertPolicy(
        budget_share=0.02, budget_min_subjects=50, budget_window_days=14, budget_spending="ranked"
    )

    @staticmethod
    def _stream(events: list[tuple[str, int, float]]) -> pl.DataFrame:
        """(subject, event time, score) in time order, one institution, as scored lines."""
        events = sorted(events, key=lambda event: event[1])
        return pl.DataFrame(
            {
                "seq": range(len(events)),
                "institution_id": ["US-FI-0001"] * len(events),
                "report_id": [f"R{n}" for n in range(len(events))],
                "subject_key": [event[0] for event in events],
                "jurisdiction": ["US"] * len(events),
                "typology": ["fan_in" if event[2] >= 0.3 else None for event in events],
                "rules": [[] for _ in events],
                "forced_rules": [[] for _ in events],
                "score": [event[2] for event in events],
                "t": [event[1] for event in events],
            }
        )

    def test_a_subject_that_never_reports_again_is_picked_on_its_best_line(self):
        # 200 subjects a day at low scores; a candidate every 3 hours (at or above the scoring
        # threshold, min(floor, model threshold), under the floor) brings the recomputes.
        events = [(f"S{n}", day * DAY_S + n, 0.01) for day in range(20) for n in range(200)]
        events += [("tick", DAY_S + 3_600 * 3 * h, 0.25) for h in range(150)]
        # Day 3: X scores 0.95, then 0.6, and never reports again.
        events += [("X", 3 * DAY_S + 7_200, 0.95), ("X", 3 * DAY_S + 7_300, 0.6)]
        rows = self._stream(events)
        model_threshold = 0.2
        rows = rows.with_columns(
            alert=pl.col("score") >= self.POLICY.scoring_threshold(model_threshold)
        )
        result, _ = apply_policy(rows, self.POLICY, model_threshold)
        openers = result.filter(pl.col("opened_for").is_not_null()).sort("opened_for")
        # X first (the best of the window), on its best line, at the recompute after it.
        first = openers.row(0, named=True)
        assert (first["subject_key"], first["score"]) == ("X", 0.95)
        assert first["t"] == 3 * DAY_S + 7_200 < first["opened_for"] <= first["t"] + 6 * 3_600
        assert first["threshold_version"] is not None
        x_lines = result.filter(pl.col("subject_key") == "X")
        assert x_lines["alert"].to_list() == [True, False]  # 0.6 is under the version's bar
        # Threshold spending, by contrast, opens on the line as it arrives.
        threshold_policy = AlertPolicy(
            budget_share=0.02, budget_min_subjects=50, budget_window_days=14
        )
        at_once, _ = apply_policy(rows, threshold_policy, model_threshold)
        assert at_once.filter(pl.col("alert"))["t"].to_list()[0] == 3 * DAY_S + 7_200

    def test_what_the_end_of_the_stream_holds_is_ranked(self):
        # 200 subjects a day at low scores, a candidate every 3 hours; the stream ends 1 hour
        # after X's 0.95, before the cadence brings another recompute (the worker's sweep of a
        # quiet institution does it: services.alerts.flows.open_quiet_picks).
        events = [(f"S{n}", day * DAY_S + n, 0.01) for day in range(10) for n in range(200)]
        events += [("tick", DAY_S + 3_600 * 3 * h, 0.25) for h in range(72)]
        end = 10 * DAY_S
        events += [("X", end - 3_600, 0.95), ("Y", end - 3_000, 0.5), ("after", end, 0.01)]
        rows = self._stream(events)
        model_threshold = 0.2
        rows = rows.with_columns(
            alert=pl.col("score") >= self.POLICY.scoring_threshold(model_threshold)
        )
        result, figures = apply_policy(rows, self.POLICY, model_threshold)
        x = result.filter(pl.col("subject_key") == "X").row(0, named=True)
        assert x["alert"]
        assert x["opened_for"] == end - 3_000  # the latest held report's event time
        last_version = figures["threshold_versions"]["US-FI-0001"]
        assert x["threshold_version"] == last_version
        # Nothing held after the last version: one more pass would pick nothing more.
        assert not result.filter(pl.col("subject_key") == "after")["alert"].item()

    @pytest.mark.parametrize("seed", [7, 8])
    def test_each_window_holds_no_more_than_its_allowance(self, seed):
        model_threshold = 0.5
        stream = _turnover_stream(seed)
        rows = stream.with_columns(
            alert=(pl.col("score") >= self.POLICY.scoring_threshold(model_threshold))
            | (pl.col("rules").list.len() > 0)
        )
        result, figures = apply_policy(rows, self.POLICY, model_threshold)
        assert figures["episodes"] > 100
        # An alert spends the budget from the event time it opened at.
        openers = result.filter(pl.col("opened_for").is_not_null()).select(
            "institution_id", pl.col("opened_for").alias("t"), "rules"
        )
        excesses = _window_excesses(stream, openers, self.POLICY)
        assert len(excesses) > 100
        # Within one alert of the allowance in every 14-day window (the budget's windows end at
        # its recomputes, these at midnight), and within it in the typical one.
        assert max(excesses) <= 1
        assert float(np.median(excesses)) <= 0
