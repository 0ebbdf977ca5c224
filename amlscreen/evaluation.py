"""``amlscreen evaluate``: a held-out stream, or the shifted-world harness.

**Held-out stream** (the default mode): one generator stream with a seed the model was not
trained on, in the evaluation laundering regime of the default world; figures from
``models.evaluate.evaluate``.

**Shifted worlds** (``--worlds N``): a model trained on worlds from one seed range (its card
records them: ``training.world_seeds``) is judged on N worlds drawn from a disjoint range,
never trained on, plus one short world. Each world is written to a JSONL file and scored from
an empty history by :func:`amlscreen.backtest.score_reports`, the function ``amlscreen score``
runs; the outcome lines are joined with the labels, and ``models.evaluate`` computes the
figures per world, for the first ``cold_start_days`` (the detector starts with no history)
and after, with the median and the worst over worlds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from amlscreen.backtest import score_reports
from amlscreen.synthetic import training_world_seeds, worlds_dataset
from models.evaluate import (
    EvaluationConfig,
    check_seed,
    evaluate,
    score_stream,
    summarise_worlds,
    world_metrics,
)
from models.registry import ModelBundle, load_bundle
from models.scoring import Scorer
from models.train import TrainConfig, train
from services.alerts.policy import AlertPolicy
from simulator.generate import GeneratorConfig, generate
from simulator.world import TypologyParams, World

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
# Drawn worlds: training from seed 1 up, evaluation from one million up (disjoint by default).
FIRST_TRAINING_WORLD = 1
FIRST_EVALUATION_WORLD = 1_000_000
VIEWS = ("all", "cold", "warm")


class WorldOverlapError(ValueError):
    """An evaluation world is one the model was trained on."""


def held_out(scorer: Scorer, config: EvaluationConfig) -> dict[str, Any]:
    """The held-out stream evaluation (default world, ``config.regime`` laundering)."""
    check_seed(scorer, config.seed)
    params = TypologyParams.evaluation() if config.regime == "evaluation" else TypologyParams()
    generator = GeneratorConfig(
        seed=config.seed,
        n_reports=config.n_reports,
        start=config.start,
        days=config.days,
        laundering_share=config.laundering_share,
        world=replace(World.default(), typology=params),
    )
    started = time.perf_counter()
    documents: list[dict[str, Any]] = []
    typologies: list[str | None] = []
    cases: list[str | None] = []
    for item in generate(generator):
        documents.append(item.report)
        typologies.append(item.typology)
        cases.append(item.case_id)
    frame = score_stream(documents, typologies, cases, scorer)
    return evaluate(scorer, config, frame, time.perf_counter() - started)


@dataclass(frozen=True)
class WorldsConfig:
    """The shifted-world evaluation: which worlds, how long, how large."""

    worlds: int = 10
    first_seed: int = FIRST_EVALUATION_WORLD
    reports_per_world: int = 200_000
    days: int = 60
    start: datetime = DEFAULT_START
    laundering_share: float = 0.02
    cold_start_days: int = 30
    short_world_days: int = 30  # 0: no short world

    def seeds(self) -> list[int]:
        """The evaluation worlds, then the short world's seed (if any)."""
        extra = 1 if self.short_world_days else 0
        return list(range(self.first_seed, self.first_seed + self.worlds + extra))


def train_on_worlds(
    seeds: Iterable[int], reports_per_world: int, out: Path, config: TrainConfig | None = None
) -> ModelBundle:
    """Trains a model on drawn worlds (domain randomisation); the card records their seeds."""
    chosen = config or TrainConfig()
    dataset = worlds_dataset(
        seeds,
        reports_per_world,
        start=chosen.start,
        days=chosen.days,
        laundering_share=chosen.laundering_share,
    )
    return train(replace(chosen, source="worlds"), out, dataset=dataset)


def evaluate_worlds(
    bundle: ModelBundle,
    config: WorldsConfig,
    *,
    threshold: float | None = None,
    workdir: Path | None = None,
    policy: AlertPolicy | None = None,
) -> dict[str, Any]:
    """Scores every evaluation world and returns the figures (JSON-able).

    ``policy``: the alert policy ``amlscreen score`` applies (episodes, budget); None, the
    model's threshold with subject episodes and no budget."""
    trained = training_world_seeds(bundle.card)
    overlap = sorted(set(config.seeds()) & set(trained))
    if overlap:
        raise WorldOverlapError(
            f"worlds {overlap} are among the model's training worlds; evaluate on a disjoint"
            " range (--world-seed)"
        )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="amlscreen-worlds-", dir=workdir) as scratch:
        directory = Path(scratch)
        worlds = [
            evaluate_world(bundle, seed, config, config.days, threshold, directory, policy)
            for seed in config.seeds()[: config.worlds]
        ]
        short = None
        if config.short_world_days:
            days = config.short_world_days
            seed = config.seeds()[-1]
            short = evaluate_world(bundle, seed, config, days, threshold, directory, policy)
    return {
        "model": {
            "version": bundle.version,
            "threshold": bundle.threshold if threshold is None else threshold,
            "training_world_seeds": trained,
        },
        "config": {
            **{k: v for k, v in asdict(config).items() if k != "start"},
            "start": config.start.isoformat(),
            "seeds": config.seeds(),
        },
        "worlds": worlds,
        "short_world": short,
        "summary": {view: summarise_worlds([w[view] for w in worlds]) for view in VIEWS},
        "seconds": round(time.perf_counter() - started, 1),
    }


def evaluate_world(
    bundle: ModelBundle,
    seed: int,
    config: WorldsConfig,
    days: int,
    threshold: float | None,
    directory: Path,
    policy: AlertPolicy | None = None,
) -> dict[str, Any]:
    """One world: generated to a file, scored like ``amlscreen score``, joined with labels."""
    world = World.draw(seed)
    n_reports = max(1, round(config.reports_per_world * days / config.days))
    generator = GeneratorConfig(
        seed=seed,
        n_reports=n_reports,
        start=config.start,
        days=days,
        laundering_share=config.laundering_share,
        world=world,
    )
    source, target = directory / f"world-{seed}.jsonl", directory / f"world-{seed}.scored.jsonl"
    truth = write_world(generator, source)
    summary = score_reports(source, target, bundle, threshold=threshold, policy=policy)
    frame = truth.join(read_outcomes(target), on=["institution_id", "report_id"], how="left")
    if frame.height != summary["reports"] or frame["score"].null_count():
        raise RuntimeError(f"world {seed}: scored reports do not match the generated ones")
    source.unlink()
    target.unlink()
    cold = pl.col("day") < config.cold_start_days
    return {
        "seed": seed,
        "name": world.name,
        "days": days,
        "all": world_metrics(frame),
        "cold": world_metrics(frame.filter(cold)),
        "warm": world_metrics(frame.filter(~cold)),
    }


def read_outcomes(path: Path) -> pl.DataFrame:
    """The score and alert of each line ``amlscreen score`` wrote (other fields ignored)."""
    names = ("institution_id", "report_id", "score", "alert")
    columns: dict[str, list[Any]] = {name: [] for name in names}
    with path.open("rb") as lines:
        for line in lines:
            row = orjson.loads(line)
            for name, values in columns.items():
                values.append(row[name])
    schema = {
        "institution_id": pl.String,
        "report_id": pl.String,
        "score": pl.Float64,
        "alert": pl.Boolean,
    }
    return pl.DataFrame(columns, schema=schema)


def write_world(config: GeneratorConfig, path: Path) -> pl.DataFrame:
    """Writes the world's stream to ``path``; returns one label row per report."""
    start = config.start.astimezone(UTC).date()
    rows: dict[str, list[Any]] = {
        name: []
        for name in ("institution_id", "report_id", "subject_id", "day", "truth", "lookalike")
    }
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    with path.open("wb", buffering=1 << 20) as out:
        for item in generate(config):
            report = item.report
            out.write(dumps(report, option=newline))
            transaction = report.get("transaction")
            moment = transaction["timestamp"] if transaction else report["filed_at"]
            rows["institution_id"].append(report["institution_id"])
            rows["report_id"].append(report["report_id"])
            rows["subject_id"].append(report["subject"]["subject_id"])
            rows["day"].append((datetime.fromisoformat(moment[:10]).date() - start).days)
            rows["truth"].append(item.typology)
            rows["lookalike"].append(item.lookalike)
    schema = {
        "institution_id": pl.String,
        "report_id": pl.String,
        "subject_id": pl.String,
        "day": pl.Int32,
        "truth": pl.String,
        "lookalike": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def evaluate_model_on_worlds(
    config: WorldsConfig,
    *,
    model: Path | None = None,
    train_worlds: int = 0,
    train_first_seed: int = FIRST_TRAINING_WORLD,
    train_reports: int | None = None,
    train_config: TrainConfig | None = None,
    threshold: float | None = None,
    policy: AlertPolicy | None = None,
) -> dict[str, Any]:
    """The harness: trains on ``train_worlds`` drawn worlds first (if asked), then evaluates.

    With training, the model is written to ``model`` (or a temporary directory).
    """
    if not train_worlds:
        if model is None:
            raise ValueError("evaluate_model_on_worlds needs a model or train_worlds")
        return evaluate_worlds(load_bundle(model), config, threshold=threshold, policy=policy)
    seeds = range(train_first_seed, train_first_seed + train_worlds)
    reports = train_reports or config.reports_per_world
    with tempfile.TemporaryDirectory(prefix="amlscreen-model-") as scratch:
        path = model or Path(scratch) / "model.skops"
        bundle = train_on_worlds(seeds, reports, path, train_config)
        return evaluate_worlds(bundle, config, threshold=threshold, policy=policy)


def labelled_truth(data: Path, labels: Path) -> pl.DataFrame:
    """One row per report of ``data`` with its label (``truth``: typology or null).

    ``labels``: ``{"institution_id", "report_id", "typology", "lookalike"?}`` lines, as
    ``amlscreen simulate --labels`` writes and ``amlscreen train --labels`` reads; a report
    without a line is legitimate.
    """
    truth: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    with labels.open("rb") as lines:
        for line in lines:
            if line.strip():
                row = orjson.loads(line)
                key = (str(row["institution_id"]), str(row["report_id"]))
                truth[key] = (row.get("typology"), row.get("lookalike"))
    columns: dict[str, list[Any]] = {
        name: []
        for name in ("institution_id", "report_id", "subject_id", "day", "truth", "lookalike")
    }
    with data.open("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            report = orjson.loads(line)
            key = (str(report["institution_id"]), str(report["report_id"]))
            typology, lookalike = truth.get(key, (None, None))
            columns["institution_id"].append(key[0])
            columns["report_id"].append(key[1])
            columns["subject_id"].append(str(report["subject"].get("subject_id")))
            columns["day"].append(0)
            columns["truth"].append(typology)
            columns["lookalike"].append(lookalike)
    schema = {
        "institution_id": pl.String,
        "report_id": pl.String,
        "subject_id": pl.String,
        "day": pl.Int32,
        "truth": pl.String,
        "lookalike": pl.String,
    }
    return pl.DataFrame(columns, schema=schema)


def champion_challenger(
    champion: ModelBundle,
    challenger: ModelBundle,
    data: Path,
    labels: Path,
    *,
    policy: AlertPolicy | None = None,
) -> dict[str, Any]:
    """Both models on the same labelled stream, each through ``amlscreen score``'s policy.

    What an operator reads before promoting a retrained model: report PR-AUC, report
    precision and recall at each model's own threshold, subject precision and recall, and
    the alert volume the worker would produce (subject alerts, alerts per day).
    """
    truth = labelled_truth(data, labels)
    result: dict[str, Any] = {"data": str(data), "labels": str(labels), "models": {}}
    with tempfile.TemporaryDirectory(prefix="amlscreen-cc-") as scratch:
        for role, bundle in (("champion", champion), ("challenger", challenger)):
            target = Path(scratch) / f"{role}.jsonl"
            summary = score_reports(data, target, bundle, policy=policy)
            frame = truth.join(read_outcomes(target), on=["institution_id", "report_id"])
            metrics = world_metrics(frame)
            laundering = frame["truth"].is_not_null()
            alerted = frame["alert"]
            hits = int((alerted & laundering).sum())
            result["models"][role] = {
                "version": bundle.version,
                "threshold": bundle.threshold,
                "pr_auc": metrics["pr_auc"],
                "report_precision": round(hits / int(alerted.sum()), 4) if alerted.any() else None,
                "report_recall": round(hits / int(laundering.sum()), 4)
                if laundering.any()
                else None,
                "subject_precision": metrics["subject_precision"],
                "subject_recall": metrics["subject_recall"],
                "alerted_reports": summary["alerts"],
                "subject_alerts": summary["episodes"],
                "alerts_per_day": summary["alerts_per_day"],
                "alerts_per_1000": round(1000 * summary["episodes"] / max(frame.height, 1), 3),
            }
    return result


def render_champion_challenger(result: Mapping[str, Any]) -> str:
    """The comparison as a plain table, champion then challenger."""
    rows = [
        ("model version", "version"),
        ("threshold", "threshold"),
        ("report PR-AUC", "pr_auc"),
        ("report precision", "report_precision"),
        ("report recall", "report_recall"),
        ("subject precision", "subject_precision"),
        ("subject recall", "subject_recall"),
        ("alerted reports", "alerted_reports"),
        ("subject alerts", "subject_alerts"),
        ("subject alerts per 1,000 reports", "alerts_per_1000"),
        ("subject alerts per day", "alerts_per_day"),
    ]
    models = result["models"]
    lines = [
        f"champion/challenger on {result['data']} (labels {result['labels']})",
        f"{'':34} {'champion':>28} {'challenger':>28}",
    ]
    for label, key in rows:
        values = [models[role][key] for role in ("champion", "challenger")]
        cells = [f"{value:.4f}" if isinstance(value, float) else str(value) for value in values]
        lines.append(f"{label:34} {cells[0]:>28} {cells[1]:>28}")
    return "\n".join(lines)
