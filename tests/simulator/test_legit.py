"""Legitimate behaviour follows the world: payment mix, cash habits, branches, wires, currency."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from refdata.wire import ReportV1
from simulator.generate import GeneratorConfig, generate
from simulator.population import NAICS
from simulator.world import ENTITY_SEGMENTS, Activity, Habits, World

START = datetime(2026, 3, 2, tzinfo=UTC)
DEFAULT = World.default()


def _legit(world: World, n: int = 15_000, days: int = 15, seed: int = 2) -> list[dict[str, Any]]:
    """The reports of legitimate customers outside any scripted episode."""
    config = GeneratorConfig(seed=seed, n_reports=n, start=START, days=days, world=world)
    return [
        item.report
        for item in generate(config)
        if item.typology is None and item.lookalike is None and "transaction" in item.report
    ]


def _persons(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in reports if r["subject"]["type"] == "person"]


def test_persons_pay_bills_by_ach_where_the_world_does():
    by_ach = _persons(_legit(replace(DEFAULT, bill_ach_share=1.0, extra_bills=6.0)))
    by_check = _persons(_legit(replace(DEFAULT, bill_ach_share=0.3, extra_bills=0.0)))

    def ach_out_share(reports: list[dict[str, Any]]) -> float:
        t = [r["transaction"] for r in reports]
        return sum(x["instrument"] == "ach" and x["direction"] == "out" for x in t) / len(t)

    assert ach_out_share(by_ach) > 2 * ach_out_share(by_check)


def test_cash_businesses_deposit_daily_or_weekly():
    daily = _legit(replace(DEFAULT, cash_deposit_every=(1, 1)))
    weekly = _legit(replace(DEFAULT, cash_deposit_every=(7, 7)))

    def deposits(reports: list[dict[str, Any]]) -> list[int]:
        return [
            int(Decimal(r["transaction"]["amount"]) * 100)
            for r in reports
            if r["subject"].get("naics") in NAICS["cash"]
            and r["transaction"]["instrument"] == "cash"
            and r["transaction"]["direction"] == "in"
        ]

    every_day, every_week = deposits(daily), deposits(weekly)
    assert len(every_day) > 3 * len(every_week) > 0
    assert sum(every_week) / len(every_week) > 3 * sum(every_day) / len(every_day)


def test_roaming_customers_take_cash_to_several_branches():
    def branches(world: World) -> int:
        used: dict[str, set[str]] = defaultdict(set)
        for report in _legit(world):
            transaction = report["transaction"]
            if transaction["instrument"] == "cash" and transaction["channel"] == "branch":
                if transaction["direction"] == "in":
                    used[transaction["account_id"]].add(transaction["location"]["branch_id"])
        return max(len(b) for b in used.values())

    assert branches(replace(DEFAULT, roaming_share=0.0)) == 1
    assert branches(replace(DEFAULT, roaming_share=1.0, roaming_branches=(4, 6))) >= 3


def _entity_wires(world: World) -> int:
    return sum(
        1
        for r in _legit(world)
        if r["subject"]["type"] == "entity" and r["transaction"]["instrument"] == "wire"
    )


def test_entities_wire_as_much_as_the_world_says():
    def with_wires(rate: float) -> World:
        habits = {s: Habits(wires=Activity(rate=rate)) for s in ENTITY_SEGMENTS}
        return replace(DEFAULT, habits={**DEFAULT.habits, **habits})

    assert _entity_wires(with_wires(4.0)) > 2 * _entity_wires(with_wires(0.25))


def test_cross_border_wires_in_foreign_currencies():
    def currencies(world: World) -> Counter[str]:
        return Counter(r["transaction"]["currency"] for r in _legit(world))

    none = currencies(replace(DEFAULT, foreign_currency_share=0.0))
    every = currencies(replace(DEFAULT, foreign_currency_share=1.0, foreign_party_share=0.8))
    foreign = {"EUR", "GBP", "CAD", "CNY"}
    assert not foreign & set(none)
    assert foreign & set(every)


def test_only_the_worlds_institutions_and_segments():
    chosen = ("US-FI-0001", "US-FI-0004", "MX-FI-0002")
    world = replace(
        DEFAULT,
        institutions=chosen,
        us_mix={"salaried": 0.8, "cash": 0.2},
        mx_mix={"salaried": 0.9, "trade": 0.1},
    )
    config = GeneratorConfig(seed=3, n_reports=8_000, start=START, days=10, world=world)
    segments = set(NAICS["cash"]) | set(NAICS["trade"])
    for index, item in enumerate(generate(config)):
        report = item.report
        assert report["institution_id"] in chosen
        naics = report["subject"].get("naics")
        if report["subject"]["type"] == "entity" and item.typology is None:
            assert naics in segments
        if index % 20 == 0:
            ReportV1.model_validate(report)
