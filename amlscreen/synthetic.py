"""Synthetic data for the detector: simulator worlds turned into training datasets.

The composition layer: the simulator (``simulator``) and the detector (``models``) never
import each other. This module draws labelled streams from worlds and hands their documents
to ``models.train``, which featurises them exactly as the worker would.

Domain randomisation: :func:`worlds_dataset` featurises several worlds drawn from the priors
(each from its own empty history) and joins them; the model card then records the world
seeds (``training.world_seeds``), so that an evaluation can refuse to judge a model on a
world it was trained on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from models.pipeline import NEGATIVE_LABEL
from models.registry import ModelArtefactError, read_card, verify
from models.train import Dataset, TrainConfig, config_record, dataset_from_documents, train
from simulator.generate import GeneratorConfig, generate
from simulator.world import TypologyParams, World

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
# The default model of `amlscreen up` (ensure_default_model): TrainConfig.small()'s reports
# spread over this many drawn worlds (6,250 reports each). More worlds of fewer reports rank
# populations the model never saw better than 6 of 25,000 (docs/detection.md §10, "More drawn
# worlds in the default model's training data"): each world is one set of legitimate habits.
DEFAULT_MODEL_WORLDS = 24


def world_of(seed: int | None) -> World:
    """The default world (None) or the world drawn with ``seed``."""
    return World.default() if seed is None else World.draw(seed)


def synthetic_dataset(
    seed: int,
    n_reports: int,
    *,
    world: World | None = None,
    params: TypologyParams | None = None,
    start: datetime = DEFAULT_START,
    days: int = 60,
    laundering_share: float = 0.02,
) -> Dataset:
    """One generator stream (the default world unless given), featurised as the worker would.

    ``params`` replaces the world's laundering regime (e.g. ``TypologyParams.evaluation()``).
    """
    chosen = world or World.default()
    if params is not None:
        chosen = replace(chosen, typology=params)
    config = GeneratorConfig(
        seed=seed,
        n_reports=n_reports,
        start=start,
        days=days,
        laundering_share=laundering_share,
        world=chosen,
    )
    documents: list[dict[str, Any]] = []
    labels: list[str] = []
    cases: list[str | None] = []
    for item in generate(config):
        documents.append(item.report)
        labels.append(item.typology or NEGATIVE_LABEL)
        cases.append(item.case_id)
    description = {
        "source": "synthetic generator (simulator)",
        "seed": seed,
        "n_reports": n_reports,
        "start": start.isoformat(),
        "days": days,
        "laundering_share": laundering_share,
        "world": chosen.name,
        "regime": chosen.typology.name,
    }
    if chosen.seed is not None:
        description["world_seeds"] = [chosen.seed]
    return dataset_from_documents(documents, labels, cases, description)


def join_datasets(datasets: Sequence[Dataset], description: Mapping[str, Any]) -> Dataset:
    """Several histories as one dataset, in order (each later one's ``seq`` comes after)."""
    frames: list[pl.DataFrame] = []
    labels: list[str] = []
    cases: list[str | None] = []
    offset = 0
    for dataset in datasets:
        features = dataset.features
        frames.append(features.with_columns(pl.col("seq") + offset))
        if features.height:
            offset += int(features["seq"].max()) + 1  # type: ignore[arg-type]
        labels.extend(dataset.labels)
        cases.extend(dataset.case_ids)
    positives = [label for label in labels if label != NEGATIVE_LABEL]
    typologies = {name: positives.count(name) for name in sorted(set(positives))}
    joined = {**description, "positives": len(positives), "typologies": typologies}
    return Dataset(pl.concat(frames, how="vertical"), labels, cases, joined)


def worlds_dataset(
    world_seeds: Iterable[int],
    reports_per_world: int,
    *,
    start: datetime = DEFAULT_START,
    days: int = 60,
    laundering_share: float = 0.02,
    lookalike_scale: float = 1.0,
) -> Dataset:
    """Streams of several drawn worlds (generator seed = world seed), joined for training.

    ``lookalike_scale`` multiplies every world's rates of legitimate look-alike episodes
    (``World.lookalikes``): hard negatives, which a world of a few hundred subjects otherwise
    holds only a handful of.
    """
    seeds = list(world_seeds)
    if not seeds:
        raise ValueError("worlds_dataset needs at least one world seed")
    if lookalike_scale < 0:
        raise ValueError("lookalike_scale must be >= 0")
    parts = [
        synthetic_dataset(
            seed,
            reports_per_world,
            world=_with_lookalikes(World.draw(seed), lookalike_scale),
            start=start,
            days=days,
            laundering_share=laundering_share,
        )
        for seed in seeds
    ]
    return join_datasets(
        parts,
        {
            "source": "simulator worlds (domain randomisation)",
            "world_seeds": seeds,
            "reports_per_world": reports_per_world,
            "n_reports": sum(part.features.height for part in parts),
            "start": start.isoformat(),
            "days": days,
            "laundering_share": laundering_share,
            "lookalike_scale": lookalike_scale,
            "regime": "drawn",
            "worlds": [
                {"seed": seed, "reports": part.features.height, **_positives(part)}
                for seed, part in zip(seeds, parts, strict=True)
            ],
        },
    )


def _with_lookalikes(world: World, scale: float) -> World:
    if scale == 1.0:
        return world
    rates = {kind: rate * scale for kind, rate in world.lookalikes.items()}
    return replace(world, lookalikes=rates)


def _positives(dataset: Dataset) -> dict[str, int]:
    return {"positives": sum(label != NEGATIVE_LABEL for label in dataset.labels)}


def training_world_seeds(card: Mapping[str, Any]) -> list[int]:
    """The drawn worlds a model was trained on (empty: none, e.g. the default world only)."""
    return [int(seed) for seed in card.get("training", {}).get("world_seeds") or []]


def ensure_default_model(path: Path) -> None:
    """Makes sure a usable model is at ``path`` (``amlscreen up``).

    Nothing happens if a verified artefact is there, unless it is an auto-trained default of
    an older recipe (``TrainConfig.small()`` changed since: the new default ranks better, and
    nobody chose the old one). Without one, a small default model is trained from the
    generator (about three minutes on two cores). An artefact that exists but fails
    verification is replaced only if it is itself an auto-trained default; anything else is
    someone's model and the error is raised.
    """
    config = TrainConfig.small()
    if path.exists():
        try:
            card = verify(path)
            if not card.get("training", {}).get("default") or _same_recipe(card, config):
                return
        except ModelArtefactError:
            try:
                source = read_card(path).get("training", {}).get("default")
            except ModelArtefactError:
                source = None
            if not source:
                raise
    train(config, path, dataset=default_model_dataset(config))


def _same_recipe(card: dict[str, Any], config: TrainConfig) -> bool:
    """Whether a model card's training configuration is ``config``'s."""
    return bool(card.get("params", {}).get("train_config") == config_record(config))


def default_model_dataset(config: TrainConfig | None = None) -> Dataset:
    """The training data of the default model (``ensure_default_model``).

    Domain randomisation, small: ``config.n_reports`` (``TrainConfig.small()``'s by default)
    spread over drawn worlds 1..``DEFAULT_MODEL_WORLDS`` rather than one population's habits.
    """
    config = config or TrainConfig.small()
    dataset = worlds_dataset(
        range(1, 1 + DEFAULT_MODEL_WORLDS),
        config.n_reports // DEFAULT_MODEL_WORLDS,
        start=config.start,
        days=config.days,
    )
    dataset.description["default"] = True
    return dataset
