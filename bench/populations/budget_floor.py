"""The alert budget's floor: how low the live threshold may go to spend a window's budget.

    PYTHONPATH=. python bench/populations/budget_floor.py --populations var/populations-s2 \
        --model var/model/model.skops --floors 0.05,0.1,0.2,0.3

Under a share budget the threshold of an institution is the score that spends what is left of
the window's allowance, never below ``budget_floor`` (``AMLSCREEN_ALERT_BUDGET_FLOOR``; 0.05
until this bench chose 0.3). In a quiet window the budget goes down to the floor to spend its
alerts on whatever is highest, however low. Each population is scored (``amlscreen.backtest``,
exactly as ``amlscreen score`` does with each floor: once per scoring threshold), the service's
default policy is applied with each floor and the result measured (``measure.py``): pooled over
the worlds, subjects alerted, launderers caught and subject precision, and the medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from amlscreen.backtest import apply_policy, scored_stream, write_scored
from bench.populations.compare_models import population_worlds
from bench.populations.measure import measure
from models.registry import ModelBundle, load_bundle
from models.scoring import Scorer
from services.alerts.policy import AlertPolicy
from services.config import Settings


def floor_metrics(
    world: Path, bundle: ModelBundle, floors: list[float]
) -> dict[float, dict[str, Any]]:
    """``measure.py``'s metrics of one population under the service's default policy with each
    floor, exactly as ``amlscreen score`` screens with it.

    The population is scored once per scoring threshold (``AlertPolicy.scoring_threshold``:
    the floor or the model's threshold, whichever is lower). The threshold matters beyond
    which reports are explained: the budget recomputes when a candidate arrives, so the
    candidates set the cadence of its versions, in the worker as in ``amlscreen score``.
    """
    default = AlertPolicy.from_settings(Settings())
    model_threshold = bundle.threshold
    streams: dict[float, pl.DataFrame] = {}
    metrics: dict[float, dict[str, Any]] = {}
    for floor in floors:
        policy = dataclasses.replace(default, budget_floor=floor)
        scoring = policy.scoring_threshold(model_threshold)
        if scoring not in streams:
            scorer = Scorer(bundle, threshold=scoring)
            streams[scoring] = scored_stream(world / "reports.jsonl", scorer)
        result, _ = apply_policy(streams[scoring], policy, model_threshold)
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "scored.jsonl"
            write_scored(result, target)
            metrics[floor] = measure(world, target).metrics
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--populations", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--floors", default="0.05,0.1,0.2,0.3")
    args = parser.parse_args(argv)
    floors = [float(value) for value in args.floors.split(",")]
    bundle = load_bundle(args.model)
    pooled: dict[float, dict[str, int]] = {
        f: {"alerted": 0, "laundering": 0, "caught": 0} for f in floors
    }
    per_world: dict[float, list[dict[str, Any]]] = {f: [] for f in floors}
    for world in population_worlds(args.populations):
        for floor, metrics in floor_metrics(world, bundle, floors).items():
            per_world[floor].append(metrics)
            alerted = int(metrics["alerted_subjects"])
            laundering = round((metrics["subject_precision"] or 0.0) * alerted)
            caught = round((metrics["subject_recall"] or 0.0) * metrics["laundering_subjects"])
            pooled[floor]["alerted"] += alerted
            pooled[floor]["laundering"] += laundering
            pooled[floor]["caught"] += caught
            print(
                f"{world.name} floor {floor:g}: {alerted} subjects alerted, {caught} launderers"
                f" caught, precision {metrics['subject_precision'] or 0.0:.3f}",
                file=sys.stderr,
            )
    print(
        "| floor | subjects alerted | launderers caught | pooled precision |"
        " median precision | median recall | median share alerted |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for floor in floors:
        worlds = per_world[floor]
        alerted, caught = pooled[floor]["alerted"], pooled[floor]["caught"]
        precision = pooled[floor]["laundering"] / max(alerted, 1)
        print(
            f"| {floor:g} | {alerted} | {caught} | {precision:.3f} |"
            f" {statistics.median(w['subject_precision'] or 0.0 for w in worlds):.3f} |"
            f" {statistics.median(w['subject_recall'] or 0.0 for w in worlds):.3f} |"
            f" {statistics.median(w['alerted_share_active'] for w in worlds):.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
