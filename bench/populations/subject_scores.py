"""How a subject's report scores are combined into the subject's rank (issue 14).

    python bench/populations/subject_scores.py --populations var/populations-s2 \
        --model var/model/model.skops

The alert budget spends its alerts on subjects, each counted today by its highest report
score. A single unusual report then ranks a legitimate subject as high as a scheme of many
suspicious ones. This script ranks the subjects of each population (features cached by
``compare_models.py``) by several combinations of their report scores, over the whole
population period, and prints subject average precision and top-60 precision per world, with
the median and worst. Only the model's score is used (no rules, no budget, no episodes).

These populations are evaluation data only (README.md): measure on them, never choose on them
alone; a combination worth adopting must also hold on the project's own held-out worlds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score

from bench.populations.compare_models import features
from models.features import FEATURE_COLUMNS
from models.pipeline import NEGATIVE_LABEL
from models.registry import load_bundle

COMBINATIONS: dict[str, pl.Expr] = {
    "max": pl.col("score").max(),
    "mean of top 2": pl.col("score").top_k(2).mean(),
    "mean of top 3": pl.col("score").top_k(3).mean(),
    "mean of top 5": pl.col("score").top_k(5).mean(),
    "noisy-OR": 1.0 - (1.0 - pl.col("score").clip(0.0, 0.999)).log().sum().exp(),
}


def subject_ranks(frame: pl.DataFrame, scores: np.ndarray) -> dict[str, tuple[float, float]]:
    """Subject AP and top-60 precision of each combination."""
    per_report = pl.DataFrame(
        {
            "subject": frame["subject"],
            "score": scores,
            "laundering": (frame["label"] != NEGATIVE_LABEL).to_numpy(),
        }
    )
    subjects = per_report.group_by("subject").agg(
        pl.col("laundering").any(), *(expr.alias(name) for name, expr in COMBINATIONS.items())
    )
    caught = subjects["laundering"].to_numpy()
    result: dict[str, tuple[float, float]] = {}
    for name in COMBINATIONS:
        values = subjects[name].to_numpy()
        top = np.argsort(-values, kind="stable")[:60]
        result[name] = (float(average_precision_score(caught, values)), float(caught[top].mean()))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--populations", type=Path, required=True, help="directory of worlds")
    parser.add_argument("--model", type=Path, required=True)
    args = parser.parse_args(argv)
    worlds = sorted(p for p in args.populations.iterdir() if (p / "labels.jsonl").exists())
    worlds = [p for p in worlds if p.name != "train-pair"]
    if not worlds:
        raise SystemExit(f"no population under {args.populations}")
    bundle = load_bundle(args.model)
    legit = list(bundle.pipeline.classes_).index(NEGATIVE_LABEL)
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for world in worlds:
        frame = features(world)
        scores = 1.0 - bundle.pipeline.predict_proba(frame.select(FEATURE_COLUMNS))[:, legit]
        table[world.name] = subject_ranks(frame, scores)
    names = list(COMBINATIONS)
    print("| world | " + " | ".join(f"{n}: AP / top-60 P" for n in names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for world, row in table.items():
        print(
            f"| {world} | " + " | ".join(f"{row[n][0]:.3f} / {row[n][1]:.2f}" for n in names) + " |"
        )
    for label, pick in (("median", statistics.median), ("worst", min)):
        cells = [
            f"{pick([r[n][0] for r in table.values()]):.3f} / "
            f"{pick([r[n][1] for r in table.values()]):.2f}"
            for n in names
        ]
        print(f"| **{label}** | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
