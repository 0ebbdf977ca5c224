"""The worker's scoring stage per batch, with and without the one-conversion array path.

    PYTHONPATH=. .venv/bin/python bench/scoring_bench.py --model var/model/model.skops

Features of a generated stream (the e2e bench's generator) are scored by ``Scorer.score`` in
batches of each ``--sizes`` rows, at the threshold the worker's scorer runs at under the
service's default policy (``AlertPolicy.scoring_threshold``: every report above it is typed
and explained by ``Scorer.score``), with one OpenMP thread as in the worker. Each round times
every batch size twice, once through ``models.pipeline.ArrayModel`` (the batch's features
converted to one float64 array) and once through the estimators' own methods (each step
converting its input again), alternated so that both see the same machine; the medians over
``--rounds`` rounds are printed with their ratio.
The outputs of the two paths are compared on every batch and must be identical.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from models.features import features_from_documents
from models.registry import load_bundle
from models.scoring import ScoredBatch, Scorer
from services.alerts.policy import AlertPolicy
from services.config import Settings
from simulator.generate import GeneratorConfig, generate


def _same(one: ScoredBatch, other: ScoredBatch) -> bool:
    return (
        np.array_equal(one.scores, other.scores)
        and one.typologies == other.typologies
        and one.reasons == other.reasons
        and one.top_features == other.top_features
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("var/model/model.skops"))
    parser.add_argument("--reports", type=int, default=30_000)
    parser.add_argument("--sizes", default="100,300,1000,5000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    config = GeneratorConfig(
        seed=20261128, n_reports=args.reports, start=datetime(2026, 3, 2, tzinfo=UTC), days=30
    )
    features = features_from_documents([item.report for item in generate(config)])
    bundle = load_bundle(args.model)
    threshold = AlertPolicy.from_settings(Settings()).scoring_threshold(bundle.threshold)
    fast = Scorer(bundle, threshold=threshold)
    slow = Scorer(bundle, threshold=threshold)
    slow._arrays = None  # noqa: SLF001 - the estimators' own path
    sizes = [int(size) for size in args.sizes.split(",")]
    # The last rows: subjects with history, as in a warm worker.
    batches = {size: features[features.height - size :] for size in sizes}
    timings: dict[tuple[int, str], list[float]] = {}
    with threadpool_limits(1, "openmp"):
        for size, batch in batches.items():  # warm-up, and the outputs compared
            if not _same(fast.score(batch), slow.score(batch)):
                raise SystemExit(f"the two paths disagree on the {size}-row batch")
        for _ in range(args.rounds):
            for size, batch in batches.items():
                for name, scorer in (("array", fast), ("estimators", slow)):
                    started = time.perf_counter()
                    scorer.score(batch)
                    timings.setdefault((size, name), []).append(time.perf_counter() - started)
    print(f"model {bundle.version}; {args.rounds} rounds; threshold {threshold:.4f}")
    for size, batch in batches.items():
        alerted = int(fast.score(batch).alerts.sum())
        array = statistics.median(timings[(size, "array")]) * 1000
        estimators = statistics.median(timings[(size, "estimators")]) * 1000
        print(
            f"{size:>5} rows ({alerted} above the threshold): array path {array:.1f} ms,"
            f" estimators' path {estimators:.1f} ms, ratio {array / estimators:.2f}"
        )


if __name__ == "__main__":
    main()
