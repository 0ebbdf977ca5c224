"""How a subject's report scores are combined into the subject's rank (issue 14).

    python bench/populations/subject_scores.py --populations var/populations-s2 \
        --model var/model/model.skops
    python bench/populations/subject_scores.py --sim-worlds 5001-5006 --model ...

The alert budget spends its alerts on subjects, each counted today by its highest report
score. A single unusual report then ranks a legitimate subject as high as a scheme of many
suspicious ones. This script ranks the subjects of each population (features cached by
``compare_models.py``) by several combinations of their report scores, over the whole
population period, and prints subject average precision and top-60 precision per world, with
the median and worst. Only the model's score is used (no rules, no budget, no episodes).

These populations are evaluation data only (README.md): measure on them, never choose on them
alone; a combination worth adopting must also hold on the project's own held-out worlds:
``--sim-worlds A-B`` draws those worlds (``World.draw(seed)``, 40,000 reports over 60 days each;
keep the seeds out of every training range) and measures them the same way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score

from amlscreen.synthetic import DEFAULT_START, World, synthetic_dataset
from bench.populations.compare_models import features, population_worlds
from models.features import FEATURE_COLUMNS, PEER_GROUP
from models.pipeline import NEGATIVE_LABEL
from models.registry import load_bundle

COMBINATIONS: dict[str, pl.Expr] = {
    "max": pl.col("score").max(),
    "mean of top 2": pl.col("score").top_k(2).mean(),
    "mean of top 3": pl.col("score").top_k(3).mean(),
    "mean of top 5": pl.col("score").top_k(5).mean(),
    "noisy-OR": 1.0 - (1.0 - pl.col("score").clip(0.0, 0.999)).log().sum().exp(),
}


# Peer-relative ranks: the subject's highest score minus a baseline of its cell (institution
# × peer group), a quantile of the cell's subjects' highest scores shrunk towards the
# institution's same quantile with the weight of PEER_SHRINK subjects.
PEER_QUANTILES: dict[str, float] = {"peer excess q90": 0.9, "peer excess q50": 0.5}
PEER_SHRINK = 20.0


def peer_excess(subjects: pl.DataFrame, quantile: float) -> pl.Series:
    """``max`` minus the shrunk baseline of the subject's cell (``institution``, ``cell``)."""
    institution_q = pl.col("max").quantile(quantile, "linear").over("institution")
    cell_q = pl.col("max").quantile(quantile, "linear").over("institution", "cell")
    cell_n = pl.len().over("institution", "cell").cast(pl.Float64)
    baseline = (cell_n * cell_q + PEER_SHRINK * institution_q) / (cell_n + PEER_SHRINK)
    return subjects.select(pl.col("max") - baseline).to_series()


def subject_ranks(frame: pl.DataFrame, scores: np.ndarray) -> dict[str, tuple[float, float]]:
    """Subject AP and top-60 precision of each combination."""
    per_report = pl.DataFrame(
        {
            "subject": frame["subject"],
            "institution": frame["institution_id"],
            "cell": frame[PEER_GROUP],
            "score": scores,
            "laundering": (frame["label"] != NEGATIVE_LABEL).to_numpy(),
        }
    )
    subjects = per_report.group_by("subject").agg(
        pl.col("laundering").any(),
        pl.col("institution").first(),
        pl.col("cell").mode().min(),
        *(expr.alias(name) for name, expr in COMBINATIONS.items()),
    )
    subjects = subjects.with_columns(
        *(peer_excess(subjects, quantile).alias(name) for name, quantile in PEER_QUANTILES.items())
    )
    caught = subjects["laundering"].to_numpy()
    result: dict[str, tuple[float, float]] = {}
    for name in [*COMBINATIONS, *PEER_QUANTILES]:
        values = subjects[name].to_numpy()
        top = np.argsort(-values, kind="stable")[:60]
        result[name] = (float(average_precision_score(caught, values)), float(caught[top].mean()))
    return result


def simulator_world(
    seed: int, n_reports: int = 40_000, laundering_share: float = 0.02
) -> pl.DataFrame:
    """A drawn simulator world's feature rows with ``label`` and ``subject`` (a subject per
    institution, as in the independent populations).

    ``laundering_share`` is the generator's schemes per subject; each scheme labels its
    conductors, mules and counterparties too, so 0.02 labels about 7 % of the subjects (4-11 %
    in worlds 5001-5006) and 0.006 about 2 %, the independent populations' share.
    """
    dataset = synthetic_dataset(
        seed,
        n_reports,
        world=World.draw(seed),
        start=DEFAULT_START,
        laundering_share=laundering_share,
    )
    return dataset.features.with_columns(
        label=pl.Series(dataset.labels, dtype=pl.String),
        subject=pl.concat_str("institution_id", pl.lit("|"), "subject_key"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--populations", type=Path, help="directory of independent worlds")
    source.add_argument("--sim-worlds", help="simulator world seeds, e.g. 5001-5006")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument(
        "--sim-reports", type=int, default=40_000, help="reports per simulator world"
    )
    parser.add_argument(
        "--laundering-share",
        type=float,
        default=0.02,
        help="the simulator's schemes per subject (0.006 labels about 2 %% of subjects)",
    )
    args = parser.parse_args(argv)
    frames: dict[str, Callable[[], pl.DataFrame]] = {}
    if args.populations is not None:
        for world in population_worlds(args.populations):
            frames[world.name] = partial(features, world)
    else:
        first, _, last = str(args.sim_worlds).partition("-")
        for seed in range(int(first), int(last or first) + 1):
            frames[f"world {seed}"] = partial(
                simulator_world, seed, args.sim_reports, args.laundering_share
            )
    if not frames:
        raise SystemExit("no population to measure")
    bundle = load_bundle(args.model)
    legit = list(bundle.pipeline.classes_).index(NEGATIVE_LABEL)
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for name, load in frames.items():
        frame = load()
        laundering = frame.group_by("subject").agg((pl.col("label") != NEGATIVE_LABEL).any())
        share = laundering.get_column("label").mean()
        print(f"{name}: {laundering.height} subjects, {share:.1%} laundering", file=sys.stderr)
        scores = 1.0 - bundle.pipeline.predict_proba(frame.select(FEATURE_COLUMNS))[:, legit]
        table[name] = subject_ranks(frame, scores)
    names = [*COMBINATIONS, *PEER_QUANTILES]
    print("| world | " + " | ".join(f"{n}: AP / top-60 P" for n in names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for name, row in table.items():
        print(
            f"| {name} | " + " | ".join(f"{row[n][0]:.3f} / {row[n][1]:.2f}" for n in names) + " |"
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
