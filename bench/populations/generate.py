"""Writes an evaluation population: wire-format v1 reports with their labels.

    python bench/populations/generate.py --world baseline --seed 1 --out /tmp/pop

writes ``reports.jsonl`` (wire format v1, one report a line, in arrival order),
``labels.jsonl`` (one line per report, same order: ``institution_id``, ``report_id``,
``typology`` or null, ``subject_id``) and ``subjects.jsonl`` (one line per customer:
``institution_id``, ``subject_id``, ``laundering``, ``typology``, plus its segment, look-alike
kind and report count), and ``world.json`` (the drawn world parameters).

This generator was written without reference to the project's own simulator, features or
rules. Its populations are for evaluation only: never train or tune the shipped model on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

# Run as a script: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson

from bench.populations.core import Institution
from bench.populations.filing import Filer, Report
from bench.populations.legit import create_party, run
from bench.populations.population import Population
from bench.populations.schemes import embed
from bench.populations.worlds import (
    CAMBIO_SEGMENTS,
    LOOKALIKES,
    MSB_SEGMENTS,
    WORLDS,
    World,
    build_world,
)


def _allocate(total: int, weights: list[float], rng: random.Random) -> list[int]:
    """Splits ``total`` into integer parts proportional to ``weights`` (largest remainder)."""
    scale = total / sum(weights)
    exact = [weight * scale for weight in weights]
    counts = [int(value) for value in exact]
    largest_remainder_first = sorted(
        range(len(exact)), key=lambda i: (counts[i] - exact[i], rng.random())
    )
    for index in largest_remainder_first[: total - sum(counts)]:
        counts[index] += 1
    return counts


def _segment(world: World, institution: Institution, rng: random.Random) -> tuple[str, str | None]:
    """(segment, look-alike kind) for a new legitimate customer of ``institution``."""
    if institution.kind == "msb":
        mix = MSB_SEGMENTS
    elif institution.kind == "casa_de_cambio":
        mix = CAMBIO_SEGMENTS
    else:
        if rng.random() < world.lookalike_share:
            name = rng.choice(LOOKALIKES[institution.country])
            return name, name
        table = world.entity_mix if rng.random() < world.entity_share else world.person_mix
        mix = table[institution.country]
    segment = rng.choices(list(mix), list(mix.values()))[0]
    lookalike = (
        segment
        if segment in ("treasury", "escrow", "payroll_processor", "seasonal_business", "landlord")
        else None
    )
    return segment, lookalike


def build_population(world: World) -> Population:
    """Draws every customer of ``world`` and their activity, legitimate and laundering."""
    rng = random.Random(f"{world.name}/{world.seed}/population")
    pop = Population(world, rng)
    laundering = round(world.n_subjects * world.laundering_share)
    institutions = list(world.institutions)
    counts = _allocate(world.n_subjects - laundering, [inst.size for inst in institutions], rng)
    for institution, count in zip(institutions, counts, strict=True):
        for _ in range(count):
            segment, lookalike = _segment(world, institution, rng)
            party = create_party(pop, institution, segment, lookalike=lookalike)
            run(pop, party)
    per_typology = _allocate(laundering, [1.0] * len(world.typologies), rng)
    for typology, subjects in zip(world.typologies, per_typology, strict=True):
        embed(pop, typology, subjects)
    return pop


def write_population(world: World, out: Path) -> dict[str, Any]:
    """Generates ``world`` into ``out``; returns a summary."""
    started = time.perf_counter()
    pop = build_population(world)
    reports = Filer(pop, random.Random(f"{world.name}/{world.seed}/filing")).reports()
    out.mkdir(parents=True, exist_ok=True)
    _number(reports)
    per_subject: Counter[tuple[str, str]] = Counter()
    with (
        (out / "reports.jsonl").open("wb") as report_file,
        (out / "labels.jsonl").open("wb") as label_file,
    ):
        for report in reports:
            report_file.write(orjson.dumps(report.doc, option=orjson.OPT_APPEND_NEWLINE))
            label = {
                "institution_id": report.doc["institution_id"],
                "report_id": report.doc["report_id"],
                "typology": report.typology,
                "subject_id": report.party.subject_id,
            }
            label_file.write(orjson.dumps(label, option=orjson.OPT_APPEND_NEWLINE))
            per_subject[report.party.key] += 1
    with (out / "subjects.jsonl").open("wb") as subject_file:
        for party in pop.parties:
            line = {
                "institution_id": party.institution.institution_id,
                "subject_id": party.subject_id,
                "laundering": party.laundering,
                "typology": party.typology,
                "segment": party.segment,
                "kind": party.kind,
                "lookalike": party.lookalike,
                "reports": per_subject[party.key],
            }
            subject_file.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
    summary = _summary(world, pop, reports, time.perf_counter() - started)
    (out / "world.json").write_bytes(
        orjson.dumps({"world": _world_doc(world), "summary": summary}, option=orjson.OPT_INDENT_2)
    )
    return summary


def _number(reports: list[Report]) -> None:
    """Report ids in arrival order, unique per institution (nothing about the subject)."""
    counters: Counter[str] = Counter()
    for report in reports:
        institution_id = report.doc["institution_id"]
        counters[institution_id] += 1
        code = institution_id.replace("-", "")
        report.doc["report_id"] = f"{code}-{report.filed_at:%Y}-{counters[institution_id]:07d}"


def _summary(
    world: World, pop: Population, reports: list[Report], seconds: float
) -> dict[str, Any]:
    by_type = Counter(report.doc["report_type"] for report in reports)
    laundering = [party for party in pop.parties if party.laundering]
    return {
        "world": world.name,
        "seed": world.seed,
        "subjects": len(pop.parties),
        "laundering_subjects": len(laundering),
        "typologies": dict(Counter(party.typology for party in laundering)),
        "reports": len(reports),
        "laundering_reports": sum(1 for report in reports if report.typology),
        "report_types": dict(by_type),
        "institutions": {inst.institution_id: inst.country for inst in world.institutions},
        "seconds": round(seconds, 2),
    }


def _world_doc(world: World) -> dict[str, Any]:
    doc = dataclasses.asdict(world)
    doc["calendar"] = {"start": world.calendar.start.isoformat(), "days": world.calendar.days}
    for institution in doc["institutions"]:
        institution["branches"] = len(institution["branches"])
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", required=True, choices=sorted(WORLDS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    summary = write_population(build_world(args.world, args.seed), args.out)
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
