"""The evaluation populations: reproducible, valid wire format, labels aligned with reports,
the regulatory cash thresholds applied, every world buildable."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from bench.populations.core import TYPOLOGIES, Calendar, Party
from bench.populations.filing import Filer
from bench.populations.generate import write_population
from bench.populations.legit import create_party
from bench.populations.population import Population
from bench.populations.worlds import WORLDS, World, build_world
from refdata.wire import ReportV1

ROOT = Path(__file__).resolve().parents[3]


def small(name: str, seed: int = 1, subjects: int = 200, days: int = 20) -> World:
    """The world ``name`` shrunk to a size a unit test can afford."""
    world = build_world(name, seed)
    return replace(
        world,
        n_subjects=subjects,
        calendar=Calendar(world.calendar.start, days),
        laundering_share=0.05,
    )


def lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


class TestWritePopulation:
    def test_same_seed_same_bytes_other_seed_other_population(self, tmp_path: Path) -> None:
        write_population(small("baseline", 5), tmp_path / "a")
        write_population(small("baseline", 5), tmp_path / "b")
        write_population(small("baseline", 6), tmp_path / "c")
        for name in ("reports.jsonl", "labels.jsonl", "subjects.jsonl"):
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / "reports.jsonl").read_bytes() != (
            tmp_path / "c" / "reports.jsonl"
        ).read_bytes()

    @pytest.mark.parametrize("name", sorted(WORLDS))
    def test_every_world_is_valid_labelled_and_in_arrival_order(
        self, name: str, tmp_path: Path
    ) -> None:
        world = small(name)
        write_population(world, tmp_path)
        reports = lines(tmp_path / "reports.jsonl")
        labels = lines(tmp_path / "labels.jsonl")
        subjects = lines(tmp_path / "subjects.jsonl")
        assert reports
        assert len(reports) == len(labels)
        parsed = [ReportV1.model_validate(doc) for doc in reports]
        filed = [report.filed_at for report in parsed]
        assert filed == sorted(filed)
        ids = Counter((doc["institution_id"], doc["report_id"]) for doc in reports)
        assert max(ids.values()) == 1
        known = {(line["institution_id"], line["subject_id"]): line for line in subjects}
        for doc, label in zip(reports, labels, strict=True):
            assert (label["institution_id"], label["report_id"]) == (
                doc["institution_id"],
                doc["report_id"],
            )
            assert label["subject_id"] == doc["subject"]["subject_id"]
            subject = known[(label["institution_id"], label["subject_id"])]
            if label["typology"] is not None:
                assert subject["laundering"]
                assert label["typology"] == subject["typology"]
        embedded = {line["typology"] for line in subjects if line["laundering"]}
        assert embedded <= set(world.typologies) <= set(TYPOLOGIES)
        assert len(world.typologies) == 8
        assert any(label["typology"] for label in labels)


def _filing_world() -> tuple[Population, Party, Party]:
    """A world whose institutions miss no large cash, with one US and one Mexican customer."""
    world = build_world("baseline", 1)
    us = next(inst for inst in world.institutions if inst.country == "US")
    mx = next(inst for inst in world.institutions if inst.country == "MX")
    world = replace(
        world,
        institutions=(replace(us, lvtr_miss_rate=0.0), replace(mx, lvtr_miss_rate=0.0)),
        calendar=Calendar(date(2026, 3, 2), 40),  # a Monday; CTRs filed in the window
    )
    pop = Population(world, random.Random(1))
    return (
        pop,
        create_party(pop, world.institutions[0], "salaried"),
        create_party(pop, world.institutions[1], "mx_salaried"),
    )


def _cash(pop: Population, party: Party, day: int, hour: float, amount: float) -> str:
    txn = pop.emit(
        party, day, hour, 1.0, local_amount=amount, instrument="cash", direction="in",
        channel="branch",
    )  # fmt: skip
    assert txn is not None
    return txn.transaction_id


class TestFiler:
    def test_us_ctr_more_than_10000_per_business_day_aggregated_weekend_on_monday(self) -> None:
        pop, person, _ = _filing_world()
        single = _cash(pop, person, 1, 11, 12_000)  # Tuesday
        exactly = _cash(pop, person, 2, 11, 10_000)  # Wednesday: exactly $10,000 is not reported
        pieces = [_cash(pop, person, 3, hour, 4_000) for hour in (9, 12, 15)]  # Thursday
        weekend = [_cash(pop, person, 5, 11, 6_000), _cash(pop, person, 7, 11, 5_000)]
        below = [_cash(pop, person, 8, 10, 5_000), _cash(pop, person, 9, 10, 5_500)]
        reports = Filer(pop, random.Random(2)).reports()
        types = {
            report.doc["transaction"]["transaction_id"]: report.doc["report_type"]
            for report in reports
        }
        assert types[single] == "LVTR"
        assert types[exactly] == "TXN"
        assert all(types[txn] == "TXN" for txn in [*pieces, *weekend, *below])
        aggregated = sorted(
            Decimal(report.doc["transaction"]["amount"])
            for report in reports
            if report.doc["report_type"] == "LVTR"
            and report.doc["transaction"]["transaction_id"] != single
        )
        assert aggregated == [Decimal("11000.00"), Decimal("12000.00")]

    def test_mx_ror_each_cash_operation_from_7500_dollars_equivalent(self) -> None:
        pop, _, person = _filing_world()
        rate = pop.world.fx["MXN"]
        at = _cash(pop, person, 1, 11, round(7_500 * rate + 1))
        under = _cash(pop, person, 2, 11, round(7_500 * rate - 1))
        halves = [_cash(pop, person, 3, hour, round(5_000 * rate)) for hour in (9, 14)]
        reports = Filer(pop, random.Random(2)).reports()
        types = {
            report.doc["transaction"]["transaction_id"]: report.doc["report_type"]
            for report in reports
        }
        assert types[at] == "LVTR"
        assert types[under] == "TXN"
        assert [types[txn] for txn in halves] == ["TXN", "TXN"]
        assert sum(report.doc["report_type"] == "LVTR" for report in reports) == 1


class TestScript:
    def test_cli_writes_the_three_files(self, tmp_path: Path) -> None:
        result = subprocess.run(
            [sys.executable, str(ROOT / "bench/populations/generate.py"), "--world",
             "small_bank", "--seed", "3", "--out", str(tmp_path)],
            capture_output=True, text=True, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = orjson.loads(result.stdout)
        assert summary["reports"] == len((tmp_path / "reports.jsonl").read_bytes().splitlines())
        assert summary["laundering_subjects"] == sum(
            line["laundering"] for line in lines(tmp_path / "subjects.jsonl")
        )
