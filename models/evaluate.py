"""Evaluation on a held-out generator seed, against a rules-only baseline.

``amlscreen evaluate`` draws a fresh stream from ``models.generator`` with a seed the model
was not trained on and the *evaluation* regime of ``TypologyParams`` (other leg fractions,
degrees, lags, countries…), runs it through the worker's feature code and the model, and
reports:

* PR-AUC (average precision over reports) of the model score, of the system (model score,
  with rule-forced alerts counted as 1.0) and of the rules-only baseline;
* at the model's threshold: alerts, precision, recall, and the false-positive share of alerts;
* recall at a fixed alert budget (the top ``budget_share`` of reports by score);
* at the rules-only alert volume: the baseline's recall and the model's (top-N by score);
* recall per typology, per report and per case (a case counts as caught when any of its
  reports alerts);
* how often the typology guess is right on true alerts.

Report-level figures count every report of a scheme, including the counterparties' legs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.metrics import average_precision_score

from models.features import encode, feature_chunks, flatten, with_keys
from models.generator import GeneratorConfig, TypologyParams, generate
from models.rules import rules_only_alert, rules_only_score
from models.scoring import Scorer
from models.train import DEFAULT_START, training_seed


@dataclass(frozen=True)
class EvaluationConfig:
    seed: int = 7_070_707
    n_reports: int = 1_000_000
    start: datetime = DEFAULT_START
    days: int = 60
    laundering_share: float = 0.02
    budget_share: float = 0.01
    regime: str = "evaluation"


class SeedReuseError(ValueError):
    """The evaluation seed is the model's training seed."""


def _collect(config: EvaluationConfig, scorer: Scorer) -> pl.DataFrame:
    params = TypologyParams.evaluation() if config.regime == "evaluation" else TypologyParams()
    generator = GeneratorConfig(
        seed=config.seed,
        n_reports=config.n_reports,
        start=config.start,
        days=config.days,
        laundering_share=config.laundering_share,
        params=params,
    )
    documents: list[dict[str, Any]] = []
    typologies: list[str | None] = []
    cases: list[str | None] = []
    for item in generate(generator):
        documents.append(item.report)
        typologies.append(item.typology)
        cases.append(item.case_id)
    compact = with_keys(encode(flatten(documents))).collect()
    del documents
    labels = pl.DataFrame(
        {
            "seq": pl.Series(np.arange(compact.height), dtype=pl.Int64),
            "truth": pl.Series(typologies, dtype=pl.String),
            "case_id": pl.Series(cases, dtype=pl.String),
        }
    )
    parts: list[pl.DataFrame] = []
    for chunk in feature_chunks(compact):
        scores = scorer.laundering_scores(chunk)
        hits = scorer.score_rules(chunk)
        alerts = (scores >= scorer.threshold) | hits["forced"].to_numpy()
        guess: list[str | None] = [None] * chunk.height
        rows = np.flatnonzero(alerts)
        if rows.size:
            for index, typology in zip(rows, scorer.typologies(chunk[rows.tolist()]), strict=True):
                guess[index] = typology
        parts.append(
            pl.DataFrame(
                {
                    "seq": chunk["seq"],
                    "score": pl.Series(scores, dtype=pl.Float64),
                    "forced": hits["forced"],
                    "alert": pl.Series(alerts, dtype=pl.Boolean),
                    "guess": pl.Series(guess, dtype=pl.String),
                    "rules_score": rules_only_score(chunk, scorer.rules),
                    "rules_alert": rules_only_alert(chunk, scorer.rules),
                }
            )
        )
    return pl.concat(parts).join(labels, on="seq", how="left").sort("seq")


def _recall(frame: pl.DataFrame, flag: str) -> dict[str, Any]:
    positives = frame.filter(pl.col("truth").is_not_null())
    by_typology = (
        positives.group_by("truth")
        .agg(
            pl.len().alias("reports"),
            pl.col(flag).mean().alias("report_recall"),
            pl.col("case_id").n_unique().alias("cases"),
            pl.col("case_id").filter(pl.col(flag)).n_unique().alias("cases_caught"),
        )
        .with_columns((pl.col("cases_caught") / pl.col("cases")).alias("case_recall"))
        .sort("truth")
    )
    cases = positives.group_by("case_id").agg(pl.col(flag).any())
    return {
        "report_recall": _mean(positives[flag]),
        "case_recall": _mean(cases[flag]),
        "per_typology": {
            row["truth"]: {
                "reports": row["reports"],
                "report_recall": round(row["report_recall"], 4),
                "cases": row["cases"],
                "case_recall": round(row["case_recall"], 4),
            }
            for row in by_typology.iter_rows(named=True)
        },
    }


def _mean(series: pl.Series) -> float:
    return float(series.cast(pl.Float64).fill_null(0.0).mean() or 0.0)  # type: ignore[arg-type]


def _top(scores: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.bool_]:
    chosen = np.zeros(scores.size, dtype=bool)
    if k > 0:
        chosen[np.argsort(-scores, kind="stable")[:k]] = True
    return chosen


def evaluate(scorer: Scorer, config: EvaluationConfig) -> dict[str, Any]:
    """Runs the evaluation; returns every figure as a JSON-able dict."""
    seed = training_seed(scorer.bundle.card)
    if seed is not None and seed == config.seed:
        raise SeedReuseError(
            f"seed {config.seed} is the model's training seed; evaluate on another seed"
        )
    started = time.perf_counter()
    frame = _collect(config, scorer)
    elapsed = time.perf_counter() - started
    truth = frame["truth"].is_not_null().to_numpy()
    scores = frame["score"].to_numpy()
    system = np.where(frame["forced"].to_numpy(), 1.0, scores)
    alerts = frame["alert"].to_numpy()
    rules_alerts = frame["rules_alert"].to_numpy()
    budget = max(1, int(round(config.budget_share * frame.height)))
    rules_volume = int(rules_alerts.sum())
    frame = frame.with_columns(
        pl.Series("at_budget", _top(system, budget)),
        pl.Series("at_rules_volume", _top(system, rules_volume)),
    )
    true_alerts = frame.filter(pl.col("alert") & pl.col("truth").is_not_null())
    n_alerts = int(alerts.sum())
    tp = int((alerts & truth).sum())
    return {
        "data": {
            "seed": config.seed,
            "reports": frame.height,
            "laundering_reports": int(truth.sum()),
            "cases": int(frame["case_id"].drop_nulls().n_unique()),
            "regime": config.regime,
            "model_training_seed": seed,
            "seconds": round(elapsed, 1),
        },
        "model": {
            "version": scorer.model_version,
            "threshold": scorer.threshold,
            "pr_auc": float(average_precision_score(truth, scores)),
            "system_pr_auc": float(average_precision_score(truth, system)),
            "alerts": n_alerts,
            "alert_rate": n_alerts / frame.height,
            "precision": tp / max(n_alerts, 1),
            "false_positive_share": 1 - tp / max(n_alerts, 1),
            "forced_alerts": int(frame["forced"].sum()),
            **_recall(frame, "alert"),
            "typology_accuracy": _mean(true_alerts["guess"] == true_alerts["truth"])
            if true_alerts.height
            else None,
        },
        "budget": {
            "share": config.budget_share,
            "alerts": budget,
            "precision": float((frame["at_budget"] & frame["truth"].is_not_null()).sum()) / budget,
            **_recall(frame, "at_budget"),
        },
        "rules_only": {
            "pr_auc": float(average_precision_score(truth, frame["rules_score"].to_numpy())),
            "alerts": rules_volume,
            "precision": float((rules_alerts & truth).sum()) / max(rules_volume, 1),
            **_recall(frame, "rules_alert"),
        },
        "model_at_rules_volume": {
            "alerts": rules_volume,
            "precision": float((frame["at_rules_volume"] & frame["truth"].is_not_null()).sum())
            / max(rules_volume, 1),
            **_recall(frame, "at_rules_volume"),
        },
    }


def render(result: dict[str, Any]) -> str:
    """The evaluation as a plain-text report."""
    data, model, rules = result["data"], result["model"], result["rules_only"]
    budget, same = result["budget"], result["model_at_rules_volume"]
    lines = [
        f"held-out seed {data['seed']} ({data['regime']} regime): {data['reports']:,} reports,"
        f" {data['laundering_reports']:,} laundering reports in {data['cases']} cases"
        f" (model trained on seed {data['model_training_seed']})",
        f"model {model['version']}, threshold {model['threshold']:.3f}",
        "",
        f"{'':34}{'model':>12}{'rules only':>12}",
        f"{'PR-AUC (reports)':34}{model['pr_auc']:>12.4f}{rules['pr_auc']:>12.4f}",
        f"{'PR-AUC (model + forcing rules)':34}{model['system_pr_auc']:>12.4f}",
        f"{'alerts':34}{model['alerts']:>12,}{rules['alerts']:>12,}",
        f"{'precision':34}{model['precision']:>12.4f}{rules['precision']:>12.4f}",
        f"{'false-positive share of alerts':34}{model['false_positive_share']:>12.4f}"
        f"{1 - rules['precision']:>12.4f}",
        f"{'recall (reports)':34}{model['report_recall']:>12.4f}{rules['report_recall']:>12.4f}",
        f"{'recall (cases)':34}{model['case_recall']:>12.4f}{rules['case_recall']:>12.4f}",
        "",
        f"at the rules-only alert volume ({same['alerts']:,} alerts):"
        f" model recall {same['report_recall']:.4f} (reports), {same['case_recall']:.4f} (cases)"
        f" vs rules {rules['report_recall']:.4f}, {rules['case_recall']:.4f}",
        f"at a budget of {budget['share']:.1%} of reports ({budget['alerts']:,} alerts):"
        f" recall {budget['report_recall']:.4f} (reports), {budget['case_recall']:.4f} (cases),"
        f" precision {budget['precision']:.4f}",
    ]
    if model["typology_accuracy"] is not None:
        lines.append(f"typology guess right on {model['typology_accuracy']:.1%} of true alerts")
    lines += [
        "",
        f"{'typology':26}{'reports':>9}{'recall':>8}{'cases':>7}{'recall':>8}"
        f"{'rules':>8}{'rules':>8}",
        f"{'':26}{'':>9}{'(rep.)':>8}{'':>7}{'(case)':>8}{'(rep.)':>8}{'(case)':>8}",
    ]
    for typology, row in model["per_typology"].items():
        base = rules["per_typology"].get(typology, {})
        lines.append(
            f"{typology:26}{row['reports']:>9,}{row['report_recall']:>8.3f}{row['cases']:>7}"
            f"{row['case_recall']:>8.3f}{base.get('report_recall', 0):>8.3f}"
            f"{base.get('case_recall', 0):>8.3f}"
        )
    return "\n".join(lines)
