"""The generator: a world's population, walked day by day, as a labelled stream of reports.

The simulation builds a population of US and Mexican persons and entities with accounts at
US and Mexican institutions (``simulator.population``), draws each subject's habits
(``simulator.profiles``), plans the laundering cases (``simulator.typologies``), the
legitimate look-alikes and the defensive filings (``simulator.lookalikes``), then walks the
calendar one day at a time: the day's legitimate activity (``simulator.legit``), the episodes
whose day has come, sorted and emitted as wire documents (``simulator.reports``). Only a day
of compact event tuples is held at a time, so a 10M-report stream runs in memory bounded by
the population, never by the stream.

Every report is labelled on the side (:class:`Labelled`); the wire message itself carries no
label, and launderers are ordinary members of the population (same names, ids, accounts).
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from refdata.typologies import TYPOLOGIES
from simulator import lookalikes, typologies
from simulator.legit import legit_day
from simulator.lookalikes import Episode, defensive_str
from simulator.population import weighted
from simulator.profiles import Profiles, build_profiles
from simulator.reports import Reporter
from simulator.scene import Simulation
from simulator.typologies import Case
from simulator.world import World

PILOT_DAYS = 14
# Reports per subject and day of the default world, a first guess before the pilot run.
FIRST_GUESS_PER_SUBJECT_DAY = 1.13


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate: the seed, the stream length, the world and how much laundering.

    The population is sized so that ``n_reports`` span about ``days`` days in this world;
    the stream always has exactly ``n_reports`` reports (it runs a little past ``days`` if it
    must). ``laundering_share`` is the number of schemes per subject: each scheme has one
    main subject, and with its conductors, mules and counterparties about 3-4 times as many
    subjects appear in laundering reports (2% gives ~7% of subjects, ~0.5% of reports).
    """

    seed: int
    n_reports: int
    start: datetime  # aware UTC
    days: int = 60
    laundering_share: float = 0.02
    world: World = field(default_factory=World.default)


@dataclass(frozen=True, slots=True)
class Labelled:
    """One wire-format v1 report and its labels (never inside the report).

    ``lookalike`` names the legitimate episode a legitimate report belongs to, if any.
    """

    report: dict[str, Any]
    typology: str | None
    case_id: str | None
    lookalike: str | None = None


EpisodeLabel = tuple[str | None, str | None, str | None]  # typology, case id, look-alike


def subjects_for(config: GeneratorConfig) -> int:
    """Sizes the population so that ``n_reports`` take about ``days`` days in the world.

    A pilot population (at most a thousand subjects, with small pools of outside parties,
    which change no count) lives the first two weeks; its reports per subject and day give
    the size.
    """
    per_day = config.n_reports / config.days
    guess = max(80, round(per_day / FIRST_GUESS_PER_SUBJECT_DAY))
    pilot_size = max(400, min(1_000, guess))
    pilot = Simulation(
        config.world, config.seed + 7_919, config.start, PILOT_DAYS, pilot_size, pool_scale=0.05
    )
    profiles = build_profiles(pilot)
    g = np.random.default_rng([config.seed, 7_919])
    days = min(PILOT_DAYS, config.days)
    for k in range(days):
        pilot.events.frontier = k * 86_400
        legit_day(pilot, profiles, k, g)
    reports = sum(len(bucket) for bucket in pilot.events.buckets.values())
    rate = max(0.05, reports / (pilot.n_subjects * days))
    return max(80, round(per_day / rate))


class Run:
    """One generator run: the scene, its habits, its plan of episodes and its reports."""

    def __init__(self, config: GeneratorConfig) -> None:
        if config.start.tzinfo is None:
            raise ValueError("GeneratorConfig.start must be timezone-aware (UTC)")
        if config.n_reports < 0 or config.days < 1:
            raise ValueError("n_reports must be >= 0 and days >= 1")
        self.config = config
        self.world = config.world
        self.seed = config.seed
        self.sim = Simulation(
            config.world, config.seed, config.start, config.days, subjects_for(config)
        )
        self.profiles: Profiles = build_profiles(self.sim)
        self.g = np.random.default_rng(config.seed)
        self.labels: list[EpisodeLabel] = []
        self.cases: dict[int, list[Case]] = {}
        self.episodes: dict[int, list[Episode]] = {}
        self.filings: dict[int, list[tuple[int, int]]] = {}  # day -> (subject, episode)
        rng = random.Random(f"{config.seed}:plan")  # noqa: S311 - a seeded simulation, not security
        self.dormant_pool = list(self.sim.pop.dormant)
        rng.shuffle(self.dormant_pool)
        self.plan_cases(rng)
        self.plan_lookalikes(rng)
        self.plan_filings(rng)
        self.reporter = Reporter(self.sim)

    # ---- the plan ---------------------------------------------------------------------------
    def _label(self, label: EpisodeLabel) -> int:
        self.labels.append(label)
        return len(self.labels) - 1

    def plan_cases(self, rng: random.Random) -> None:
        """Laundering cases: every typology once if there is room, then by the world's weights."""
        share = self.config.laundering_share
        n_cases = 0 if share <= 0 else max(1, round(share * self.sim.n_subjects))
        params = self.world.typology
        weights = list(zip(TYPOLOGIES, params.typology_weights, strict=True))
        first = list(TYPOLOGIES)
        rng.shuffle(first)
        kinds = first[:n_cases] + [weighted(rng, weights) for _ in range(n_cases - len(first))]
        days = self.sim.days
        for number, typology in enumerate(kinds):
            latest = max(0, days - typologies.SPAN_DAYS[typology])
            earliest = {"dormant_reactivation": 0.35, "cash_intensive_anomaly": 0.25}
            low = int(days * earliest.get(typology, 0.0))
            day = rng.randint(min(low, latest), latest)
            case_id = f"C-{self.seed:x}-{number:05d}"
            case = Case(self._label((typology, case_id, None)), case_id, typology, day)
            if typology == "dormant_reactivation":
                self._reactivate(case, rng)
            self.cases.setdefault(day, []).append(case)

    def _reactivate(self, case: Case, rng: random.Random) -> None:
        sim = self.sim
        if self.dormant_pool:
            case.subject = self.dormant_pool.pop()
        else:
            case.subject = rng.choice(sim.pools["person_any"] or array("q", [0]))
        low, high = self.world.typology.dormant_idle_days
        case.idle_days = rng.randint(low, high)
        sim.active_until[case.subject] = case.day - case.idle_days
        sim.used.add(case.subject)

    def _count(self, rng: random.Random, per_thousand_month: float) -> int:
        mean = per_thousand_month * self.sim.n_subjects / 1_000 * self.sim.days / 30
        whole = int(mean)
        return whole + (1 if rng.random() < mean - whole else 0)

    def plan_lookalikes(self, rng: random.Random) -> None:
        """Legitimate episodes shaped like laundering, at the world's rates."""
        days = self.sim.days
        for kind, rate in self.world.lookalikes.items():
            for _ in range(self._count(rng, rate)):
                latest = max(0, days - lookalikes.SPAN_DAYS[kind])
                day = rng.randint(0, latest)
                episode = Episode(self._label((None, None, kind)), kind, day)
                if kind == "dormant_return":
                    if not self.dormant_pool:
                        continue
                    episode.subject = self.dormant_pool.pop()
                    episode.day = rng.randint(int(days * 0.2), max(int(days * 0.2), days - 5))
                    self.sim.active_until[episode.subject] = 0
                self.episodes.setdefault(episode.day, []).append(episode)

    def plan_filings(self, rng: random.Random) -> None:
        """Defensive STRs on legitimate customers, a share of them on look-alikes' subjects."""
        pools = self.sim.pools
        plausible = [
            *pools["cash_us"],
            *pools["cash_mx"],
            *pools["person_any"][:200],
            *pools["entity_any"],
        ]
        episodes = [episode for day in self.episodes.values() for episode in day]
        days = self.sim.days
        for _ in range(self._count(rng, self.world.defensive_str) if plausible else 0):
            unfiled = [episode for episode in episodes if not episode.filed]
            if unfiled and rng.random() < self.world.defensive_str_on_lookalikes:
                rng.choice(unfiled).filed = True
                continue
            day = rng.randint(0, days - 1)
            self.filings.setdefault(day, []).append((rng.choice(plausible), -1))

    # ---- the stream -------------------------------------------------------------------------
    def run_episodes(self, k: int) -> None:
        sim = self.sim
        for case in self.cases.pop(k, ()):
            rng = random.Random(f"{self.seed}:case:{case.index}")  # noqa: S311 - a seeded simulation, not security
            typologies.BUILDERS[case.typology](sim, rng, self.world.typology, case)
        for episode in self.episodes.pop(k, ()):
            rng = random.Random(f"{self.seed}:episode:{episode.index}")  # noqa: S311 - a seeded simulation, not security
            account = lookalikes.BUILDERS[episode.kind](sim, rng, episode)
            if episode.filed:
                later = min(sim.days - 1, k + rng.randint(2, 25))
                subject = sim.pop.a_subject[account]
                self.filings.setdefault(later, []).append((subject, episode.index))
        for subject, episode_index in self.filings.pop(k, ()):
            rng = random.Random(f"{self.seed}:filing:{k}:{subject}")  # noqa: S311 - a seeded simulation, not security
            account = sim.account_of(subject)
            defensive_str(sim, rng, k, account, sim.pop.of_segment(subject), episode_index)

    def stream(self) -> Iterator[Labelled]:
        remaining = self.config.n_reports
        labels = self.labels
        report = self.reporter.report
        sim = self.sim
        limit = sim.days * 50 + 365
        k = 0
        while remaining > 0 and k < limit:
            sim.events.frontier = k * 86_400
            legit_day(sim, self.profiles, k, self.g)
            self.run_episodes(k)
            for event in sim.events.take_day(k):
                episode = event[10] if event[2] >= 0 else event[4]
                if episode >= 0:
                    yield Labelled(report(event), *labels[episode])
                else:
                    yield Labelled(report(event), None, None)
                remaining -= 1
                if remaining == 0:
                    return
            k += 1


def generate(config: GeneratorConfig) -> Iterator[Labelled]:
    """Streams ``config.n_reports`` labelled reports in non-decreasing time order.

    The stream time of a report is ``transaction.timestamp``, or ``filed_at`` for an STR
    without a transaction. The same config always gives the same reports.
    """
    yield from Run(config).stream()


def label_line(item: Labelled) -> dict[str, Any]:
    """The labels side-file line of a report."""
    return {
        "institution_id": item.report["institution_id"],
        "report_id": item.report["report_id"],
        "typology": item.typology,
        "case_id": item.case_id,
        "lookalike": item.lookalike,
    }


def write_jsonl(config: GeneratorConfig, reports_path: Path, labels_path: Path) -> int:
    """Writes the reports (one wire report per line) and the labels side file; returns the count.

    Each label line is ``{"institution_id", "report_id", "typology", "case_id", "lookalike"}``,
    legitimate reports included (``typology`` null).
    """
    count = 0
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    buffering = 1 << 20
    with (
        reports_path.open("wb", buffering=buffering) as reports,
        labels_path.open("wb", buffering=buffering) as labels,
    ):
        for item in generate(config):
            reports.write(dumps(item.report, option=newline))
            labels.write(dumps(label_line(item), option=newline))
            count += 1
    return count
