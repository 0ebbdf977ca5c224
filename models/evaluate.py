"""Evaluation metrics: a held-out stream against a rules-only baseline, and shifted worlds.

Pure functions over documents and frames; the data come from the caller (the composition
layer, ``amlscreen.evaluation``, draws them from the simulator: this package never imports
it).

**Held-out stream** (``amlscreen evaluate``): a labelled stream with a seed the model was not
trained on and another laundering regime runs through the worker's feature code and the
model (:func:`score_stream`); :func:`evaluate` reports:

* PR-AUC (average precision over reports) of the model score, of the system (model score,
  with rule-forced alerts counted as 1.0) and of the rules-only baseline;
* at the model's threshold: alerts, precision, recall, and the false-positive share of alerts;
* recall at a fixed alert budget (the top ``budget_share`` of reports by score);
* at the rules-only alert volume: the baseline's recall and the model's (top-N by score);
* recall per typology, per report and per case (a case counts as caught when any of its
  reports alerts);
* how often the typology guess is right on true alerts.

Report-level figures count every report of a scheme, including the counterparties' legs.

**Shifted worlds** (``amlscreen evaluate --worlds N``): :func:`world_metrics` over one world's
outcome frame (one row per report: ``institution_id``, ``subject_id``, ``score``, ``alert``,
``truth`` — the typology or null —, ``lookalike`` — the legitimate look-alike kind or null),
and :func:`summarise_worlds` (median and worst over worlds). Subjects are identified by
``(institution_id, subject_id)``: a subject is *alerted* when any of its reports is alerted;
a *laundering subject* has at least one laundering report, and is *caught* when one of its
laundering reports is alerted. Subject precision = alerted laundering subjects / alerted
subjects; subject recall = caught / laundering subjects; per-typology subject recall counts,
for each typology, the subjects with a report of that typology and whether one of those was
alerted.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.metrics import average_precision_score

from models.features import encode, feature_chunks, flatten, with_keys
from models.rules import rules_only_alert, rules_only_score
from models.scoring import Scorer
from models.train import training_seed

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)


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


def check_seed(scorer: Scorer, seed: int) -> None:
    """Refuses to evaluate a model on the generator seed it was trained on."""
    trained = training_seed(scorer.bundle.card)
    if trained is not None and trained == seed:
        raise SeedReuseError(f"seed {seed} is the model's training seed; evaluate on another seed")


def score_stream(
    documents: Sequence[Mapping[str, Any]],
    typologies: Sequence[str | None],
    cases: Sequence[str | None],
    scorer: Scorer,
) -> pl.DataFrame:
    """Scores a labelled history (arrival order) as the worker would, with rules-only columns."""
    compact = with_keys(encode(flatten(documents))).collect()
    labels = pl.DataFrame(
        {
            "seq": pl.Series(np.arange(compact.height), dtype=pl.Int64),
            "truth": pl.Series(list(typologies), dtype=pl.String),
            "case_id": pl.Series(list(cases), dtype=pl.String),
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


def evaluate(
    scorer: Scorer, config: EvaluationConfig, frame: pl.DataFrame, seconds: float
) -> dict[str, Any]:
    """Every figure of a held-out evaluation (``frame`` from :func:`score_stream`), JSON-able."""
    check_seed(scorer, config.seed)
    seed = training_seed(scorer.bundle.card)
    elapsed = seconds
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


# ---------------------------------------------------------------------------------------------
# Shifted worlds: subject-level metrics per world, median and worst over worlds

# Metrics where more is better (worst = lowest) and where less is better (worst = highest).
HIGHER_IS_BETTER = ("pr_auc", "subject_precision", "subject_recall")
LOWER_IS_BETTER = ("alerts_per_1000", "alerted_subject_share", "lookalike_alerted_share")
SUBJECT = ("institution_id", "subject_id")


def subject_outcomes(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per subject: ``alerted``, ``laundering``, ``caught``, ``lookalike``."""
    laundering = pl.col("truth").is_not_null()
    return frame.group_by(SUBJECT).agg(
        pl.col("alert").any().alias("alerted"),
        laundering.any().alias("laundering"),
        (pl.col("alert") & laundering).any().alias("caught"),
        pl.col("lookalike").is_not_null().any().alias("lookalike"),
    )


def typology_subject_recall(frame: pl.DataFrame) -> dict[str, dict[str, float | int]]:
    """Per typology: subjects with a report of it, and the share with one of those alerted."""
    per_subject = (
        frame.filter(pl.col("truth").is_not_null())
        .group_by("truth", *SUBJECT)
        .agg(pl.col("alert").any())
        .group_by("truth")
        .agg(pl.len().alias("subjects"), pl.col("alert").mean().alias("recall"))
        .sort("truth")
    )
    return {
        row["truth"]: {"subjects": row["subjects"], "recall": round(row["recall"], 4)}
        for row in per_subject.iter_rows(named=True)
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def report_pr_auc(frame: pl.DataFrame) -> float | None:
    """Average precision of the score over reports (None without both classes)."""
    truth = frame["truth"].is_not_null().to_numpy()
    if not truth.any() or truth.all():
        return None
    return round(float(average_precision_score(truth, frame["score"].to_numpy())), 4)


def world_metrics(frame: pl.DataFrame) -> dict[str, Any]:
    """Every figure of one world (or part of one): see the module docstring."""
    subjects = subject_outcomes(frame)
    alerted = subjects.filter(pl.col("alerted"))
    launderers = subjects.filter(pl.col("laundering"))
    lookalikes = subjects.filter(pl.col("lookalike") & ~pl.col("laundering"))
    alerts = int(frame["alert"].sum())
    return {
        "reports": frame.height,
        "laundering_reports": int(frame["truth"].is_not_null().sum()),
        "subjects": subjects.height,
        "laundering_subjects": launderers.height,
        "alerts": alerts,
        "alerted_subjects": alerted.height,
        "pr_auc": report_pr_auc(frame),
        "subject_precision": _share(int(alerted["laundering"].sum()), alerted.height),
        "subject_recall": _share(int(launderers["caught"].sum()), launderers.height),
        "alerts_per_1000": round(1000 * alerts / frame.height, 3) if frame.height else None,
        "alerted_subject_share": _share(alerted.height, subjects.height),
        "lookalike_subjects": lookalikes.height,
        "lookalike_alerted_share": _share(int(lookalikes["alerted"].sum()), lookalikes.height),
        "per_typology_subject_recall": typology_subject_recall(frame),
    }


def _median_and_worst(values: Iterable[float | None], higher_is_better: bool) -> dict[str, Any]:
    present = [value for value in values if value is not None]
    if not present:
        return {"median": None, "worst": None, "worlds": 0}
    worst = min(present) if higher_is_better else max(present)
    return {
        "median": round(statistics.median(present), 4),
        "worst": round(worst, 4),
        "worlds": len(present),
    }


def summarise_worlds(metrics: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Median and worst over worlds of each metric, and of each typology's subject recall."""
    summary: dict[str, Any] = {}
    for name in HIGHER_IS_BETTER:
        summary[name] = _median_and_worst((m[name] for m in metrics), True)
    for name in LOWER_IS_BETTER:
        summary[name] = _median_and_worst((m[name] for m in metrics), False)
    typologies = sorted({t for m in metrics for t in m["per_typology_subject_recall"]})
    summary["per_typology_subject_recall"] = {
        typology: _median_and_worst(
            (
                m["per_typology_subject_recall"][typology]["recall"]
                for m in metrics
                if typology in m["per_typology_subject_recall"]
            ),
            True,
        )
        for typology in typologies
    }
    return summary


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


_COLUMNS = (
    ("PR-AUC", "pr_auc", 3),
    ("subj.prec", "subject_precision", 3),
    ("subj.rec", "subject_recall", 3),
    ("alerts/1k", "alerts_per_1000", 1),
    ("subj.alerted", "alerted_subject_share", 4),
    ("lookalikes", "lookalike_alerted_share", 3),
)


def _row(label: str, extra: str, values: Mapping[str, Any], key: str | None = None) -> str:
    cells = "".join(
        f"{_cell(values[name][key] if key else values[name], digits):>13}"
        for _, name, digits in _COLUMNS
    )
    return f"{label:22}{extra:>22}{cells}"


def render_worlds(result: Mapping[str, Any]) -> str:
    """The shifted-world evaluation as plain text: per world, median and worst, typologies."""
    model = result["model"]
    header = f"{'world':22}{'reports / launderers':>22}" + "".join(
        f"{title:>13}" for title, _, _ in _COLUMNS
    )
    lines = [
        f"model {model['version']} (threshold {model['threshold']:.3f}), trained on worlds"
        f" {model['training_world_seeds'] or 'none (default world)'}",
        f"evaluated on {len(result['worlds'])} unseen worlds, each streamed from an empty"
        " history through `amlscreen score`",
        "",
    ]
    for view, title in (("all", "whole run"), ("cold", "cold start"), ("warm", "after")):
        days = result["config"]["cold_start_days"]
        caption = {"all": "", "cold": f" (first {days} days)", "warm": f" (after day {days})"}
        lines += [f"{title}{caption[view]}", header]
        for world in result["worlds"]:
            metrics = world[view]
            extra = f"{metrics['reports']:,} / {metrics['laundering_subjects']}"
            lines.append(_row(world["name"], extra, metrics))
        summary = result["summary"][view]
        lines.append(_row("median", "", summary, "median"))
        lines.append(_row("worst", "", summary, "worst"))
        lines.append("")
    short = result.get("short_world")
    if short is not None:
        metrics = short["all"]
        extra = f"{metrics['reports']:,} / {metrics['laundering_subjects']}"
        lines += [
            f"short world ({short['days']} days)",
            header,
            _row(short["name"], extra, metrics),
            "",
        ]
    lines.append(f"{'subject recall by typology':34}{'median':>10}{'worst':>10}{'worlds':>8}")
    for typology, values in result["summary"]["all"]["per_typology_subject_recall"].items():
        lines.append(
            f"{typology:34}{_cell(values['median']):>10}{_cell(values['worst']):>10}"
            f"{values['worlds']:>8}"
        )
    return "\n".join(lines)
