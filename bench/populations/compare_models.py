"""Ranks several model artefacts on the same independent populations (issue 14).

    python bench/populations/compare_models.py --populations var/populations-s2 \
        --model var/model/model.skops --model var/model-full/model.skops

Each population directory (what ``generate.py`` or ``run.py`` wrote) is featurised once, by
the same code path training and ``amlscreen score`` use, and cached beside it as
``features.parquet``; every model then scores the cached features. Only the model's score is
compared (no rules, no budget): report PR-AUC, and the subjects ranked by their highest
report score (subject average precision, precision among the top 30 and top 60), which is the
order an alert budget spends its alerts in.

These populations are evaluation data only (README.md): compare models on them, never fit or
choose anything on them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
from sklearn.metrics import average_precision_score

from models.features import FEATURE_COLUMNS
from models.pipeline import NEGATIVE_LABEL
from models.registry import load_bundle
from models.train import dataset_from_documents

METRICS = ("report PR-AUC", "subject AP", "top-30 P", "top-60 P")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def features(population: Path) -> pl.DataFrame:
    """The population's feature rows with ``label`` and ``subject``, cached as parquet."""
    cached = population / "features.parquet"
    if cached.exists():
        return pl.read_parquet(cached)
    documents = _jsonl(population / "reports.jsonl")
    labels = _jsonl(population / "labels.jsonl")
    if len(labels) != len(documents):
        raise SystemExit(f"{population}: labels.jsonl does not hold one line per report")
    typologies = [line.get("typology") or NEGATIVE_LABEL for line in labels]
    subjects = [f"{line['institution_id']}|{line['subject_id']}" for line in labels]
    dataset = dataset_from_documents(documents, typologies, [None] * len(labels), {})
    frame = dataset.features.with_columns(label=pl.Series(typologies), subject=pl.Series(subjects))
    frame.write_parquet(cached)
    return frame


def population_worlds(directory: Path) -> list[Path]:
    """The population directories under ``directory`` (``run.py``'s ``train-pair`` excluded)."""
    worlds = sorted(p for p in directory.iterdir() if (p / "labels.jsonl").exists())
    worlds = [p for p in worlds if p.name != "train-pair"]
    if not worlds:
        raise SystemExit(f"no population under {directory}")
    return worlds


def rank_metrics(frame: pl.DataFrame, scores: np.ndarray) -> tuple[float, ...]:
    laundering = (frame["label"] != NEGATIVE_LABEL).to_numpy()
    by_subject = (
        pl.DataFrame({"subject": frame["subject"], "score": scores, "laundering": laundering})
        .group_by("subject")
        .agg(pl.col("score").max(), pl.col("laundering").any())
        .sort(["score", "subject"], descending=[True, False])
    )
    caught = by_subject["laundering"].to_numpy()
    return (
        float(average_precision_score(laundering, scores)),
        float(average_precision_score(caught, by_subject["score"].to_numpy())),
        float(caught[:30].mean()),
        float(caught[:60].mean()),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--populations", type=Path, required=True, help="directory of worlds")
    parser.add_argument("--model", type=Path, action="append", required=True)
    args = parser.parse_args(argv)
    worlds = population_worlds(args.populations)
    bundles = {path: load_bundle(path) for path in args.model}
    table: dict[Path, dict[str, tuple[float, ...]]] = {path: {} for path in bundles}
    for world in worlds:
        frame = features(world)
        columns = frame.select(FEATURE_COLUMNS)
        for path, bundle in bundles.items():
            classes = list(bundle.pipeline.classes_)
            legit = bundle.pipeline.predict_proba(columns)[:, classes.index(NEGATIVE_LABEL)]
            table[path][world.name] = rank_metrics(frame, 1.0 - legit)
    for path, rows in table.items():
        print(f"\n{path}\n| world | " + " | ".join(METRICS) + " |")
        print("|---" * (len(METRICS) + 1) + "|")
        for name, values in rows.items():
            print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
        columns_ = list(zip(*rows.values(), strict=True))
        medians = " | ".join(f"{statistics.median(c):.3f}" for c in columns_)
        print(f"| **median** | {medians} |")
        print("| **worst** | " + " | ".join(f"{min(c):.3f}" for c in columns_) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
