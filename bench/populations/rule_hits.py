"""Which subjects does each rule hit, and which of them does it force? (docs/detection.md §8)

    PYTHONPATH=. .venv/bin/python bench/populations/rule_hits.py --populations var/populations-s2

For every rule, over the worlds of a population seed: the subjects it fires on at least once,
legitimate or laundering, by kind (person or entity) and the subject's typology; and how many
of them it *forces* under the default ``RuleConfig``. A forcing rule spends the alert budget
outside the model's ranking, so its legitimate hits are alerts investigators close. Uses the
cached feature rows of ``compare_models.py`` (``features.parquet``).

Evaluation data only (README.md): this counts, it fits nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson
import polars as pl

from models.rules import RULE_IDS, RuleConfig, forcing_masks, rule_masks

sys.path.insert(0, str(Path(__file__).parent))
from compare_models import features, population_worlds  # noqa: E402


def _subjects(world: Path) -> pl.DataFrame:
    lines = [orjson.loads(line) for line in (world / "subjects.jsonl").read_bytes().splitlines()]
    return pl.DataFrame(
        {
            "subject": [f"{s['institution_id']}|{s['subject_id']}" for s in lines],
            "kind": [s.get("kind") for s in lines],
            "typology": [s["typology"] or "-" for s in lines],
        }
    )


def rule_hits(populations: Path, config: RuleConfig) -> pl.DataFrame:
    """One row per (world, subject) hit by any rule: ``fired_<rule>`` and ``forced_<rule>``."""
    parts: list[pl.DataFrame] = []
    for world in population_worlds(populations):
        frame = features(world)
        masks = rule_masks(frame, config)
        forced = forcing_masks(frame, masks, config)
        per_subject = (
            pl.concat(
                [
                    frame.select("subject"),
                    masks.select(pl.all().name.prefix("fired_")),
                    forced.select(pl.all().name.prefix("forced_")),
                ],
                how="horizontal",
            )
            .group_by("subject")
            .agg(pl.all().exclude("subject").any())
            .join(_subjects(world), on="subject", how="left")
        )
        parts.append(per_subject.with_columns(world=pl.lit(world.name)))
    return pl.concat(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--populations", required=True, type=Path)
    args = parser.parse_args(argv)
    hits = rule_hits(args.populations, RuleConfig())
    pl.Config.set_tbl_rows(40)
    for rule in RULE_IDS:
        fired = hits.filter(pl.col(f"fired_{rule}"))
        legitimate = fired.filter(pl.col("typology") == "-")
        print(
            f"{rule}: fires on {fired.height} subjects ({legitimate.height} legitimate),"
            f" forces on {fired[f'forced_{rule}'].sum()}"
            f" ({legitimate[f'forced_{rule}'].sum()} legitimate)"
        )
        if fired.height:
            print(
                fired.group_by("typology", "kind")
                .agg(pl.len().alias("fired"), pl.col(f"forced_{rule}").sum().alias("forced"))
                .sort("fired", descending=True)
                .head(10)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
