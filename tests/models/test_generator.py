"""Tests of the synthetic population and typology generator."""

from __future__ import annotations

import gc
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from models.generator import (
    TYPOLOGIES,
    GeneratorConfig,
    Labelled,
    TypologyParams,
    _Simulator,
    generate,
    institutions,
    write_jsonl,
)
from models.typologies import MX_ROR_THRESHOLD_MXN_MINOR
from refdata.thresholds import MX_ROR_CENTS
from refdata.wire import ReportV1

START = datetime(2026, 10, 1, tzinfo=UTC)
SIMULATED_INSTITUTIONS = {inst.institution_id for inst in institutions()}
PRIORITY = ("SSN", "ITIN", "EIN", "RFC", "CURP", "PASSPORT")
TOP_LEVEL = {
    "schema_version",
    "report_id",
    "report_type",
    "institution_id",
    "jurisdiction",
    "filed_at",
    "subject",
    "transaction",
    "suspicion",
}
TRANSACTION_KEYS = {
    "transaction_id",
    "timestamp",
    "amount",
    "currency",
    "instrument",
    "direction",
    "channel",
    "account_id",
    "account_opened",
    "location",
    "counterparty",
}


def _minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


def _stream_time(report: dict[str, Any]) -> str:
    transaction = report.get("transaction")
    return str(transaction["timestamp"] if transaction else report["filed_at"])


_SHAPE = str.maketrans("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "9" * 10 + "A" * 26)


def _shape(value: str) -> str:
    """Returns the pattern of an id: digits as 9, capitals as A."""
    return value.translate(_SHAPE)


@dataclass
class RunSummary:
    """What one pass over a 200k-report stream found (the stream is never kept)."""

    count: int = 0
    typologies: Counter[str | None] = field(default_factory=Counter)
    report_types: Counter[str] = field(default_factory=Counter)
    unsorted: int = 0
    invalid: list[str] = field(default_factory=list)
    validated: int = 0
    leaks: list[str] = field(default_factory=list)
    unknown_keys: set[str] = field(default_factory=set)
    lvtr_mismatch: list[str] = field(default_factory=list)
    # structuring: case -> [(currency, minor, date, direction, instrument, jurisdiction)]
    structuring: dict[str, list[tuple[str, int, str, str, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # round-tripping: case -> edges (payer account -> payee account)
    cycles: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    identities: dict[tuple[str, str], set[tuple[Any, ...]]] = field(
        default_factory=lambda: defaultdict(set)
    )
    key_institutions: dict[tuple[str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    own_accounts: set[tuple[str, str]] = field(default_factory=set)
    referenced_accounts: set[tuple[str, str]] = field(default_factory=set)
    shapes: dict[bool, dict[str, set[str]]] = field(
        default_factory=lambda: {True: defaultdict(set), False: defaultdict(set)}
    )
    cross_border_samples: list[dict[str, Any]] = field(default_factory=list)


def _summarise(params: TypologyParams, seed: int, n: int = 200_000) -> RunSummary:
    summary = RunSummary()
    config = GeneratorConfig(seed=seed, n_reports=n, start=START, params=params)
    forbidden = [t.encode() for t in TYPOLOGIES] + [b"launder", b"typolog"]
    previous = ""
    for index, item in enumerate(generate(config)):
        report = item.report
        summary.count += 1
        summary.typologies[item.typology] += 1
        report_type = report["report_type"]
        summary.report_types[report_type] += 1
        now = _stream_time(report)
        if now < previous:
            summary.unsorted += 1
        previous = now
        laundering = item.typology is not None
        if laundering or report_type != "TXN" or index % 40 == 0:
            try:
                ReportV1.model_validate(report)
                summary.validated += 1
            except ValueError as error:
                summary.invalid.append(str(error)[:300])
        raw = orjson.dumps(report).lower()
        if item.case_id is not None and item.case_id.lower().encode() in raw:
            summary.leaks.append(f"case id in {report['report_id']}")
        for word in forbidden:
            if word in raw:
                summary.leaks.append(f"{word!r} in {report['report_id']}")
        summary.unknown_keys |= set(report) - TOP_LEVEL
        subject = report["subject"]
        identifiers = tuple(
            sorted((i["type"], i["value"], i.get("country")) for i in subject["identifiers"])
        )
        by_type = {i[0]: i for i in identifiers}
        strongest = next(by_type[t] for t in PRIORITY if t in by_type)
        key = (strongest[0], strongest[1])
        summary.identities[key].add((subject["name"], subject["type"], identifiers))
        summary.key_institutions[key].add(report["institution_id"])
        if len(summary.key_institutions[key]) == 2 and len(summary.cross_border_samples) < 50:
            summary.cross_border_samples.append(report)
        transaction = report.get("transaction")
        ids = {"report_id": report["report_id"], "subject_id": subject["subject_id"]}
        if transaction is not None:
            extra = set(transaction) - TRANSACTION_KEYS
            summary.unknown_keys |= {f"transaction.{k}" for k in extra}
            ids["account_id"] = transaction["account_id"]
            own = (report["institution_id"], transaction["account_id"])
            summary.own_accounts.add(own)
            counterparty = transaction.get("counterparty") or {}
            if counterparty.get("institution_id") in SIMULATED_INSTITUTIONS:
                theirs = (counterparty["institution_id"], counterparty["account_id"])
                summary.referenced_accounts.add(theirs)
            minor = _minor(transaction["amount"])
            cash = transaction["instrument"] == "cash"
            if report["jurisdiction"] == "US":
                over = cash and minor > 1_000_000
            else:
                limit = (
                    MX_ROR_THRESHOLD_MXN_MINOR if transaction["currency"] == "MXN" else MX_ROR_CENTS
                )
                over = cash and minor >= limit
            if over != (report_type == "LVTR"):
                summary.lvtr_mismatch.append(report["report_id"])
            if item.typology == "structuring" and item.case_id is not None:
                summary.structuring[item.case_id].append(
                    (
                        transaction["currency"],
                        minor,
                        transaction["timestamp"][:10],
                        transaction["direction"],
                        transaction["instrument"],
                        report["jurisdiction"],
                    )
                )
            if (
                item.typology == "round_tripping"
                and item.case_id is not None
                and transaction["direction"] == "out"
                and counterparty.get("account_id")
            ):
                summary.cycles[item.case_id].add(
                    (transaction["account_id"], counterparty["account_id"])
                )
        for name, value in ids.items():
            summary.shapes[laundering][name].add(_shape(value))
    return summary


def _has_cycle(edges: set[tuple[str, str]]) -> bool:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    return any(reaches(node, node, set()) for node in graph)


@pytest.fixture(scope="module", params=["training", "evaluation"])
def run(request: pytest.FixtureRequest) -> tuple[str, RunSummary]:
    params = getattr(TypologyParams, request.param)()
    return request.param, _summarise(params, seed=11)


class TestStream:
    def test_count_and_validity(self, run: tuple[str, RunSummary]) -> None:
        _, summary = run
        assert summary.count == 200_000
        assert summary.invalid == []
        assert summary.validated > 5_000
        assert set(summary.report_types) == {"TXN", "LVTR", "STR"}

    def test_time_order(self, run: tuple[str, RunSummary]) -> None:
        assert run[1].unsorted == 0

    def test_every_typology_appears(self, run: tuple[str, RunSummary]) -> None:
        _, summary = run
        seen = {t for t in summary.typologies if t is not None}
        assert seen == set(TYPOLOGIES)
        legit = summary.typologies[None] / summary.count
        assert 0.9 < legit < 0.999

    def test_no_label_leakage(self, run: tuple[str, RunSummary]) -> None:
        _, summary = run
        assert summary.leaks == []
        assert summary.unknown_keys == set()

    def test_laundering_ids_look_like_everyone_elses(self, run: tuple[str, RunSummary]) -> None:
        _, summary = run
        for name, shapes in summary.shapes[True].items():
            assert shapes <= summary.shapes[False][name], name

    def test_lvtr_for_cash_over_threshold(self, run: tuple[str, RunSummary]) -> None:
        assert run[1].lvtr_mismatch == []

    def test_structuring_legs_below_threshold_daily_sum_above(
        self, run: tuple[str, RunSummary]
    ) -> None:
        _, summary = run
        assert summary.structuring
        for case_id, legs in summary.structuring.items():
            cash_in = [leg for leg in legs if leg[4] == "cash" and leg[3] == "in"]
            assert cash_in, case_id
            daily: Counter[str] = Counter()
            limit = 0
            for currency, minor, day, _direction, _instrument, jurisdiction in cash_in:
                if jurisdiction == "US":
                    limit = 1_000_000
                else:
                    limit = MX_ROR_THRESHOLD_MXN_MINOR if currency == "MXN" else MX_ROR_CENTS
                assert minor < limit, (case_id, minor)
                assert minor >= 0.75 * limit, (case_id, minor)
                daily[day] += minor
            assert max(daily.values()) > limit, case_id

    def test_round_trips_close_a_cycle(self, run: tuple[str, RunSummary]) -> None:
        _, summary = run
        assert summary.cycles
        closed = sum(_has_cycle(edges) for edges in summary.cycles.values())
        # A scheme cut by the end of the stream may not have closed yet.
        assert closed >= max(1, len(summary.cycles) - 2)

    def test_subject_identity_consistent_across_institutions(
        self, run: tuple[str, RunSummary]
    ) -> None:
        _, summary = run
        inconsistent = {k: v for k, v in summary.identities.items() if len(v) != 1}
        assert inconsistent == {}
        multi = [k for k, v in summary.key_institutions.items() if len(v) >= 2]
        cross_border = [
            k for k, v in summary.key_institutions.items() if {i[:2] for i in v} == {"US", "MX"}
        ]
        assert len(multi) > 50
        assert cross_border

    def test_subject_key_links_institutions(self, run: tuple[str, RunSummary]) -> None:
        _, summary = run
        assert summary.cross_border_samples
        for report in summary.cross_border_samples:
            key = ReportV1.model_validate(report).subject_key
            assert not key.startswith("LOCAL-")

    def test_counterparty_accounts_are_real(self, run: tuple[str, RunSummary]) -> None:
        _, summary = run
        referenced = summary.referenced_accounts
        unknown = referenced - summary.own_accounts
        assert len(referenced) > 1_000
        # Only in-legs cut off by the end of the stream may be missing.
        assert len(unknown) <= len(referenced) * 0.002, sorted(unknown)[:5]


class TestParams:
    def test_regimes_differ(self) -> None:
        training, evaluation = TypologyParams.training(), TypologyParams.evaluation()
        assert training != evaluation
        differing = [
            name
            for name in training.__dataclass_fields__
            if getattr(training, name) != getattr(evaluation, name)
        ]
        assert len(differing) > 30

    def test_default_config_uses_training(self) -> None:
        config = GeneratorConfig(seed=1, n_reports=1, start=START)
        assert config.params == TypologyParams.training()

    def test_naive_start_rejected(self) -> None:
        config = GeneratorConfig(seed=1, n_reports=10, start=datetime(2026, 1, 1))  # noqa: DTZ001
        with pytest.raises(ValueError, match="timezone-aware"):
            next(generate(config))


class TestFiles:
    def test_labels_side_file_matches_reports(self, tmp_path: Path) -> None:
        config = GeneratorConfig(seed=5, n_reports=30_000, start=START)
        reports_path, labels_path = tmp_path / "r.jsonl", tmp_path / "l.jsonl"
        assert write_jsonl(config, reports_path, labels_path) == 30_000
        reports = reports_path.read_bytes().splitlines()
        labels = labels_path.read_bytes().splitlines()
        assert len(reports) == len(labels) == 30_000
        keys: set[tuple[str, str]] = set()
        for raw_report, raw_label in zip(reports, labels, strict=True):
            report, label = orjson.loads(raw_report), orjson.loads(raw_label)
            assert set(label) == {"institution_id", "report_id", "typology", "case_id"}
            key = (report["institution_id"], report["report_id"])
            assert (label["institution_id"], label["report_id"]) == key
            keys.add(key)
            assert label["typology"] in (None, *TYPOLOGIES)
            assert (label["typology"] is None) == (label["case_id"] is None)
        assert len(keys) == 30_000  # (institution_id, report_id) is unique

    def test_same_seed_same_bytes_other_seed_differs(self, tmp_path: Path) -> None:
        outputs = []
        for run_number, seed in enumerate((7, 7, 8)):
            config = GeneratorConfig(seed=seed, n_reports=20_000, start=START)
            reports, labels = tmp_path / f"r{run_number}", tmp_path / f"l{run_number}"
            write_jsonl(config, reports, labels)
            outputs.append((reports.read_bytes(), labels.read_bytes()))
        assert outputs[0] == outputs[1]
        assert outputs[0][0] != outputs[2][0]

    def test_generate_and_write_agree(self, tmp_path: Path) -> None:
        config = GeneratorConfig(seed=3, n_reports=2_000, start=START)
        streamed = [orjson.dumps(item.report) for item in generate(config)]
        write_jsonl(config, tmp_path / "r", tmp_path / "l")
        assert streamed == (tmp_path / "r").read_bytes().splitlines()


class TestPopulation:
    def test_subject_has_same_identifiers_at_every_institution(self) -> None:
        config = GeneratorConfig(seed=21, n_reports=40_000, start=START)
        world = _Simulator(config)
        pop = world.pop
        owner: dict[tuple[str, str], int] = {}
        for subject, accounts in enumerate(pop.accounts):
            if len({pop.a_inst[a] for a in accounts}) >= 2:
                for a in accounts:
                    institution = world.insts[pop.a_inst[a]].institution_id
                    owner[(institution, pop.a_number[a])] = subject
        assert len(owner) > 100
        seen: dict[int, set[tuple[Any, ...]]] = defaultdict(set)
        institutions_seen: dict[int, set[str]] = defaultdict(set)
        for item in generate(config):
            transaction = item.report.get("transaction")
            if transaction is None:
                continue
            subject = owner.get((item.report["institution_id"], transaction["account_id"]))
            if subject is None:
                continue
            identifiers = item.report["subject"]["identifiers"]
            seen[subject].add(tuple(sorted(tuple(sorted(i.items())) for i in identifiers)))
            institutions_seen[subject].add(item.report["institution_id"])
        linked = [s for s, insts in institutions_seen.items() if len(insts) >= 2]
        assert len(linked) > 20
        assert all(len(seen[s]) == 1 for s in linked)
        strong = {"SSN", "ITIN", "EIN", "RFC"}
        for s in linked:
            (identifiers,) = seen[s]
            assert strong & {dict(i)["type"] for i in identifiers}


class TestMemory:
    def test_memory_does_not_grow_with_the_stream(self) -> None:
        """Five times more reports over five times more days: same population, same memory."""

        def peak(n_reports: int, days: int) -> int:
            gc.collect()
            tracemalloc.start()
            try:
                config = GeneratorConfig(seed=9, n_reports=n_reports, start=START, days=days)
                count = sum(1 for _ in generate(config))
                assert count == n_reports
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        short = peak(5_000, 5)
        long = peak(20_000, 20)
        assert long < short * 1.5 + 2_000_000, (short, long)
        assert long < 40_000_000

    def test_stream_is_lazy(self) -> None:
        config = GeneratorConfig(seed=1, n_reports=10_000_000, start=START, days=3_650)
        stream = generate(config)
        first = next(stream)
        assert isinstance(first, Labelled)
        stream.close()
