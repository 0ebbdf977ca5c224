"""Worlds: the default one, drawn ones (deterministic per seed, inside their priors, varied)."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from simulator.population import institutions
from simulator.world import (
    ACTIVITIES,
    DEFAULT_LOOKALIKES,
    DEFAULT_MX_MIX,
    DEFAULT_US_MIX,
    SEGMENTS,
    TypologyParams,
    World,
)

DRAWS = [World.draw(seed) for seed in range(200)]
# Typology fields that are sets of values rather than (low, high) ranges.
SETS = ("high_risk_countries", "round_units_usd", "typology_weights")


def test_default_is_the_plain_world():
    world = World.default()
    assert world == World()
    assert world.seed is None
    assert world.typology == TypologyParams.training()
    assert world.institutions == tuple(i.institution_id for i in institutions())
    assert all(world.habit(segment) == world.habits[segment] for segment in SEGMENTS)


def test_same_seed_same_world_other_seed_other_world():
    assert World.draw(17) == World.draw(17)
    assert World.draw(17).describe() == World.draw(17).describe()
    assert World.draw(17) != World.draw(18)
    assert World.draw(17) != World.default()


def test_describe_is_json_and_complete():
    description = World.draw(3).describe()
    assert json.loads(json.dumps(description)) == description
    assert set(description) == {f.name for f in fields(World)}
    assert description["name"] == "world-3"
    assert set(description["habits"]) == set(SEGMENTS)
    assert set(description["habits"]["gig"]) == {"scale", *ACTIVITIES}
    assert description["typology"]["name"] == "drawn"


def _within(value: float, low: float, high: float) -> bool:
    return low - 1e-9 <= value <= high + 1e-9


class TestPriors:
    """Every drawn parameter stays inside the range docs/detection.md gives for it."""

    def test_population(self):
        for world in DRAWS:
            assert _within(world.us_share, 0.3, 0.9)
            for mix, default in ((world.us_mix, DEFAULT_US_MIX), (world.mx_mix, DEFAULT_MX_MIX)):
                assert sum(mix.values()) == pytest.approx(1.0, abs=1e-4)
                assert {s for s, w in mix.items() if w == 0} == {
                    s for s, w in default.items() if w == 0
                }
            us = [i for i in world.institutions if i.startswith("US")]
            mx = [i for i in world.institutions if i.startswith("MX")]
            assert 3 <= len(us) <= 11
            assert 2 <= len(mx) <= 8
            assert {"US-FI-0001", "US-FI-0002"} & set(us)  # a national bank
            assert {f"MX-FI-000{n}" for n in range(1, 5)} & set(mx)  # a Mexican bank
            assert _within(world.dual_banking, 0.3, 3.0)
            assert _within(world.dormant_share, 0.01, 0.12)
            assert _within(world.recent_account_share, 0.02, 0.2)

    def test_habits(self):
        for world in DRAWS:
            for habits in world.habits.values():
                assert _within(habits.scale, 0.4, 2.5)
                for name in ACTIVITIES:
                    activity = getattr(habits, name)
                    assert _within(activity.rate, 0.25, 4.0)
                    assert _within(activity.amount, 0.6, 1.7)
            low, high = world.cash_deposit_every
            assert 1 <= low <= 3
            assert low <= high <= 7
            assert _within(world.roaming_share, 0.0, 0.6)
            assert world.roaming_branches[0] == 2
            assert 3 <= world.roaming_branches[1] <= 10
            assert _within(world.atm_deposit_share, 0.0, 0.6)
            assert _within(world.bill_ach_share, 0.3, 1.0)
            assert _within(world.extra_bills, 0.0, 6.0)
            assert _within(world.payroll_direct_share, 0.0, 0.8)

    def test_counterparties_border_and_filing(self):
        for world in DRAWS:
            assert _within(world.pool_scale, 0.2, 5.0)
            assert _within(world.new_party_share, 0.05, 0.6)
            assert 1 <= world.friends <= 10
            low, high = world.trade_partners
            assert 1 <= low <= 4
            assert low <= high <= low + 8
            assert _within(world.foreign_party_share, 0.05, 0.8)
            assert _within(world.mx_corridor_share, 0.1, 0.7)
            assert _within(world.foreign_currency_share, 0.0, 0.6)
            assert _within(world.high_risk_trade_share, 0.02, 0.3)
            assert set(world.lookalikes) == set(DEFAULT_LOOKALIKES)
            for kind, rate in world.lookalikes.items():
                assert _within(rate, DEFAULT_LOOKALIKES[kind] * 0.2, DEFAULT_LOOKALIKES[kind] * 8)
            assert _within(world.defensive_str, 1.0, 30.0)
            assert _within(world.defensive_str_on_lookalikes, 0.0, 0.8)

    def test_typology_inside_the_envelope_of_both_regimes(self):
        training, evaluation = TypologyParams.training(), TypologyParams.evaluation()
        for world in DRAWS:
            params = world.typology
            for item in fields(TypologyParams):
                value = getattr(params, item.name)
                a, b = getattr(training, item.name), getattr(evaluation, item.name)
                if isinstance(a, tuple) and item.name not in SETS:
                    assert value[0] <= value[1]
                    assert _within(value[0], min(a[0], b[0]), max(a[1], b[1])), item.name
                    assert _within(value[1], min(a[0], b[0]), max(a[1], b[1])), item.name
            # Structuring legs stay under the threshold; fan-in legs under $3,000.
            assert params.structuring_leg_fraction[1] < 1.0
            assert params.fan_in_leg_usd[1] < 3_000
            assert 3 <= len(params.high_risk_countries) <= 8
            assert set(params.high_risk_countries) <= set(
                training.high_risk_countries + evaluation.high_risk_countries
            )
            assert len(params.typology_weights) == len(training.typology_weights)
            assert _within(params.str_share, 0.05, 0.6)

    def test_priors_are_wide(self):
        """Across draws, parameters cover most of their range (the point of worlds)."""

        def spread(values: list[float]) -> float:
            return max(values) - min(values)

        assert spread([w.us_share for w in DRAWS]) > 0.5
        assert spread([w.bill_ach_share for w in DRAWS]) > 0.6
        assert spread([w.roaming_share for w in DRAWS]) > 0.5
        assert spread([w.habits["cash"].cash_in.rate for w in DRAWS]) > 3.0
        assert spread([w.habits["service"].wires.rate for w in DRAWS]) > 3.0
        assert spread([w.us_mix["cash"] for w in DRAWS]) > 5 * min(w.us_mix["cash"] for w in DRAWS)
        assert len({w.institutions for w in DRAWS}) > 150
        assert len({w.cash_deposit_every for w in DRAWS}) >= 15
