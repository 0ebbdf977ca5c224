"""``amlscreen score`` applies the worker's alert policy: episodes and the alert budget."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from amlscreen.backtest import score_reports
from amlscreen.evaluation import champion_challenger, render_champion_challenger
from models.registry import ModelBundle, load_bundle
from models.scoring import Scorer, score_file
from services.alerts.policy import AlertPolicy
from simulator.generate import GeneratorConfig, generate
from tests.models.test_registry import tiny_model


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
