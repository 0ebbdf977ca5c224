"""Synthetic datasets from simulator worlds, and the default model of ``amlscreen up``."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from amlscreen import synthetic
from amlscreen.cli import main
from amlscreen.synthetic import (
    ensure_default_model,
    join_datasets,
    synthetic_dataset,
    training_world_seeds,
    worlds_dataset,
)
from models.pipeline import NEGATIVE_LABEL
from models.registry import ModelArtefactError, card_path
from models.train import TrainConfig, config_record
from tests.models.test_registry import tiny_model

START = datetime(2026, 2, 2, tzinfo=UTC)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    artefact = tiny_model()
    target = tmp_path / "model.skops"
    shutil.copy(artefact, target)
    shutil.copy(card_path(artefact), card_path(target))
    return target


class TestDatasets:
    def test_worlds_are_joined_in_order_and_recorded(self):
        dataset = worlds_dataset([3, 4], 4_000, start=START, days=10, laundering_share=0.1)
        features = dataset.features
        assert features.height == len(dataset.labels) == len(dataset.case_ids) == 8_000
        # Each world keeps its own arrival order; the second world comes after the first.
        assert features["seq"].n_unique() == 8_000
        assert dataset.description["world_seeds"] == [3, 4]
        assert [w["seed"] for w in dataset.description["worlds"]] == [3, 4]
        positives = sum(label != NEGATIVE_LABEL for label in dataset.labels)
        assert dataset.description["positives"] == positives > 0
        assert training_world_seeds({"training": dataset.description}) == [3, 4]

    def test_a_drawn_world_differs_from_the_default_one(self):
        default = synthetic_dataset(8, 3_000, start=START, days=10)
        drawn = worlds_dataset([8], 3_000, start=START, days=10)
        assert "world_seeds" not in default.description
        assert training_world_seeds({"training": default.description}) == []
        assert not default.features["report_id"].equals(drawn.features["report_id"])

    def test_more_lookalikes_change_only_the_legitimate_episodes(self):
        plain = worlds_dataset([5], 3_000, start=START, days=20)
        hard = worlds_dataset([5], 3_000, start=START, days=20, lookalike_scale=8.0)
        assert plain.description["lookalike_scale"] == 1.0
        assert hard.description["lookalike_scale"] == 8.0
        # The episodes added are legitimate: the laundering cases are the same ones.
        assert sorted({c for c in hard.case_ids if c}) == sorted({c for c in plain.case_ids if c})
        assert hard.features.height != plain.features.height or not hard.features[
            "report_id"
        ].equals(plain.features["report_id"])
        with pytest.raises(ValueError, match="lookalike_scale"):
            worlds_dataset([5], 1_000, start=START, days=5, lookalike_scale=-1.0)

    def test_join_offsets_sequences(self):
        one = synthetic_dataset(1, 1_000, start=START, days=5)
        joined = join_datasets([one, one], {"source": "test"})
        seq = joined.features["seq"].to_list()
        assert seq[:1_000] == one.features["seq"].to_list()
        assert min(seq[1_000:]) > max(seq[:1_000])
        assert joined.description["positives"] == 2 * one.description["positives"]


class TestDefaultModel:
    def test_an_existing_verified_model_is_kept(self, copy):
        before = copy.stat().st_mtime_ns
        ensure_default_model(copy)
        assert copy.stat().st_mtime_ns == before

    @staticmethod
    def _as_default(path: Path, config: TrainConfig) -> None:
        """Marks the copy as an auto-trained default of ``config``'s recipe (card only)."""
        card = json.loads(card_path(path).read_text())
        card["training"]["default"] = True
        card["params"]["train_config"] = config_record(config)
        card_path(path).write_text(json.dumps(card))

    def test_a_default_of_an_older_recipe_is_retrained(self, copy, monkeypatch):
        self._as_default(copy, replace(TrainConfig.small(), min_samples_leaf=40))
        trained: list[TrainConfig] = []
        monkeypatch.setattr(synthetic, "default_model_dataset", lambda config: None)
        monkeypatch.setattr(
            synthetic, "train", lambda config, path, dataset: trained.append(config)
        )
        ensure_default_model(copy)
        assert trained == [TrainConfig.small()]

    def test_a_default_of_the_current_recipe_is_kept(self, copy, monkeypatch):
        self._as_default(copy, TrainConfig.small())
        monkeypatch.setattr(synthetic, "train", lambda *_, **__: pytest.fail("retrained"))
        before = copy.stat().st_mtime_ns
        ensure_default_model(copy)
        assert copy.stat().st_mtime_ns == before

    def test_someone_elses_broken_model_is_not_replaced(self, copy):
        with copy.open("ab") as handle:
            handle.write(b"\0")
        with pytest.raises(ModelArtefactError):
            ensure_default_model(copy)


class _Drawn(Exception):
    """Raised by the stand-in dataset builder: what matters is what it was asked for."""


class TestDomainRandomisationByDefault:
    @staticmethod
    def _record(monkeypatch) -> dict:
        asked: dict = {}

        def fake(seeds, reports_per_world, **_):
            asked.update(seeds=list(seeds), reports=reports_per_world)
            raise _Drawn

        monkeypatch.setattr(synthetic, "worlds_dataset", fake)
        return asked

    def test_train_without_data_draws_many_worlds(self, monkeypatch, tmp_path):
        asked = self._record(monkeypatch)
        with pytest.raises(_Drawn):
            main(["train", "--out", str(tmp_path / "m.skops")])
        assert asked == {"seeds": list(range(1, 25)), "reports": 40_000}

    def test_the_up_default_model_draws_worlds(self, monkeypatch, tmp_path):
        asked = self._record(monkeypatch)
        with pytest.raises(_Drawn):
            ensure_default_model(tmp_path / "model.skops")
        assert asked["seeds"] == list(range(1, 1 + synthetic.DEFAULT_MODEL_WORLDS))
        assert asked["reports"] * len(asked["seeds"]) == TrainConfig.small().n_reports
