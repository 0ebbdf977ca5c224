"""Training: labelled wire documents → features → pipeline → artefact + card.

``amlscreen train`` calls :func:`train` with a :class:`Dataset` built from documents
(:func:`dataset_from_documents`): a labelled JSONL file, or synthetic worlds drawn by the
composition layer (``amlscreen.synthetic``; this package never imports the simulator).

Split and sampling. The last ``validation_share`` of the stream (by arrival) is held out to
choose the alert threshold and report validation metrics; the model is fitted on the rest.
Legitimate reports are subsampled (``negative_share``) with weights ``1 / negative_share`` so
that probabilities stay calibrated while fitting takes a fraction of the time.

Threshold. The default alert threshold maximises F2 on the validation part (recall weighs
four times precision: a missed scheme costs more than an alert an investigator closes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import polars as pl
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.pipeline import Pipeline

from models.features import (
    FEATURE_COLUMNS,
    build_features,
    encode,
    feature_config,
    flatten,
    with_keys,
)
from models.pipeline import NEGATIVE_LABEL, FitAverage, make_pipeline
from models.registry import ModelBundle, save_bundle

log = logging.getLogger(__name__)

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
DEFAULT_TRAINING_SEED = 20_260_105
# `amlscreen train` without data: domain randomisation over drawn worlds 1..24, 40k reports
# each (the composition layer, amlscreen.synthetic, draws them).
DEFAULT_TRAINING_WORLDS = 24
DEFAULT_REPORTS_PER_TRAINING_WORLD = 40_000


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the synthetic fields apply when no labelled data is given."""

    seed: int = DEFAULT_TRAINING_SEED
    n_reports: int = 1_000_000
    start: datetime = DEFAULT_START
    days: int = 60
    laundering_share: float = 0.02
    validation_share: float = 0.2
    negative_share: float = 0.3
    max_iter: int = 300
    learning_rate: float = 0.1
    calibration_folds: int = 3
    calibration: str = "isotonic"
    typer_max_iter: int = 150
    # The detector's booster (models.pipeline.make_pipeline): early stopping on a 10 % split,
    # the share of features each split may use, and how many boosters of different seeds the
    # detector averages.
    early_stopping: bool = True
    max_features: float = 1.0
    boosters: int = 1
    # The detector's trees: leaves per tree, rows per leaf, the leaves' L2 penalty.
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    # Complete fits averaged into the model (models.pipeline.FitAverage): fit i draws its own
    # negative subsample and seeds from ``seed + i``. One fit's out-of-domain ranking depends
    # on its seed; the mean of several is steadier (docs/detection.md, "Wider still").
    fits: int = 1
    beta: float = 2.0
    source: str = "synthetic"
    # The fewest labels a model is trained from (check_labels): the calibration folds need
    # positives in each fold, the threshold needs positives in the validation part, and a
    # detector learnt from one or two schemes learns those schemes, not laundering.
    min_fit_positives: int = 30
    min_validation_positives: int = 5
    min_positive_subjects: int = 5
    min_negatives: int = 500

    @classmethod
    def small(cls) -> TrainConfig:
        """The default model of ``amlscreen up``: three fits averaged, minutes to train."""
        # Leaves of at least 500 rows with a stronger L2 penalty: the simpler trees rank
        # populations the model never saw clearly better (docs/detection.md, "Simpler trees").
        return cls(
            n_reports=150_000,
            max_iter=150,
            negative_share=0.25,
            fits=3,
            min_samples_leaf=500,
            l2_regularization=10.0,
            source="default",
        )


def config_record(config: TrainConfig) -> dict[str, Any]:
    """``config`` as the model card records it (``params.train_config``)."""
    return {
        key: (value.isoformat() if isinstance(value, datetime) else value)
        for key, value in asdict(config).items()
    }


@dataclass
class Dataset:
    """Features of a history with a label per report (``NEGATIVE_LABEL`` or a typology)."""

    features: pl.DataFrame
    labels: list[str]
    case_ids: list[str | None]
    description: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.labels) != self.features.height:
            raise ValueError("one label per feature row is needed")


def dataset_from_documents(
    documents: list[dict[str, Any]],
    labels: list[str],
    cases: list[str | None],
    description: dict[str, Any],
) -> Dataset:
    """Featurises one history of wire documents (arrival order) exactly as the worker would.

    ``labels`` holds a typology or ``NEGATIVE_LABEL`` per document.
    """
    compact = with_keys(encode(flatten(documents))).collect()
    del documents
    features = build_features(compact)
    description = {
        **description,
        "positives": sum(label != NEGATIVE_LABEL for label in labels),
        "typologies": _counts(label for label in labels if label != NEGATIVE_LABEL),
    }
    return Dataset(features, labels, cases, description)


def _counts(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return dict(sorted(counts.items()))


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


def labelled_dataset(reports: Path, labels: Path) -> Dataset:
    """Reports JSONL (wire format) plus a labels JSONL keyed by institution and report id.

    Each label line is ``{"institution_id", "report_id", "typology"}`` (``typology`` null for
    legitimate reports), as ``amlscreen simulate`` writes; reports without a label line are
    taken as legitimate.
    """
    by_key: dict[tuple[str, str], str | None] = {}
    cases: dict[tuple[str, str], str | None] = {}
    for line in _jsonl(labels):
        key = (str(line["institution_id"]), str(line["report_id"]))
        by_key[key] = line.get("typology")
        cases[key] = line.get("case_id")
    documents = list(_jsonl(reports))
    keys = [(str(doc["institution_id"]), str(doc["report_id"])) for doc in documents]
    return dataset_from_documents(
        documents,
        [by_key.get(key) or NEGATIVE_LABEL for key in keys],
        [cases.get(key) for key in keys],
        {"source": "labelled JSONL", "reports": str(reports), "labels": str(labels)},
    )


def add_dispositions(dataset: Dataset, extra: Dataset, weight: float = 5.0) -> Dataset:
    """Appends investigator-labelled reports (filed → their typology, closed FP → legit)."""
    offset = int(dataset.features["seq"].max() or 0) + 1  # type: ignore[arg-type]
    features = pl.concat(
        [dataset.features, extra.features.with_columns(pl.col("seq") + offset)], how="vertical"
    )
    description = {
        **dataset.description,
        "dispositions": {**extra.description, "weight": weight, "reports": extra.features.height},
    }
    return Dataset(
        features,
        [*dataset.labels, *extra.labels],
        [*dataset.case_ids, *extra.case_ids],
        description,
    )


class InsufficientLabelsError(ValueError):
    """The labelled data has too few examples of a class to train and validate a model."""


def check_labels(
    config: TrainConfig,
    labels: npt.NDArray[np.str_],
    subjects: Sequence[str | None],
    fit_rows: npt.NDArray[np.int64],
    valid_rows: npt.NDArray[np.int64],
) -> None:
    """Raises :class:`InsufficientLabelsError` saying which counts are short and how many are
    needed, before any fitting starts."""
    positive = labels != NEGATIVE_LABEL
    found = {
        "laundering reports in the fit part (the first "
        f"{1 - config.validation_share:.0%} by arrival)": (
            int(positive[fit_rows].sum()),
            config.min_fit_positives,
        ),
        "laundering reports in the validation part (the last "
        f"{config.validation_share:.0%} by arrival)": (
            int(positive[valid_rows].sum()),
            config.min_validation_positives,
        ),
        "distinct laundering subjects": (
            len({subjects[int(i)] for i in np.flatnonzero(positive)}),
            config.min_positive_subjects,
        ),
        "legitimate reports": (int((~positive).sum()), config.min_negatives),
    }
    short = [
        f"{have:,} {what}, at least {need:,} needed"
        for what, (have, need) in found.items()
        if have < need
    ]
    if short:
        raise InsufficientLabelsError(
            "too few labels to train a model: "
            + "; ".join(short)
            + ". Label more reports (a typology per laundering report, from at least "
            f"{config.min_positive_subjects} different subjects, spread over the period)."
        )


def _sample(
    labels: npt.NDArray[np.str_], share: float, rng: np.random.Generator
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    positive = labels != NEGATIVE_LABEL
    keep = positive | (rng.random(labels.size) < share)
    weights = np.where(positive, 1.0, 1.0 / share)
    return keep, weights


def choose_threshold(
    y: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64], beta: float
) -> float:
    """The score threshold maximising F-beta (ties: the higher threshold)."""
    if not y.any():
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y, scores)
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1 + beta**2) * precision * recall / (beta**2 * precision + recall)
    f = np.nan_to_num(f)
    best = int(np.flatnonzero(f == f.max())[-1])
    return float(thresholds[best])


def _metrics_at(
    y: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64], threshold: float
) -> dict[str, float]:
    alerts = scores >= threshold
    true_positives = int((alerts & y).sum())
    return {
        "alerts": int(alerts.sum()),
        "precision": true_positives / max(int(alerts.sum()), 1),
        "recall": true_positives / max(int(y.sum()), 1),
    }


def _fit_member(
    config: TrainConfig,
    seed: int,
    features: pl.DataFrame,
    labels: npt.NDArray[Any],
    fit_rows: npt.NDArray[np.int64],
) -> tuple[Pipeline, int]:
    """One complete fit, with its own negative subsample (weights 1 / share) and seeds, and
    the number of rows it was fitted on."""
    keep, weights = _sample(labels[fit_rows], config.negative_share, np.random.default_rng(seed))
    chosen = fit_rows[keep]
    X = features[chosen.tolist()].select(FEATURE_COLUMNS)  # noqa: N806 - scikit-learn naming
    pipeline = make_pipeline(
        random_state=seed % (2**31),
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        calibration_folds=config.calibration_folds,
        calibration=config.calibration,
        typer_max_iter=config.typer_max_iter,
        early_stopping=config.early_stopping,
        max_features=config.max_features,
        boosters=config.boosters,
        max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
    )
    pipeline.fit(X, labels[chosen], model__sample_weight=weights[keep])
    return pipeline, int(chosen.size)


def _averaged(members: list[Pipeline]) -> Pipeline:
    """Several fits as one artefact: a one-step pipeline around their average."""
    return Pipeline([("fits", FitAverage(members).fit(None))])


def _laundering_scores(pipeline: Pipeline, rows: pl.DataFrame) -> npt.NDArray[np.float64]:
    model = pipeline[-1]
    inputs = pipeline[:-1].transform(rows) if len(pipeline.steps) > 1 else rows
    return np.asarray(model.decision_score(inputs), dtype=np.float64)


def train(
    config: TrainConfig,
    out: Path,
    *,
    dataset: Dataset,
    extra: Dataset | None = None,
    alert_policy: Mapping[str, Any] | None = None,
) -> ModelBundle:
    """Trains, validates, and writes ``out`` (skops) with its model card.

    ``alert_policy``: the alert policy (episodes, suppression, budget) the model is meant to
    run under, recorded in the card as it was configured at training time.
    """
    started = time.perf_counter()
    if extra is not None:
        dataset = add_dispositions(dataset, extra)
    prepared = time.perf_counter()
    features = dataset.features
    labels = np.asarray(dataset.labels, dtype=object).astype(str)
    order = np.argsort(features["seq"].to_numpy(), kind="stable")
    cut = int(order.size * (1 - config.validation_share))
    fit_rows, valid_rows = np.sort(order[:cut]), np.sort(order[cut:])
    check_labels(config, labels, features["subject_key"].to_list(), fit_rows, valid_rows)
    if config.fits < 1:
        raise ValueError(f"fits must be at least 1, got {config.fits}")
    fits = [
        _fit_member(config, config.seed + index, features, labels, fit_rows)
        for index in range(config.fits)
    ]
    members = [member for member, _ in fits]
    pipeline = members[0] if len(members) == 1 else _averaged(members)
    fitted = time.perf_counter()

    first = members[0]
    model = first[-1]
    valid = features[valid_rows.tolist()]
    y_valid = labels[valid_rows] != NEGATIVE_LABEL
    scores = _laundering_scores(pipeline, valid.select(FEATURE_COLUMNS))
    threshold = choose_threshold(y_valid, scores, config.beta) if y_valid.any() else 0.5
    metrics: dict[str, Any] = {
        "validation_reports": int(valid_rows.size),
        "validation_positives": int(y_valid.sum()),
        "pr_auc": float(average_precision_score(y_valid, scores)) if y_valid.any() else None,
        "at_threshold": _metrics_at(y_valid, scores, threshold),
        "per_typology_recall": {
            typology: float((scores[labels[valid_rows] == typology] >= threshold).mean())
            for typology in sorted(set(labels[valid_rows]) - {NEGATIVE_LABEL})
        },
    }
    legit = labels[fit_rows] == NEGATIVE_LABEL
    reference = (
        features[fit_rows[legit].tolist()]
        .select(FEATURE_COLUMNS)
        .select(pl.all().median())
        .fill_null(0.0)
        .row(0, named=True)
    )
    booster = model.detector.estimator
    card = {
        "training": {
            **dataset.description,
            "fit_reports": int(fit_rows.size),
            "fit_sampled": fits[0][1],
            "fits": config.fits,
            "fit_sampled_per_fit": [sampled for _, sampled in fits],
            "negative_share": config.negative_share,
            "validation_share": config.validation_share,
            "seconds": {
                "data_and_features": round(prepared - started, 1),
                "fit": round(fitted - prepared, 1),
            },
        },
        "params": {
            "train_config": config_record(config),
            "booster": {
                key: value
                for key, value in booster.get_params().items()
                if isinstance(value, int | float | str | bool) or value is None
            },
            "calibration": {
                "method": model.detector.method,
                "cv": model.detector.cv,
                "ensemble": model.detector.ensemble,
            },
            "peer_group": first[0].group_column,
            "peer_values": list(first[0].value_columns),
        },
        "feature_config": feature_config(),
        "threshold": threshold,
        "threshold_policy": f"max F{config.beta:g} on the validation part",
        "alert_policy": dict(alert_policy) if alert_policy is not None else None,
        "metrics": {"validation": metrics},
        "reference": {name: float(value) for name, value in reference.items()},
        "classes": [str(label) for label in model.classes_],
    }
    bundle = save_bundle(pipeline, out, card)
    log.info(
        "trained %s in %.0fs (data %.0fs, fit %.0fs); validation PR-AUC %s, threshold %.3f",
        bundle.version,
        time.perf_counter() - started,
        prepared - started,
        fitted - prepared,
        metrics["pr_auc"],
        threshold,
    )
    return bundle


def training_seed(card: Mapping[str, Any]) -> int | None:
    """The generator seed a model was trained on (None for non-synthetic data)."""
    seed = card.get("training", {}).get("seed")
    return int(seed) if seed is not None else None


def dispositions_dataset(
    documents: list[dict[str, Any]], outcomes: Sequence[Mapping[str, Any]]
) -> Dataset:
    """Investigators' decisions as labelled rows (``--with-dispositions``).

    ``documents`` are the stored reports of the decided alerts' subjects in arrival order
    (their history gives the features); ``outcomes`` are
    ``services.alerts.service.labelled_outcomes`` rows. A filed alert labels its report with
    the alert's typology (``"unclassified"`` without one); a false positive labels it legit.
    Only the decided reports are kept.
    """
    label_of: dict[tuple[str, str], str] = {}
    for row in outcomes:
        key = (str(row["institution_id"]), str(row["report_id"]))
        if row["label"] == "confirmed":
            label_of[key] = str(row.get("typology") or "unclassified")
        elif row["label"] == "false_positive":
            label_of[key] = NEGATIVE_LABEL
    if not documents:
        return Dataset(build_features(with_keys(encode(flatten([]))).collect()), [], [], {})
    full = dataset_from_documents(
        documents,
        [NEGATIVE_LABEL] * len(documents),
        [None] * len(documents),
        {"source": "investigator dispositions", "decisions": len(label_of)},
    )
    keys = list(zip(full.features["institution_id"], full.features["report_id"], strict=True))
    rows = [index for index, key in enumerate(keys) if key in label_of]
    return Dataset(
        full.features[rows],
        [label_of[keys[index]] for index in rows],
        [None] * len(rows),
        {**full.description, "positives": sum(label_of[keys[i]] != NEGATIVE_LABEL for i in rows)},
    )
