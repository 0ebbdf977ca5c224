"""Does the structuring rule's forcing on legal entities help? (docs/detection.md, "Structuring on
legal entities").

    PYTHONPATH=. .venv/bin/python bench/populations/entity_structuring.py \
        --populations var/populations-s2 --model var/model/model.skops --out var/entity-s2

Each population is scored once as ``amlscreen score`` scores it (the worker's features, model
and rules), then the worker's alert policy (the service's default: episodes, suppression, the
budget) is applied three times to the same scored stream, with three ways of forcing the
structuring rule's hits: ``forced/`` on every subject (the default); ``hit_only/`` never on a
legal entity (``RuleConfig.structuring_forces_alert_entities=False``); ``near_share/`` on an
entity only when at least ``--entity-near-share`` of its cash deposits over 30 days were
near-threshold legs (``structuring_entity_min_near_share``). A report whose hit does not force
is a candidate only if its score passes the scoring threshold, as ``Scorer.score`` decides.
Each is written in ``amlscreen score``'s output format and measured by ``measure.py``.

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

from amlscreen.backtest import apply_policy, scored_stream, write_scored
from models.registry import load_bundle
from models.rules import RuleConfig
from models.scoring import Scorer
from services.alerts.policy import AlertPolicy
from services.config import Settings

sys.path.insert(0, str(Path(__file__).parent))
from compare_models import population_worlds  # noqa: E402
from measure import measure  # noqa: E402

VARIANTS = ("forced", "hit_only", "near_share")
METRICS = (
    "subject_precision",
    "subject_recall",
    "alerted_share_active",
    "report_pr_auc",
    "top_60_precision",
)


def score_variants(
    population: Path, scorer: Scorer, policy: AlertPolicy, model_threshold: float, out: Path
) -> dict[str, dict[str, Any]]:
    rows = scored_stream(population / "reports.jsonl", scorer).with_columns(
        (pl.col("subject_type") == "entity").fill_null(False).alias("entity")
    )
    # The scorer ran the near_share policy; the other two follow from its rule hits. forced:
    # every structuring hit forces; hit_only: none on an entity does. A report stays a
    # candidate only if a rule forces or its score passes the scoring threshold, as
    # Scorer.score decides.
    structuring = pl.col("rules").list.contains("structuring")
    without = pl.col("forced_rules").list.set_difference(["structuring"])
    forced_rules = {
        "forced": pl.when(structuring & ~pl.col("forced_rules").list.contains("structuring"))
        .then(pl.col("forced_rules").list.concat(pl.lit(["structuring"])))
        .otherwise(pl.col("forced_rules")),
        "hit_only": pl.when(pl.col("entity")).then(without).otherwise(pl.col("forced_rules")),
        "near_share": pl.col("forced_rules"),
    }
    variants = {
        name: rows.with_columns(expression.alias("forced_rules")).with_columns(
            alert=(pl.col("score") >= scorer.threshold) | (pl.col("forced_rules").list.len() > 0)
        )
        for name, expression in forced_rules.items()
    }
    metrics: dict[str, dict[str, Any]] = {}
    for name, variant in variants.items():
        result, _ = apply_policy(variant.drop("entity"), policy, model_threshold)
        target = out / name / f"{population.name}.scored.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_scored(result, target)
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
    parser.add_argument("--entity-near-share", type=float, default=0.4)
    args = parser.parse_args(argv)
    bundle = load_bundle(args.model)
    policy = AlertPolicy.from_settings(Settings())
    model_threshold = bundle.threshold
    scorer = Scorer(
        bundle,
        threshold=policy.scoring_threshold(model_threshold),
        rules=RuleConfig(
            structuring_forces_alert_entities=False,
            structuring_entity_min_near_share=args.entity_near_share,
        ),
    )
    table: dict[str, dict[str, list[float]]] = {v: {m: [] for m in METRICS} for v in VARIANTS}
    pooled: dict[str, dict[str, int]] = {v: {} for v in VARIANTS}
    alerted: dict[str, int] = dict.fromkeys(VARIANTS, 0)
    caught: dict[str, int] = dict.fromkeys(VARIANTS, 0)
    for population in population_worlds(args.populations):
        metrics = score_variants(population, scorer, policy, model_threshold, args.out)
        print(
            f"{population.name:18}",
            "  ".join(
                f"{m[:14]} " + " / ".join(f"{metrics[v][m]:.3f}" for v in VARIANTS) for m in METRICS
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
    arrow = " / ".join(VARIANTS)
    print(f"median over worlds, {arrow}:")
    for m in METRICS:
        print(f"  {m:22}", " / ".join(f"{statistics.median(table[v][m]):.3f}" for v in VARIANTS))
    print(f"launderers alerted, pooled over worlds, {arrow}:")
    for typology in sorted(pooled["forced"]):
        print(f"  {typology:24}", " / ".join(str(pooled[v].get(typology, 0)) for v in VARIANTS))
    print(f"pooled over worlds, {arrow}:")
    print("  subjects alerted        ", " / ".join(str(alerted[v]) for v in VARIANTS))
    print("  launderers alerted      ", " / ".join(str(caught[v]) for v in VARIANTS))
    print(
        "  subject precision       ",
        " / ".join(f"{caught[v] / max(alerted[v], 1):.3f}" for v in VARIANTS),
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
