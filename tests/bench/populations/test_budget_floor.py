"""bench/populations/budget_floor.py: each floor measured as `amlscreen score` would screen."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from amlscreen.backtest import score_reports
from bench.populations.budget_floor import floor_metrics
from bench.populations.generate import write_population
from bench.populations.measure import measure
from models.registry import load_bundle
from services.alerts.policy import AlertPolicy
from services.config import Settings
from tests.bench.populations.test_generate import small
from tests.models.test_registry import tiny_model


def test_each_floor_measures_what_amlscreen_score_gives_with_it(tmp_path: Path) -> None:
    world = tmp_path / "baseline"
    write_population(small("baseline", seed=3, subjects=300, days=30), world)
    bundle = load_bundle(tiny_model())
    floors = [0.0, 0.3, 0.99]
    measured = floor_metrics(world, bundle, floors)
    default = AlertPolicy.from_settings(Settings())
    for floor in floors:
        target = tmp_path / f"scored-{floor}.jsonl"
        policy = dataclasses.replace(default, budget_floor=floor)
        score_reports(world / "reports.jsonl", target, bundle, policy=policy)
        expected = measure(world, target).metrics
        assert measured[floor] == expected
    # A floor above almost every score leaves only what rules force: fewer alerts.
    assert measured[0.99]["alerts"] < measured[0.0]["alerts"]
