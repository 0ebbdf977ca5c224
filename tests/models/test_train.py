"""Training on a user's own labelled data: missing fields, and too few labels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from amlscreen.cli import main
from amlscreen.synthetic import synthetic_dataset
from models.features import FEATURE_COLUMNS
from models.pipeline import FitAverage, MissingSafeBooster
from models.registry import load_bundle
from models.scoring import Scorer
from models.train import InsufficientLabelsError, labelled_dataset, train
from simulator.generate import GeneratorConfig, generate
from tests.models.test_registry import TINY


def _write_population(folder: Path, *, laundering_share: float, strip: bool) -> tuple[Path, Path]:
    """A generated labelled population as a user would hand it over (no ``account_opened``
    when ``strip``: the feature derived from it is then missing on every report)."""
    config = GeneratorConfig(
        seed=TINY.seed,
        n_reports=12_000,
        start=TINY.start,
        days=20,
        laundering_share=laundering_share,
    )
    data, labels = folder / "reports.jsonl", folder / "labels.jsonl"
    with data.open("wb") as reports, labels.open("wb") as label_lines:
        for item in generate(config):
            document: dict[str, Any] = item.report
            if strip and document.get("transaction"):
                document["transaction"].pop("account_opened", None)
            reports.write(orjson.dumps(document) + b"\n")
            label = {
                "institution_id": document["institution_id"],
                "report_id": document["report_id"],
                "typology": item.typology,
            }
            label_lines.write(orjson.dumps(label) + b"\n")
    return data, labels


class TestMissingColumns:
    def test_a_column_missing_everywhere_no_longer_breaks_the_booster(self):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(400, 3))  # noqa: N806
        y = (X[:, 0] + rng.normal(scale=0.5, size=400) > 1).astype(int)
        X[:, 1] = np.nan
        with pytest.raises(ValueError, match="window shape"):
            HistGradientBoostingClassifier(max_iter=5).fit(X, y)
        booster = MissingSafeBooster(max_iter=5, random_state=0).fit(X, y)
        without = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X[:, [0, 2]], y)
        # The empty column is never split on: same predictions as without it.
        np.testing.assert_allclose(
            booster.predict_proba(X), without.predict_proba(X[:, [0, 2]]), rtol=1e-12
        )

    def test_a_population_without_account_opening_dates_trains(self, tmp_path):
        data, labels = _write_population(tmp_path, laundering_share=0.08, strip=True)
        dataset = labelled_dataset(data, labels)
        assert dataset.features["account_age_days"].null_count() == dataset.features.height
        out = tmp_path / "model.skops"
        train(replace(TINY, source="labelled"), out, dataset=dataset)
        assert load_bundle(out).card["metrics"]["validation"]["validation_positives"] > 0


class TestTooFewLabels:
    def test_the_error_says_what_is_short_and_how_many_are_needed(self, tmp_path):
        data, labels = _write_population(tmp_path, laundering_share=0.08, strip=False)
        dataset = labelled_dataset(data, labels)
        strict = replace(TINY, min_fit_positives=100_000, min_positive_subjects=10_000)
        with pytest.raises(InsufficientLabelsError) as caught:
            train(strict, tmp_path / "m.skops", dataset=dataset)
        message = str(caught.value)
        assert "at least 100,000 needed" in message
        assert "distinct laundering subjects, at least 10,000 needed" in message
        assert "validation part" not in message  # enough of those
        assert not (tmp_path / "m.skops").exists()

    def test_the_command_refuses_with_the_counts(self, tmp_path, capsys):
        data, labels = _write_population(tmp_path, laundering_share=0.08, strip=False)
        # Keep the labels of one laundering subject's first reports only.
        kept: list[bytes] = []
        positives = 0
        for line in labels.read_bytes().splitlines():
            row = orjson.loads(line)
            if row["typology"] is not None:
                positives += 1
                if positives > 3:
                    row["typology"] = None
            kept.append(orjson.dumps(row))
        labels.write_bytes(b"\n".join(kept) + b"\n")
        code = main(
            ["train", "--data", str(data), "--labels", str(labels), "--out", str(tmp_path / "m")]
        )
        assert code == 2
        error = capsys.readouterr().err
        assert "too few labels to train a model: 3 laundering reports in the fit part" in error
        assert "at least 30 needed" in error


@pytest.fixture(scope="module")
def dataset() -> Any:
    return synthetic_dataset(
        TINY.seed,
        TINY.n_reports,
        start=TINY.start,
        days=TINY.days,
        laundering_share=TINY.laundering_share,
    )


class TestSeveralFits:
    """``TrainConfig.fits``: complete fits with seeds ``seed + i``, averaged into one artefact."""

    def test_the_artefact_averages_fits_that_each_match_a_single_fit(self, dataset, tmp_path):
        averaged = train(replace(TINY, fits=2), tmp_path / "two.skops", dataset=dataset)
        first = train(TINY, tmp_path / "first.skops", dataset=dataset)
        second = train(
            replace(TINY, seed=TINY.seed + 1), tmp_path / "second.skops", dataset=dataset
        )
        loaded = load_bundle(tmp_path / "two.skops")  # every type in it is trusted
        model = loaded.pipeline[-1]
        assert isinstance(model, FitAverage)
        assert len(model.members) == 2
        assert loaded.card["training"]["fits"] == 2
        assert len(loaded.card["training"]["fit_sampled_per_fit"]) == 2
        rows = dataset.features.select(FEATURE_COLUMNS)
        scores = {
            name: Scorer(bundle).laundering_scores(rows)
            for name, bundle in (("two", loaded), ("first", first), ("second", second))
        }
        # Fit i is the single fit with seed + i, so the artefact is their mean, exactly.
        np.testing.assert_allclose(
            scores["two"], (scores["first"] + scores["second"]) / 2, rtol=0, atol=1e-12
        )
        assert not np.allclose(scores["first"], scores["second"])
        assert averaged.card["threshold"] != first.card["threshold"]

    def test_a_scorer_types_and_explains_with_the_average(self, dataset, tmp_path):
        bundle = train(replace(TINY, fits=2), tmp_path / "two.skops", dataset=dataset)
        scorer = Scorer(bundle, threshold=0.0)
        batch = scorer.score(dataset.features.head(50))
        assert batch.alerts.all()
        assert all(typology is not None for typology in batch.typologies)
        assert all(reasons for reasons in batch.reasons)

    def test_zero_fits_is_refused(self, dataset, tmp_path):
        with pytest.raises(ValueError, match="fits must be at least 1"):
            train(replace(TINY, fits=0), tmp_path / "none.skops", dataset=dataset)
        assert not (tmp_path / "none.skops").exists()

    def test_the_command_refuses_zero_fits_before_reading_anything(self, tmp_path, capsys):
        with pytest.raises(SystemExit) as caught:
            main(["train", "--fits", "0", "--out", str(tmp_path / "m.skops")])
        assert caught.value.code == 2
        assert "--fits: must be at least 1, got 0" in capsys.readouterr().err
        assert not (tmp_path / "m.skops").exists()
