"""Model artefacts: a skops file plus a model card, checked before anything is loaded.

``model.skops`` holds the fitted pipeline; ``model.card.json`` (beside it) says how it was
made: training data and seed, parameters, feature list, metrics, threshold, library versions
and the artefact's sha256. :func:`load_bundle` refuses, with :class:`ModelArtefactError`,
an artefact whose hash, feature list or scikit-learn feature release (``major.minor``: the
unit within which scikit-learn keeps estimators loadable) differs from the card and the
running code, and any artefact holding a type outside :data:`TRUSTED_TYPES`. Nothing is ever
unpickled: skops rebuilds objects from a schema and an explicit list of trusted types.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sklearn
import skops
import skops.io as sio

from models.features import FEATURE_COLUMNS, feature_digest

CARD_FORMAT = "amlscreen-model-card/1"

# Every type a detection artefact may contain beyond skops' own defaults. A file naming any
# other type is refused before loading.
TRUSTED_TYPES: tuple[str, ...] = (
    "models.pipeline.FitAverage",
    "models.pipeline.MissingSafeBooster",
    "models.pipeline.PeerRatio",
    "models.pipeline.SeedAveragedClassifier",
    "models.pipeline.TwoStageClassifier",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.utils._bunch.Bunch",
    "collections.OrderedDict",
    "builtins.slice",
)


class ModelArtefactError(Exception):
    """The artefact cannot be used: missing, tampered with, or built for other code."""


@dataclass(frozen=True)
class ModelBundle:
    """A loaded, verified model: the pipeline and its card."""

    pipeline: Any
    card: dict[str, Any]
    path: Path

    @property
    def version(self) -> str:
        return str(self.card["model_version"])

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"])

    @property
    def reference(self) -> dict[str, float]:
        """Typical (median) legitimate value of each feature, for explanations."""
        return {k: float(v) for k, v in self.card.get("reference", {}).items()}


def card_path(artefact: Path) -> Path:
    """``.../model.skops`` → ``.../model.card.json``."""
    return artefact.with_name(artefact.name.removesuffix(".skops") + ".card.json")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "polars": pl.__version__,
        "numpy": np.__version__,
        "skops": skops.__version__,
    }


def _feature_release(version: str) -> str:
    return ".".join(version.split(".")[:2])


def save_bundle(pipeline: Any, path: Path, card: dict[str, Any]) -> ModelBundle:
    """Writes the artefact (skops) and its card; returns the bundle as it will load."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    sio.dump(pipeline, temporary)
    untrusted = [
        kind for kind in sio.get_untrusted_types(file=temporary) if kind not in TRUSTED_TYPES
    ]
    if untrusted:
        temporary.unlink()
        raise ModelArtefactError(
            "the pipeline holds types outside models.registry.TRUSTED_TYPES: "
            + ", ".join(sorted(untrusted))
        )
    sha = sha256_file(temporary)
    full = {
        "format": CARD_FORMAT,
        "model_version": f"amlscreen-hgb-{sha[:12]}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **card,
        "features": list(FEATURE_COLUMNS),
        "feature_digest": feature_digest(),
        "library_versions": library_versions(),
        "artefact": {"file": path.name, "sha256": sha, "bytes": temporary.stat().st_size},
    }
    card_file = card_path(path)
    card_tmp = card_file.with_name(card_file.name + ".tmp")
    card_tmp.write_text(json.dumps(full, indent=2, sort_keys=True, default=_json_default))
    temporary.replace(path)
    card_tmp.replace(card_file)
    return ModelBundle(pipeline, full, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to a model card")


def read_card(path: Path) -> dict[str, Any]:
    """The card of an artefact, checked for format only."""
    card_file = card_path(path)
    if not path.is_file():
        raise ModelArtefactError(f"no model artefact at {path}")
    if not card_file.is_file():
        raise ModelArtefactError(f"model card {card_file} is missing; refusing {path}")
    try:
        card: dict[str, Any] = json.loads(card_file.read_text())
    except json.JSONDecodeError as error:
        raise ModelArtefactError(f"model card {card_file} is not valid JSON: {error}") from None
    if card.get("format") != CARD_FORMAT:
        raise ModelArtefactError(
            f"model card {card_file} has format {card.get('format')!r}, expected {CARD_FORMAT!r}"
        )
    return card


def verify(path: Path) -> dict[str, Any]:
    """Checks an artefact against its card and the running code; returns the card."""
    card = read_card(path)
    expected = card.get("artefact", {}).get("sha256")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelArtefactError(
            f"model artefact {path} has sha256 {actual}, its card says {expected}:"
            " the file was changed or replaced"
        )
    features = list(card.get("features", []))
    if features != list(FEATURE_COLUMNS) or card.get("feature_digest") != feature_digest():
        missing = sorted(set(FEATURE_COLUMNS) - set(features))
        extra = sorted(set(features) - set(FEATURE_COLUMNS))
        raise ModelArtefactError(
            f"model {card.get('model_version')} was trained on other features than this code"
            f" computes (missing from the model: {missing[:5]}, unknown here: {extra[:5]},"
            " or a different feature configuration); retrain with `amlscreen train`"
        )
    trained = card.get("library_versions", {}).get("scikit-learn", "?")
    if _feature_release(trained) != _feature_release(sklearn.__version__):
        raise ModelArtefactError(
            f"model {card.get('model_version')} was saved with scikit-learn {trained}; this is"
            f" {sklearn.__version__}. Estimators are only loadable within one release line:"
            " retrain with `amlscreen train`"
        )
    untrusted = sorted(
        kind for kind in sio.get_untrusted_types(file=path) if kind not in TRUSTED_TYPES
    )
    if untrusted:
        raise ModelArtefactError(
            f"model artefact {path} holds types that are not trusted: {', '.join(untrusted)}"
        )
    return card


def load_bundle(path: Path) -> ModelBundle:
    """Verifies then loads an artefact with skops and the explicit trusted-type list."""
    card = verify(path)
    try:
        pipeline = sio.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as error:  # skops raises several types for a corrupt or foreign file
        raise ModelArtefactError(f"model artefact {path} could not be loaded: {error}") from error
    return ModelBundle(pipeline, card, path)
