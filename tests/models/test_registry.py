"""Artefacts: skops + model card, verified before loading; nothing else is accepted."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from amlscreen.synthetic import synthetic_dataset
from models.registry import (
    TRUSTED_TYPES,
    ModelArtefactError,
    card_path,
    load_bundle,
    save_bundle,
    verify,
)
from models.train import TrainConfig, train

TINY = TrainConfig(
    seed=31,
    n_reports=20_000,
    days=20,
    laundering_share=0.08,
    max_iter=25,
    calibration_folds=2,
    negative_share=0.5,
    typer_max_iter=10,
)


@functools.cache
def tiny_model() -> Path:
    """A small model trained from the generator in seconds, once per test process."""
    path = Path(tempfile.mkdtemp(prefix="amlscreen-tiny-model-")) / "model.skops"
    dataset = synthetic_dataset(
        TINY.seed,
        TINY.n_reports,
        start=TINY.start,
        days=TINY.days,
        laundering_share=TINY.laundering_share,
    )
    train(TINY, path, dataset=dataset)
    return path


@pytest.fixture(scope="module")
def artefact() -> Path:
    return tiny_model()


@pytest.fixture
def copy(artefact: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model.skops"
    shutil.copy(artefact, target)
    shutil.copy(card_path(artefact), card_path(target))
    return target


def edit_card(path: Path, **changes: object) -> None:
    card = json.loads(card_path(path).read_text())
    for dotted, value in changes.items():
        node = card
        *parents, leaf = dotted.split("__")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    card_path(path).write_text(json.dumps(card))


class TestCard:
    def test_the_card_describes_the_model(self, artefact):
        card = json.loads(card_path(artefact).read_text())
        assert card["model_version"].startswith("amlscreen-hgb-")
        assert card["training"]["seed"] == TINY.seed
        assert card["training"]["n_reports"] == TINY.n_reports
        assert card["library_versions"]["scikit-learn"]
        assert len(card["artefact"]["sha256"]) == 64
        assert card["features"]
        assert card["feature_digest"]
        assert 0 < card["threshold"] < 1
        assert card["metrics"]["validation"]["validation_reports"] > 0
        assert set(card["reference"]) == set(card["features"])

    def test_a_verified_artefact_loads(self, artefact):
        bundle = load_bundle(artefact)
        assert bundle.version == json.loads(card_path(artefact).read_text())["model_version"]
        assert hasattr(bundle.pipeline, "predict_proba")


class TestRefusals:
    def test_a_changed_file(self, copy):
        with copy.open("ab") as handle:
            handle.write(b"\0")
        with pytest.raises(ModelArtefactError, match="sha256"):
            load_bundle(copy)

    def test_another_feature_list(self, copy):
        card = json.loads(card_path(copy).read_text())
        edit_card(copy, features=card["features"][:-1])
        with pytest.raises(ModelArtefactError, match="other features"):
            load_bundle(copy)

    def test_another_scikit_learn_release(self, copy):
        edit_card(copy, **{"library_versions__scikit-learn": "0.24.2"})
        with pytest.raises(ModelArtefactError, match="scikit-learn 0.24.2"):
            load_bundle(copy)

    def test_a_missing_card(self, copy):
        card_path(copy).unlink()
        with pytest.raises(ModelArtefactError, match="card"):
            load_bundle(copy)

    def test_an_untrusted_type_is_never_loaded(self, tmp_path):
        hostile = tmp_path / "model.skops"
        sio.dump(FunctionTransformer(func=shutil.rmtree), hostile)
        with pytest.raises(ModelArtefactError, match="TRUSTED_TYPES"):
            save_bundle(FunctionTransformer(func=shutil.rmtree), tmp_path / "m2.skops", {})
        # Even with a card whose hash matches, the foreign types refuse the file.
        from models.registry import sha256_file  # noqa: PLC0415

        card = {
            "format": "amlscreen-model-card/1",
            "artefact": {"sha256": sha256_file(hostile)},
        }
        from models.features import FEATURE_COLUMNS, feature_digest  # noqa: PLC0415
        from models.registry import library_versions  # noqa: PLC0415

        card |= {
            "features": list(FEATURE_COLUMNS),
            "feature_digest": feature_digest(),
            "library_versions": library_versions(),
        }
        card_path(hostile).write_text(json.dumps(card))
        with pytest.raises(ModelArtefactError, match="not trusted"):
            verify(hostile)

    def test_the_trusted_list_is_explicit(self):
        assert all("." in name for name in TRUSTED_TYPES)
        assert "builtins.eval" not in TRUSTED_TYPES
