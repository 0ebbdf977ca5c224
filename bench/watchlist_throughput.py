"""Worker throughput with a 20,000-entry watchlist against without one, back to back.

    .venv/bin/python bench/watchlist_throughput.py --runs 3            # 20,000 entries
    .venv/bin/python bench/watchlist_throughput.py --entries 20000 --reports 50000 --warmup 50000

Per run, two measurements of ``bench/e2e_bench.py``'s throughput set-up (a fresh PostgreSQL
database, a fresh topic, the same generated stream, the real ``Worker`` with the
detector of ``build_detector``, which screens every report's subject and counterparty):
one with no list loaded and one with a synthetic list of ``--entries`` entries loaded before
the worker starts, in alternating order (run 0: without first; run 1: with first; …). The
ratio with/without is taken within each run; medians of ``--runs``.

The synthetic list is drawn from the same kinds of names the generated stream uses (common
Mexican and American given names and surnames, Spanish and English company words with legal
forms) mixed with a coined word per name, so retrieval finds candidates for many of the
stream's names and the matcher does real work, without every "Juan García" being listed; 5
entries are counterparties of the stream, so a few reports alert.

Besides the rates (wall clock, which the shared machine's load moves by tens of percent from one
run to the next), the worker's CPU time per measured report is given (``getrusage`` of this
process, which runs nothing but the worker then, from the end of the warm-up to the last
report): less sensitive to the other processes on the machine. The index is built during the
warm-up, so neither figure includes it (the warm-up's ``watchlist`` stage does). The
index is built in the worker's first batch (the warm-up), as after any list load.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import threading
import time
from collections import Counter
from pathlib import Path

from bench.e2e_bench import (
    DEFAULT_MODEL,
    build_worker,
    check_store,
    encoded,
    measured_rate,
    postgres_database,
    produce,
    run_settings,
    stage_totals,
    stream,
)
from bench.watchlist_quality import (
    COMPANY_NAMES,
    COMPANY_WORDS,
    EN_COMPANY,
    EN_FORMS,
    EN_KINDS,
    MX_FORMS,
    MX_GIVEN,
    MX_SURNAMES,
    RU_GIVEN,
    RU_SURNAMES,
    US_GIVEN,
    US_SURNAMES,
)
from models.train import ensure_default_model
from services.config import Settings
from services.db import make_engine, transaction
from services.orm_registry import make_sessionmaker
from services.watchlists.entries import Alias, ListEntry
from services.watchlists.formats import ListFormat, ParsedList
from services.watchlists.names import PartyKind
from services.watchlists.service import load_version
from streaming.broker import EmbeddedBroker
from streaming.metrics import WorkerMetrics
from tests.conftest import free_port

MORE_GIVEN = [
    "Daniel",
    "Eduardo",
    "Pedro",
    "Manuel",
    "Javier",
    "Arturo",
    "Gabriela",
    "Laura",
    "Sofía",
    "Claudia",
    "Silvia",
    "Mónica",
    "Alberto",
    "Enrique",
    "Pablo",
    "Andrés",
    "Diego",
    "Valeria",
]
MORE_SURNAMES = [
    "Torres",
    "Rivera",
    "Vargas",
    "Castro",
    "Ortega",
    "Rojas",
    "Silva",
    "Luna",
    "Estrada",
    "Cervantes",
    "Juárez",
    "Rosas",
    "Navarro",
    "Delgado",
    "Lara",
    "Campos",
    "Vega",
    "Soto",
    "Lee",
    "Kelly",
    "Carter",
    "Cooper",
    "Richardson",
    "Wang",
    "Clark",
    "Lewis",
    "Walker",
]
COMPANY_EXTRA = [
    "Norte",
    "Sur",
    "Centro",
    "Occidente",
    "Internacional",
    "Global",
    "Express",
    "Premier",
    "Consolidated",
    "United",
    "Metro",
    "Coastal",
    "Prairie",
    "Mission",
    "Alamo",
    "Valle",
]


SYLLABLES = [
    "ba",
    "be",
    "ca",
    "ce",
    "da",
    "do",
    "fa",
    "ga",
    "go",
    "ja",
    "la",
    "le",
    "lo",
    "ma",
    "me",
    "na",
    "no",
    "pa",
    "ra",
    "re",
    "ri",
    "sa",
    "ta",
    "te",
    "to",
    "va",
    "za",
    "zu",
    "ti",
    "bo",
]


def coined(rng: random.Random) -> str:
    """A plausible word that is no common name: list names share some words with the stream,
    never all of them, as a real list shares given names and surnames with a bank's
    customers without naming them."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice([3, 3, 4]))).capitalize()


def synthetic_list(size: int, seed: int, stream_names: list[tuple[str, str]]) -> list[ListEntry]:
    """``size`` entries, about 70 % persons and 30 % companies, each mixing common name words
    with a coined one; the first ones are ``stream_names`` (real hits)."""
    rng = random.Random(seed)
    given = MX_GIVEN + MORE_GIVEN + US_GIVEN + [item[0] for item in RU_GIVEN]
    surnames = MX_SURNAMES + MORE_SURNAMES + US_SURNAMES + [item[0] for item in RU_SURNAMES]
    entries: list[ListEntry] = []
    seen: set[str] = set()
    for name, kind in stream_names:
        seen.add(name.casefold())
        entries.append(
            ListEntry(
                f"S{len(entries):05d}",
                PartyKind.PERSON if kind == "person" else PartyKind.ENTITY,
                name,
            )
        )
    while len(entries) < size:
        if rng.random() < 0.7:
            first = rng.sample(given, rng.choice([1, 1, 2]))
            last = [rng.choice(surnames), coined(rng)]
            rng.shuffle(last)
            name = f"{' '.join(last).upper()}, {' '.join(first)}"
            kind = PartyKind.PERSON
        else:
            words = [rng.choice(COMPANY_WORDS + EN_COMPANY), coined(rng)]
            if rng.random() < 0.5:
                words.append(rng.choice(COMPANY_NAMES + EN_KINDS + COMPANY_EXTRA))
            name = f"{' '.join(words)} {rng.choice(MX_FORMS + EN_FORMS)}"
            kind = PartyKind.ENTITY
        if name.casefold() in seen:
            continue
        seen.add(name.casefold())
        aliases = (
            (Alias(rng.choice(["EL GÜERO", "EL FLACO", "EL CHAVO"]), weak=True),)
            if kind is PartyKind.PERSON and rng.random() < 0.1
            else ()
        )
        birth = (
            (f"{rng.randint(1950, 1995)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",)
            if kind is PartyKind.PERSON and rng.random() < 0.8
            else ()
        )
        entries.append(
            ListEntry(f"E{len(entries):05d}", kind, name, aliases=aliases, birth_dates=birth)
        )
    return entries


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_worker(
    args: argparse.Namespace, settings: Settings, total: int
) -> tuple[float, float, dict[str, float]]:
    """The worker in this process until ``total`` reports are stored: its rate over the
    measured reports, its CPU seconds per report over them, and its stage totals."""
    metrics = WorkerMetrics()
    worker = build_worker(settings, target=total, metrics=metrics)
    worker.threshold = args.warmup
    mark: dict[str, float] = {}

    def watch() -> None:
        worker.passed.wait()
        mark["cpu"], mark["stored"] = _cpu_seconds(), worker.inserted

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    worker.run()
    watcher.join(timeout=10)
    cpu = (_cpu_seconds() - mark["cpu"]) / max(total - mark["stored"], 1)
    rate = measured_rate(worker.progress, args.warmup, args.reports)
    return rate, cpu, stage_totals(metrics)


def load(url: str, entries: list[ListEntry]) -> float:
    engine = make_engine(url)
    started = time.perf_counter()
    with transaction(make_sessionmaker(engine)) as session:
        load_version(
            session,
            name="synthetic",
            parsed=ParsedList(entries, "0" * 64, ["synthetic"]),
            list_format=ListFormat.CSV,
            loaded_by="bench",
        )
    engine.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--reports", type=int, default=50_000, help="measured reports")
    parser.add_argument("--warmup", type=int, default=50_000, help="reports processed first")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--poll-timeout-ms", type=int, default=500)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args()
    args.model = args.model.resolve()
    ensure_default_model(args.model)
    total = args.warmup + args.reports
    documents = stream(total, args.days)
    records = encoded(documents)
    # A few real hits: counterparties named in a single report each, as a list's designated
    # persons are rare among a bank's counterparties (and a hit's alert costs what any alert
    # costs, which is not what this measures).
    seen = Counter(
        (party["name"], party.get("type") or "person")
        for doc in documents
        if (party := (doc.get("transaction") or {}).get("counterparty") or {}).get("name")
    )
    once = sorted(name for name, count in seen.items() if count == 1)
    entries = synthetic_list(args.entries, args.seed, random.Random(args.seed).sample(once, 5))
    print(f"{len(entries):,} list entries, {total:,} reports ({args.warmup:,} warm-up)", flush=True)
    ratios: list[float] = []
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    with EmbeddedBroker(free_port()) as broker:
        for run in range(args.runs):
            order = [False, True] if run % 2 == 0 else [True, False]
            measured: dict[bool, float] = {}
            for with_list in order:
                with postgres_database() as url:
                    settings = run_settings(args, url, broker.bootstrap)
                    produce(broker.bootstrap, settings.topic_reports, records)
                    loaded = load(url, entries) if with_list else 0.0
                    rate, cpu, stages = run_worker(args, settings, total)
                    _, alerts = check_store(url, total)
                measured[with_list] = rate
                rates[with_list].append(rate)
                cpus[with_list].append(cpu)
                screening = stages.get("watchlist", 0.0) / total * 1e6
                print(
                    f"run {run} {'with' if with_list else 'without'} list: {rate:,.0f} reports/s,"
                    f" CPU {cpu * 1e6:.0f} µs/report,"
                    f" {alerts} alerts, watchlist stage {screening:.1f} µs/report (whole run)"
                    + (f", list stored in {loaded:.1f} s" if with_list else ""),
                    flush=True,
                )
            ratios.append(measured[True] / measured[False])
            print(
                f"run {run}: rate ratio with/without {ratios[-1]:.3f}, CPU per report ratio"
                f" {cpus[True][-1] / cpus[False][-1]:.3f}",
                flush=True,
            )
    print(
        f"median of {args.runs}: without {statistics.median(rates[False]):,.0f}/s,"
        f" with {args.entries:,} entries {statistics.median(rates[True]):,.0f}/s,"
        f" ratio {statistics.median(ratios):.3f} (runs {', '.join(f'{r:.3f}' for r in ratios)});"
        f" CPU per report without {statistics.median(cpus[False]) * 1e6:.0f} µs,"
        f" with {statistics.median(cpus[True]) * 1e6:.0f} µs"
    )


if __name__ == "__main__":
    main()
