"""``amlscreen evaluate``: the held-out stream, and the shifted-world harness end to end."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

import amlscreen.evaluation as evaluation
from amlscreen.cli import main
from amlscreen.evaluation import (
    WorldOverlapError,
    WorldsConfig,
    evaluate_model_on_worlds,
    evaluate_worlds,
    held_out,
    write_world,
)
from models.evaluate import EvaluationConfig, SeedReuseError, render, render_worlds
from models.registry import load_bundle
from models.scoring import Scorer
from services.alerts.policy import AlertPolicy
from services.config import Settings
from simulator.generate import GeneratorConfig
from simulator.world import World
from tests.models.test_registry import TINY, tiny_model

# Two small training worlds, two evaluation worlds and a short one: well under a minute.
TRAIN_SEEDS = (1, 2)
SMALL = WorldsConfig(
    worlds=2, first_seed=900, reports_per_world=12_000, days=20, cold_start_days=10,
    short_world_days=10, laundering_share=0.05,
)  # fmt: skip


# A small, fast model: the harness is under test here, not the detector.
SMALL_TRAINING = replace(TINY, days=20, laundering_share=0.06, max_iter=10, typer_max_iter=5)


@cache
def harness_run() -> tuple[Path, dict[str, Any], list[Path]]:
    """Trains on two worlds and evaluates two more and a short one, once per test process.

    Returns the model, the result, and the files ``score_reports`` was called on.
    """
    path = Path(tempfile.mkdtemp(prefix="amlscreen-worlds-model-")) / "model.skops"
    scored: list[Path] = []
    real = evaluation.score_reports

    def spy(source: Path, target: Path, *args: Any, **kwargs: Any) -> dict[str, Any]:
        scored.append(source)
        return real(source, target, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation, "score_reports", spy)
        result = evaluate_model_on_worlds(
            SMALL,
            model=path,
            train_worlds=len(TRAIN_SEEDS),
            train_first_seed=TRAIN_SEEDS[0],
            train_reports=20_000,
            train_config=SMALL_TRAINING,
        )
    return path, result, scored


def worlds_model() -> Path:
    return harness_run()[0]


class TestHeldOut:
    def test_refuses_the_training_seed(self):
        scorer = Scorer(load_bundle(tiny_model()))
        with pytest.raises(SeedReuseError):
            held_out(scorer, EvaluationConfig(seed=TINY.seed, n_reports=100))

    def test_reports_every_figure(self):
        scorer = Scorer(load_bundle(tiny_model()))
        config = EvaluationConfig(seed=5, n_reports=6_000, days=15, laundering_share=0.08)
        result = held_out(scorer, config)
        model, rules = result["model"], result["rules_only"]
        assert 0 <= model["pr_auc"] <= 1
        assert 0 <= rules["pr_auc"] <= 1
        assert model["false_positive_share"] == pytest.approx(1 - model["precision"])
        assert result["model_at_rules_volume"]["alerts"] == rules["alerts"]
        assert result["budget"]["alerts"] == 60
        assert set(model["per_typology"]) == set(rules["per_typology"])
        assert np.isfinite(model["report_recall"])
        assert "rules only" in render(result)


class TestWorlds:
    def test_the_card_records_the_training_worlds(self):
        card = load_bundle(worlds_model()).card
        assert card["training"]["world_seeds"] == list(TRAIN_SEEDS)
        assert [world["seed"] for world in card["training"]["worlds"]] == list(TRAIN_SEEDS)

    def test_end_to_end_through_amlscreen_score(self):
        _, result, scored = harness_run()
        # Two worlds and the short one, each scored by the function `amlscreen score` runs.
        assert [path.name for path in scored] == [f"world-{n}.jsonl" for n in (900, 901, 902)]
        assert result["model"]["training_world_seeds"] == list(TRAIN_SEEDS)
        assert [w["seed"] for w in result["worlds"]] == [900, 901]
        assert result["short_world"]["seed"] == 902
        assert result["short_world"]["days"] == 10
        for world in result["worlds"]:
            everything, cold, warm = world["all"], world["cold"], world["warm"]
            assert everything["reports"] == 12_000 == cold["reports"] + warm["reports"]
            assert cold["reports"] > 0
            assert warm["reports"] > 0
            assert everything["laundering_subjects"] > 0
            for key in ("pr_auc", "subject_precision", "subject_recall", "alerted_subject_share"):
                assert 0 <= everything[key] <= 1, key
            assert everything["per_typology_subject_recall"]
        short = result["short_world"]["all"]
        assert short["reports"] == 6_000
        summary = result["summary"]["all"]
        assert summary["pr_auc"]["worlds"] == 2
        recalls = [w["all"]["subject_recall"] for w in result["worlds"]]
        assert summary["subject_recall"]["worst"] == min(recalls)
        text = render_worlds(result)
        assert "world-900" in text
        assert "world-901" in text
        assert "short world" in text
        json.dumps(result)

    def test_same_alerts_as_amlscreen_score_on_that_world(self, tmp_path):
        """The harness's alert count of a world equals `amlscreen score` on the same file,
        under the service's default alert policy (a budget) and without a budget."""
        model = worlds_model()
        config = replace(SMALL, worlds=1, short_world_days=0)
        default_policy = AlertPolicy.from_settings(Settings())
        assert default_policy.budgeted
        budgeted = evaluate_worlds(load_bundle(model), config, policy=default_policy)
        unbudgeted = evaluate_worlds(load_bundle(model), config)
        world = GeneratorConfig(
            seed=900,
            n_reports=config.reports_per_world,
            start=config.start,
            days=config.days,
            laundering_share=config.laundering_share,
            world=World.draw(900),
        )
        source, target = tmp_path / "w.jsonl", tmp_path / "scored.jsonl"
        write_world(world, source)
        for options, result in (([], budgeted), (["--no-budget"], unbudgeted)):
            assert main(["score", str(source), str(target), "--model", str(model), *options]) == 0
            lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
            assert sum(line["alert"] for line in lines) == result["worlds"][0]["all"]["alerts"]
        assert budgeted["worlds"][0]["all"]["alerts"] < unbudgeted["worlds"][0]["all"]["alerts"]

    def test_refuses_worlds_it_was_trained_on(self, capsys):
        bundle = load_bundle(worlds_model())
        with pytest.raises(WorldOverlapError):
            evaluate_worlds(bundle, replace(SMALL, first_seed=2))
        args = ["evaluate", "--worlds", "2", "--world-seed", "1", "--model", str(worlds_model())]
        assert main(args) == 2
        assert "training worlds" in capsys.readouterr().err

    def test_command_line(self, tmp_path, capsys):
        out = tmp_path / "worlds.json"
        args = [
            "evaluate", "--worlds", "1", "--world-seed", "950", "--reports-per-world", "6000",
            "--days", "10", "--cold-start-days", "5", "--short-world-days", "0",
            "--model", str(worlds_model()), "--json", str(out),
        ]  # fmt: skip
        assert main(args) == 0
        captured = capsys.readouterr()
        assert "world-950" in captured.out
        assert "median" in captured.out
        assert "acceptance figures need 10" in captured.err
        result = json.loads(out.read_text())
        assert result["worlds"][0]["all"]["reports"] == 6_000
        assert result["short_world"] is None
        assert main(["evaluate", "--worlds", "3", "--seed", "4"]) == 2
