"""How much a detector configuration's ranking depends on the fit's seed (issue 14).

    PYTHONPATH=. .venv/bin/python bench/populations/seed_spread.py --work var/seed-spread \
        --populations var/populations-s2 --sim-worlds 4 [--variants current,average5] [--seeds 3]

For each variant (:data:`VARIANTS`: ``TrainConfig`` settings of the detector; :data:`MASKS`:
feature columns hidden from the fit) and each of K fit seeds (``DEFAULT_TRAINING_SEED + i``, so
seed 0 of ``current`` is ``amlscreen up``'s model), trains the default model's recipe
(``TrainConfig.small()`` on ``amlscreen.synthetic.default_model_dataset``, featurised once and
cached in WORK) and saves
``WORK/<variant>/seed-<i>/model.skops``. Each model then scores every evaluation set with the
metrics of ``compare_models.py`` (model score only, no rules, no budget): each world of each
``--populations`` directory, and ``--sim-worlds`` held-out drawn simulator worlds (seeds from
1,000,000, never trained on). Artefacts, metrics and featurised worlds are cached in WORK, so
a second run only computes what is missing.

Per variant and evaluation set it prints, for subject AP, report PR-AUC and top-60 precision:
the median over worlds of each seed's model, their median and minimum over seeds, and the
worst single world over all seeds. ``--cost`` adds the scoring cost of each variant
(``Scorer.laundering_scores`` on batches of 1,000 feature rows, milliseconds per 1,000).

The populations are evaluation data (README.md): choose on a development seed, then confirm
on seeds never looked at.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

# Run as a script: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson
import polars as pl

from amlscreen.evaluation import FIRST_EVALUATION_WORLD
from amlscreen.synthetic import (
    DEFAULT_MODEL_WORLDS,
    DEFAULT_START,
    default_model_dataset,
    synthetic_dataset,
    worlds_dataset,
)
from bench.populations.compare_models import features, population_worlds, rank_metrics
from models.features import FEATURE_COLUMNS
from models.registry import load_bundle
from models.scoring import Scorer
from models.train import DEFAULT_TRAINING_SEED, Dataset, TrainConfig, train
from simulator.world import World

# Detector settings, as TrainConfig fields over TrainConfig.small().
VARIANTS: dict[str, dict[str, Any]] = {
    "current": {},
    "no_early_stop": {"early_stopping": False, "learning_rate": 0.05, "max_iter": 300},
    "half_features": {"max_features": 0.5},
    "average5": {"boosters": 5},
    "no_usd_levels": {},
    "no_levels": {},
    "worlds6": {},
    "worlds12": {},
    "worlds24": {},
    "worlds48": {},
    "worlds96": {},
    "share06": {"laundering_share": 0.06},
    "share10": {"laundering_share": 0.10},
    "single": {"fits": 1},
    "fits3": {},
    "lookalikes3": {"fits": 1},
    "lookalikes8": {"fits": 1},
    "worldsets": {"fits": 1},
    "fits3w": {},
    # Simpler, more regularised trees (sixteenth session): fewer interactions specific to the
    # simulator's worlds.
    "shallow8": {"fits": 1, "max_leaf_nodes": 8, "min_samples_leaf": 100, "max_iter": 300},
    "leaf200": {"fits": 1, "min_samples_leaf": 200, "l2_regularization": 10.0},
    # Since the default recipe took leaf200's shape (TrainConfig.small()), `single` is leaf200
    # and these start from it: eight leaves as well, or 500 rows per leaf.
    "shallow8_200": {"fits": 1, "max_leaf_nodes": 8, "min_samples_leaf": 200, "max_iter": 300},
    "leaf500": {"fits": 1, "min_samples_leaf": 500},
}
# Variants that average the laundering scores of several complete fits of another variant
# (each with its own negative subsample, early-stopping split and calibration): instance i of
# (base, k) averages the base's fits k*i .. k*i + k - 1, so K instances need K*k base fits.
# `current` is the shipped recipe: one fit until 2026-12-04, the mean of three since (02e1906;
# TrainConfig.small().fits = 3), which `fits3` measured before it shipped; `single` keeps one
# fit. Artefacts cached under WORK/current/ before that change are single fits.
ENSEMBLES: dict[str, tuple[str, int]] = {"fits3": ("single", 3), "fits3w": ("worldsets", 3)}
# Single-fit variants whose fit number k learns from its own set of drawn worlds: worlds
# 24k+1 .. 24k+24 (so fit 0 is `single`'s fit 0). `fits3w` averages three fits that saw
# disjoint worlds, where `fits3` averages three fits of the same worlds: bagging over
# populations rather than over the fit's own randomness.
WORLD_SETS: frozenset[str] = frozenset({"worldsets"})
# Variants trained on the same number of reports spread over a given number of drawn worlds
# (domain randomisation: more legitimate habits seen, fewer reports of each world). `current`
# draws DEFAULT_MODEL_WORLDS: 24 since 2026-12-03 (a84907d), 6 before, which `worlds6` keeps.
# `current` is always the shipped recipe, so after a change of it the artefacts and metrics
# cached under WORK/current/ are stale: use a fresh WORK (or delete that directory).
WORLD_COUNTS: dict[str, int] = {
    "worlds6": 6,
    "worlds12": 12,
    "worlds24": 24,
    "worlds48": 48,
    "worlds96": 96,
}
# Variants trained on worlds with more laundering cases: the same reports and worlds, a larger
# share of subjects laundering (the default model's 150,000 reports over 24 worlds hold only
# 3-6 cases of each typology at the default 0.02). The share is the TrainConfig field above.
DEFAULT_LAUNDERING_SHARE = TrainConfig.small().laundering_share
# Single-fit variants trained on worlds with more legitimate look-alike episodes (hard
# negatives: the 24 default worlds hold about 108 episodes of nine kinds in all, four of them
# treasury sweeps); compared with `single`.
LOOKALIKE_SCALES: dict[str, float] = {"lookalikes3": 3.0, "lookalikes8": 8.0}
# Variants that hide feature columns from the fit: the training rows hold nulls there, so no
# tree splits on them (MissingSafeBooster bins an all-missing column as a constant) and the
# scores never depend on them. "Levels" are one world's absolute amounts and counts; the live
# peer percentiles, shares, ratios and the regulatory amounts (business-day cash for the CTR,
# legs near the threshold) stay.
_COUNT_LEVEL = re.compile(r"^(n|in_n|out_n|cash_in_n|cash_out_n|xb_n|round100_n|round1000_n)_\d+d$")


def _usd_level(column: str) -> bool:
    return (
        "usd" in column
        and not column.startswith(("peer_pct_", "day_cash_"))
        and "near" not in column
    )


MASKS: dict[str, Callable[[str], bool]] = {
    "no_usd_levels": _usd_level,
    "no_levels": lambda column: _usd_level(column) or bool(_COUNT_LEVEL.match(column)),
}
# (index in rank_metrics' tuple, heading)
REPORTED = ((1, "subject AP"), (0, "report PR-AUC"), (3, "top-60 P"))
SIM_REPORTS_PER_WORLD = 25_000


def cached_dataset(
    work: Path,
    worlds: int = DEFAULT_MODEL_WORLDS,
    share: float = DEFAULT_LAUNDERING_SHARE,
    lookalikes: float = 1.0,
    first_world: int = 1,
) -> Dataset:
    """The default model's training data over ``worlds`` drawn worlds (seeds from
    ``first_world``) with ``share`` of the subjects laundering and look-alike rates times
    ``lookalikes``, featurised once
    (WORK/dataset-<worlds>[-<share>][-x<lookalikes>][-from<first_world>].parquet)."""
    name = f"dataset-{worlds}" if share == DEFAULT_LAUNDERING_SHARE else f"dataset-{worlds}-{share}"
    if lookalikes != 1.0:
        name += f"-x{lookalikes:g}"
    if first_world != 1:
        name += f"-from{first_world}"
    table, sidecar = work / f"{name}.parquet", work / f"{name}.json"
    if table.exists() and sidecar.exists():
        frame = pl.read_parquet(table)
        return Dataset(
            frame.drop("__label", "__case"),
            frame["__label"].to_list(),
            frame["__case"].to_list(),
            orjson.loads(sidecar.read_bytes()),
        )
    config = TrainConfig.small()
    if (worlds, share, lookalikes, first_world) == (
        DEFAULT_MODEL_WORLDS,
        DEFAULT_LAUNDERING_SHARE,
        1.0,
        1,
    ):
        dataset = default_model_dataset(config)
    else:
        dataset = worlds_dataset(
            range(first_world, first_world + worlds),
            config.n_reports // worlds,
            start=config.start,
            days=config.days,
            laundering_share=share,
            lookalike_scale=lookalikes,
        )
    dataset.features.with_columns(
        __label=pl.Series(dataset.labels, dtype=pl.String),
        __case=pl.Series(dataset.case_ids, dtype=pl.String),
    ).write_parquet(table)
    sidecar.write_bytes(orjson.dumps(dataset.description))
    return dataset


def dataset_key(variant: str, index: int) -> tuple[int, float, float, int]:
    """``cached_dataset``'s arguments for fit number ``index`` of a single-fit variant."""
    worlds = WORLD_COUNTS.get(variant, DEFAULT_MODEL_WORLDS)
    share = VARIANTS[variant].get("laundering_share", DEFAULT_LAUNDERING_SHARE)
    first = 1 + worlds * index if variant in WORLD_SETS else 1
    return (worlds, share, LOOKALIKE_SCALES.get(variant, 1.0), first)


def sim_world(work: Path, seed: int) -> pl.DataFrame:
    """A held-out drawn simulator world's features with ``label`` and ``subject`` (cached)."""
    cached = work / "sim" / f"world-{seed}.parquet"
    if cached.exists():
        return pl.read_parquet(cached)
    dataset = synthetic_dataset(
        seed, SIM_REPORTS_PER_WORLD, world=World.draw(seed), start=DEFAULT_START
    )
    frame = dataset.features.with_columns(
        label=pl.Series(dataset.labels, dtype=pl.String),
        subject=pl.col("subject_key").cast(pl.String),
    )
    cached.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(cached)
    return frame


def ensure_model(work: Path, variant: str, index: int, dataset: Dataset | None) -> Path:
    """Trains (unless already there) the variant's model with fit seed number ``index``."""
    path = work / variant / f"seed-{index}" / "model.skops"
    if not path.exists():
        if dataset is None:
            raise ValueError(f"{path} is missing and no dataset was given to train it")
        path.parent.mkdir(parents=True, exist_ok=True)
        config = replace(
            TrainConfig.small(), seed=DEFAULT_TRAINING_SEED + index, **VARIANTS[variant]
        )
        if variant in MASKS:
            dataset = masked(dataset, MASKS[variant])
        started = time.perf_counter()
        train(config, path, dataset=dataset)
        print(f"trained {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def masked(dataset: Dataset, hidden: Callable[[str], bool]) -> Dataset:
    """The dataset with the columns ``hidden`` names set to null."""
    columns = [name for name in FEATURE_COLUMNS if hidden(name)]
    features = dataset.features.with_columns(
        pl.lit(None, dtype=dataset.features.schema[name]).alias(name) for name in columns
    )
    description = {**dataset.description, "hidden_features": columns}
    return Dataset(features, dataset.labels, dataset.case_ids, description)


Metrics = dict[str, list[float]]  # world → rank_metrics


class AveragedScorer:
    """The mean of several models' laundering scores (an ensemble of complete fits)."""

    def __init__(self, members: list[Path]) -> None:
        self.scorers = [Scorer(load_bundle(path)) for path in members]

    def laundering_scores(self, rows: pl.DataFrame) -> Any:
        return sum(scorer.laundering_scores(rows) for scorer in self.scorers) / len(self.scorers)


def measure_all(
    models: dict[str, list[Path]],
    sets: dict[str, dict[str, Callable[[], pl.DataFrame]]],
    members: dict[Path, list[Path]] | None = None,
) -> dict[str, dict[str, list[Metrics]]]:
    """rank_metrics of every model on every world, cached beside each model (metrics-SET.json);
    each world is loaded once, and only if some model lacks its figures. A path in ``members``
    stands for the average of those models (it need not exist as a file)."""
    paths = [path for group in models.values() for path in group]
    ensembles = members or {}
    scorers: dict[Path, Scorer | AveragedScorer] = {}
    for evaluation, worlds in sets.items():
        caches = {path: path.parent / f"metrics-{evaluation}.json" for path in paths}
        known: dict[Path, Metrics] = {
            path: orjson.loads(cache.read_bytes()) if cache.exists() else {}
            for path, cache in caches.items()
        }
        for world, load in worlds.items():
            todo = [path for path in paths if world not in known[path]]
            if not todo:
                continue
            frame = load()
            columns = frame.select(FEATURE_COLUMNS)
            for path in todo:
                if path not in scorers:
                    scorers[path] = (
                        AveragedScorer(ensembles[path])
                        if path in ensembles
                        else Scorer(load_bundle(path))
                    )
                scorer = scorers[path]
                known[path][world] = list(rank_metrics(frame, scorer.laundering_scores(columns)))
                caches[path].write_bytes(orjson.dumps(known[path], option=orjson.OPT_INDENT_2))
            print(f"measured {evaluation}/{world} with {len(todo)} models", flush=True)
    return {
        variant: {
            evaluation: [
                {world: known_of(path, evaluation)[world] for world in worlds} for path in group
            ]
            for evaluation, worlds in sets.items()
        }
        for variant, group in models.items()
    }


def known_of(path: Path, evaluation: str) -> Metrics:
    result: Metrics = orjson.loads((path.parent / f"metrics-{evaluation}.json").read_bytes())
    return result


def cost_per_thousand(model: Path, frame: pl.DataFrame, batches: int = 20) -> float:
    """Median milliseconds of ``Scorer.laundering_scores`` on a batch of 1,000 rows."""
    scorer = Scorer(load_bundle(model))
    rows = frame.select(FEATURE_COLUMNS)
    timings = []
    for batch in range(batches):
        part = rows.slice(batch * 1_000 % max(rows.height - 1_000, 1), 1_000)
        started = time.perf_counter()
        scorer.laundering_scores(part)
        timings.append(time.perf_counter() - started)
    return 1_000 * statistics.median(timings)


def summary(per_seed: list[Metrics], index: int) -> tuple[list[float], str]:
    """Each seed's median over worlds, and the worst world over all seeds."""
    medians = [statistics.median(rows[world][index] for world in rows) for rows in per_seed]
    worst = min((rows[world][index], world) for rows in per_seed for world in rows)
    return medians, f"{worst[0]:.3f} ({worst[1]})"


def render(results: dict[str, dict[str, list[Metrics]]]) -> str:
    lines: list[str] = []
    evaluations = sorted({name for by_set in results.values() for name in by_set})
    for evaluation in evaluations:
        lines.append(f"\n### {evaluation}\n")
        lines.append(
            "| variant | metric | per seed (median over worlds) | median | min | worst world |"
        )
        lines.append("|---|---|---|---|---|---|")
        for variant, by_set in results.items():
            if evaluation not in by_set:
                continue
            for index, heading in REPORTED:
                medians, worst = summary(by_set[evaluation], index)
                seeds = " / ".join(f"{value:.3f}" for value in medians)
                lines.append(
                    f"| {variant} | {heading} | {seeds} | {statistics.median(medians):.3f} "
                    f"| {min(medians):.3f} | {worst} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("var/seed-spread"))
    parser.add_argument("--populations", type=Path, action="append", default=[])
    parser.add_argument("--sim-worlds", type=int, default=0, help="held-out simulator worlds")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", type=int, default=3, help="fit seeds per variant (K)")
    parser.add_argument("--cost", action="store_true", help="time scoring per 1,000 rows")
    parser.add_argument("--train-only", action="store_true", help="train, measure nothing")
    args = parser.parse_args(argv)
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    args.work.mkdir(parents=True, exist_ok=True)
    datasets: dict[tuple[int, float, float, int], Dataset] = {}
    models: dict[str, list[Path]] = {}
    members: dict[Path, list[Path]] = {}
    for variant in variants:
        models[variant] = []
        if variant in ENSEMBLES:
            base, size = ENSEMBLES[variant]
            for index in range(args.seeds):
                group = []
                for member in range(size * index, size * index + size):
                    key = dataset_key(base, member)
                    path = args.work / base / f"seed-{member}" / "model.skops"
                    if not path.exists() and key not in datasets:
                        datasets[key] = cached_dataset(args.work, *key)
                    group.append(ensure_model(args.work, base, member, datasets.get(key)))
                stand_in = args.work / variant / f"seed-{index}" / "model.skops"
                stand_in.parent.mkdir(parents=True, exist_ok=True)
                members[stand_in] = group
                models[variant].append(stand_in)
            continue
        for index in range(args.seeds):
            key = dataset_key(variant, index)
            path = args.work / variant / f"seed-{index}" / "model.skops"
            if not path.exists() and key not in datasets:
                datasets[key] = cached_dataset(args.work, *key)
            models[variant].append(ensure_model(args.work, variant, index, datasets.get(key)))
    if args.train_only:
        return 0
    sets: dict[str, dict[str, Callable[[], pl.DataFrame]]] = {}
    for directory in args.populations:
        sets[directory.name] = {
            world.name: partial(features, world) for world in population_worlds(directory)
        }
    if args.sim_worlds:
        seeds = range(FIRST_EVALUATION_WORLD, FIRST_EVALUATION_WORLD + args.sim_worlds)
        sets["simulator"] = {f"world-{seed}": partial(sim_world, args.work, seed) for seed in seeds}
    results = measure_all(models, sets, members)
    print(render(results))
    if args.cost and sets:
        frame = next(iter(next(iter(sets.values())).values()))()
        print("\n| variant | ms per 1,000 rows (Scorer.laundering_scores, median of 20) |")
        print("|---|---|")
        for variant, paths in models.items():
            if variant not in ENSEMBLES:
                print(f"| {variant} | {cost_per_thousand(paths[0], frame):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
