"""What an alert budget on the share of active subjects would buy on scored populations.

    .venv/bin/python bench/populations/budget_share.py var/populations

For every population directory under the given one that holds ``scored.jsonl`` (``amlscreen
score`` output) and ``labels.jsonl``, ranks the subjects by their highest report score and
prints subject precision and recall when only the top 1, 2, 3 and 5 % are alerted, per world
and as the median over worlds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

SHARES = (0.01, 0.02, 0.03, 0.05)


def budget_figures(directory: Path) -> dict[str, object]:
    scores = pl.read_ndjson(directory / "scored.jsonl", infer_schema_length=None).select(
        "institution_id", "report_id", "score"
    )
    labels = pl.read_ndjson(directory / "labels.jsonl", infer_schema_length=None).select(
        "institution_id", "report_id", "subject_id", "typology"
    )
    subjects = (
        labels.join(scores, on=["institution_id", "report_id"])
        .group_by("institution_id", "subject_id")
        .agg(
            pl.col("score").max().alias("best"),
            pl.col("typology").is_not_null().any().alias("laundering"),
        )
        .sort("best", descending=True)
    )
    total, launderers = subjects.height, int(subjects["laundering"].sum())
    row: dict[str, object] = {"world": directory.name, "subjects": total, "launderers": launderers}
    for share in SHARES:
        top = max(1, round(total * share))
        caught = int(subjects.head(top)["laundering"].sum())
        row[f"P@{share:.0%}"] = round(caught / top, 2)
        row[f"R@{share:.0%}"] = round(caught / max(launderers, 1), 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="directory of scored population directories")
    args = parser.parse_args()
    rows = [
        budget_figures(directory)
        for directory in sorted(args.work.iterdir())
        if (directory / "scored.jsonl").exists() and (directory / "labels.jsonl").exists()
    ]
    if not rows:
        raise SystemExit(f"no scored populations under {args.work}")
    frame = pl.DataFrame(rows)
    with pl.Config(tbl_cols=20, tbl_width_chars=200):
        print(frame)
        print(frame.select(pl.exclude("world").median()))


if __name__ == "__main__":
    main()
