"""Does the structuring rule's forcing on legal entities help? (docs/detection.md, "Structuring on
legal entities").

    PYTHONPATH=. .venv/bin/python bench/populations/entity_structuring.py \
        --populations var/populations-s2 --model var/model/model.skops --out var/entity-s2

Each population is scored once as ``amlscreen score`` scores it (the worker's features, model
and rules, with structuring forcing on every subject), then the worker's alert policy (the
service's default: episodes, suppression, the budget) is applied twice to the same scored
stream: ``forced/`` as scored, and ``hit_only/`` where a structuring hit on a legal entity does
not force (``RuleConfig.structuring_forces_alert_entities=False``): that report is a candidate
only if its score passes the scoring threshold, as ``Scorer.score`` decides. Both are written
in ``amlscreen score``'s output format and measured by ``measure.py``; the table compares them.

Evaluation data only (README.md): this compares two policies, it fits nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from amlscreen.backtest import apply_policy
from models.features import encode, flatten, with_keys
from models.registry import load_bundle
from models.rules import RuleConfig
from models.scoring import Scorer, read_jsonl, score_history
from services.alerts.policy import AlertPolicy
from services.config import Settings

sys.path.insert(0, str(Path(__file__).parent))
from compare_models import population_worlds  # noqa: E402
from measure import measure  # noqa: E402

VARIANTS = ("forced", "hit_only")
METRICS = (
    "subject_precision",
    "subject_recall",
    "alerted_share_active",
    "report_pr_auc",
    "top_60_precision",
)


def _write(rows: pl.DataFrame, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        for row in rows.iter_rows(named=True):
            row["score"] = round(float(row["score"]), 6)
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))


def score_both(
    population: Path, scorer: Scorer, policy: AlertPolicy, model_threshold: float, out: Path
) -> dict[str, dict[str, Any]]:
    flat = flatten(read_jsonl(population / "reports.jsonl"))
    compact = with_keys(encode(flat)).collect()
    scored = score_history(compact, scorer)
    keys = compact.select("seq", "subject_key", "t").with_columns(
        flat["jurisdiction"], (flat["subject_type"] == "entity").fill_null(False).alias("entity")
    )
    rows = scored.join(keys, on="seq", how="left").sort("seq")
    # hit_only: a structuring hit on an entity no longer forces; the report stays a candidate
    # only if another rule forces or its score passes the scoring threshold.
    entity_structuring = pl.col("entity") & pl.col("forced_rules").list.contains("structuring")
    hit_only_forced = (
        pl.when(entity_structuring)
        .then(pl.col("forced_rules").list.set_difference(["structuring"]))
        .otherwise(pl.col("forced_rules"))
    )
    variants = {
        "forced": rows,
        "hit_only": rows.with_columns(hit_only_forced.alias("forced_rules")).with_columns(
            alert=(pl.col("score") >= scorer.threshold) | (pl.col("forced_rules").list.len() > 0)
        ),
    }
    metrics: dict[str, dict[str, Any]] = {}
    for name, variant in variants.items():
        result, _ = apply_policy(variant.drop("entity"), policy, model_threshold)
        target = out / name / f"{population.name}.scored.jsonl"
        _write(result.drop("seq", "subject_key", "jurisdiction", "t"), target)
        metrics[name] = measure(population, target).metrics
        target.with_suffix(".json").write_bytes(
            orjson.dumps(metrics[name], option=orjson.OPT_INDENT_2)
        )
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--populations", required=True, type=Path)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    bundle = load_bundle(args.model)
    policy = AlertPolicy.from_settings(Settings())
    model_threshold = bundle.threshold
    scorer = Scorer(
        bundle,
        threshold=policy.scoring_threshold(model_threshold),
        rules=RuleConfig(structuring_forces_alert_entities=True),
    )
    table: dict[str, dict[str, list[float]]] = {v: {m: [] for m in METRICS} for v in VARIANTS}
    pooled: dict[str, dict[str, int]] = {v: {} for v in VARIANTS}
    alerted: dict[str, int] = dict.fromkeys(VARIANTS, 0)
    caught: dict[str, int] = dict.fromkeys(VARIANTS, 0)
    for population in population_worlds(args.populations):
        metrics = score_both(population, scorer, policy, model_threshold, args.out)
        print(
            f"{population.name:18}",
            "  ".join(
                f"{m[:14]} {metrics['forced'][m]:.3f}->{metrics['hit_only'][m]:.3f}"
                for m in METRICS
            ),
            flush=True,
        )
        for variant in VARIANTS:
            for m in METRICS:
                table[variant][m].append(metrics[variant][m])
            alerted[variant] += metrics[variant]["alerted_subjects"]
            caught[variant] += round(
                metrics[variant]["subject_recall"] * metrics[variant]["laundering_subjects"]
            )
            for typology, cell in metrics[variant]["per_typology_recall"].items():
                pooled[variant][typology] = pooled[variant].get(typology, 0) + cell["caught"]
    print("median over worlds, forced -> hit_only:")
    for m in METRICS:
        print(
            f"  {m:22} {statistics.median(table['forced'][m]):.3f} ->"
            f" {statistics.median(table['hit_only'][m]):.3f}"
        )
    print("launderers alerted, pooled over worlds, forced -> hit_only:")
    for typology in sorted(pooled["forced"]):
        print(
            f"  {typology:24} {pooled['forced'][typology]} -> {pooled['hit_only'].get(typology, 0)}"
        )
    print("pooled over worlds, forced -> hit_only:")
    print(f"  subjects alerted         {alerted['forced']} -> {alerted['hit_only']}")
    print(f"  launderers alerted       {caught['forced']} -> {caught['hit_only']}")
    print(
        "  subject precision        "
        f"{caught['forced'] / max(alerted['forced'], 1):.3f} ->"
        f" {caught['hit_only'] / max(alerted['hit_only'], 1):.3f}"
    )
    summary = {
        "alerted_subjects": alerted,
        "launderers_alerted": caught,
        "median": {v: {m: statistics.median(x) for m, x in table[v].items()} for v in VARIANTS},
        "pooled_caught": pooled,
    }
    (args.out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
