"""Legitimate look-alikes and defensive filings: present, labelled legitimate, shaped right."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from refdata.thresholds import US_CTR_CENTS
from refdata.wire import ReportV1
from simulator.generate import GeneratorConfig, Labelled, generate
from simulator.reference import MX_ROR_THRESHOLD_MXN_MINOR
from simulator.world import DEFAULT_LOOKALIKES, LOOKALIKES, World

START = datetime(2026, 4, 6, tzinfo=UTC)


def _minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


@pytest.fixture(scope="module")
def stream() -> list[Labelled]:
    """A world where every look-alike is frequent and institutions file on them."""
    world = replace(
        World.default(),
        lookalikes={kind: rate * 25 for kind, rate in DEFAULT_LOOKALIKES.items()},
        defensive_str=20.0,
        defensive_str_on_lookalikes=0.8,
    )
    config = GeneratorConfig(seed=4, n_reports=60_000, start=START, days=45, world=world)
    return list(generate(config))


def _episodes(stream: list[Labelled]) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in stream:
        if item.lookalike is not None:
            by_kind[item.lookalike].append(item.report)
    return by_kind


def test_every_lookalike_appears_labelled_legitimate(stream):
    by_kind = _episodes(stream)
    assert set(by_kind) == set(LOOKALIKES)
    for item in stream:
        if item.lookalike is not None:
            assert item.typology is None
            assert item.case_id is None
    for reports in by_kind.values():
        for report in reports[:20]:
            ReportV1.model_validate(report)


def test_near_threshold_deposits_are_cash_just_under_the_threshold(stream):
    deposits = [
        report["transaction"]
        for report in _episodes(stream)["near_threshold"]
        if "transaction" in report
    ]
    assert deposits
    for transaction in deposits:
        assert (transaction["instrument"], transaction["direction"]) == ("cash", "in")
        limit = US_CTR_CENTS
        if transaction["currency"] == "MXN":
            limit = MX_ROR_THRESHOLD_MXN_MINOR
        assert 0.8 * limit <= _minor(transaction["amount"]) < limit


def test_crowd_receivers_are_paid_by_many_people(stream):
    payers: dict[str, set[str]] = defaultdict(set)
    for report in _episodes(stream)["crowd_receiver"]:
        transaction = report.get("transaction")
        if transaction and transaction["direction"] == "in":
            payers[transaction["account_id"]].add(transaction["counterparty"]["account_id"])
    assert payers
    assert max(len(accounts) for accounts in payers.values()) >= 10


def test_treasury_sweeps_pass_money_through_within_the_day(stream):
    legs: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for report in _episodes(stream)["treasury_sweep"]:
        transaction = report.get("transaction")
        if transaction is None:  # a defensive STR on the sweeping company
            continue
        day = transaction["timestamp"][:10]
        legs[(transaction["account_id"], day)][transaction["direction"]] += 1
    assert any(counts["in"] and counts["out"] for counts in legs.values())


def test_defensive_filings_fall_on_legitimate_customers(stream):
    strs = [item for item in stream if item.report["report_type"] == "STR"]
    legitimate = [item for item in strs if item.typology is None]
    assert legitimate
    assert any(item.lookalike is not None for item in legitimate)
    assert any(item.lookalike is None for item in legitimate)
