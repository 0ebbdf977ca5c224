"""Measures a scored population: how well ``amlscreen score`` separated laundering from
legitimate activity, at report and at subject level.

    python bench/populations/measure.py --population DIR --scores SCORED.jsonl [--json OUT]

``DIR`` is what ``generate.py`` wrote; ``SCORED.jsonl`` is the output of
``amlscreen score DIR/reports.jsonl SCORED.jsonl`` (one line per report with at least
``institution_id``, ``report_id``, ``score`` and ``alert``).

Definitions (a subject is ``(institution_id, subject_id)``):

* report PR-AUC: scikit-learn's ``average_precision_score`` of the score against "the report
  carries a typology label";
* a subject is *alerted* when any of its reports has ``alert`` true; a laundering subject is
  *caught* when any of its laundering reports has ``alert`` true;
* subject precision: alerted laundering subjects / alerted subjects; subject recall: caught /
  laundering subjects that have at least one laundering report in the feed;
* alerts per 1,000 reports; share of active subjects (at least one report) alerted;
* per-typology subject recall; precision among the top 30 and top 60 subjects ranked by their
  highest report score.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sklearn.metrics import average_precision_score

SubjectKey = tuple[str, str]
TOP_K = (30, 60)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


@dataclass
class SubjectTally:
    laundering: bool = False
    typology: str | None = None
    segment: str = ""
    lookalike: str | None = None
    reports: int = 0
    laundering_reports: int = 0
    alerted: bool = False
    caught: bool = False
    max_score: float = -1.0


@dataclass
class Measurement:
    metrics: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        m = self.metrics
        return (
            f"{m['reports']} reports, {m['alerts']} alerts ({m['alerts_per_1000']:.1f}/1k); "
            f"PR-AUC {m['report_pr_auc']:.3f}; subjects alerted {m['alerted_subjects']}/"
            f"{m['active_subjects']} ({100 * m['alerted_share_active']:.1f} %); subject precision "
            f"{_fmt(m['subject_precision'])}, recall {_fmt(m['subject_recall'])}; top-30 "
            f"{_fmt(m['top_30_precision'])}, top-60 {_fmt(m['top_60_precision'])}"
        )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def measure(population: Path, scores: Path) -> Measurement:
    """Joins labels, subjects and scores and computes the metrics."""
    subjects: dict[SubjectKey, SubjectTally] = {}
    for line in read_jsonl(population / "subjects.jsonl"):
        subjects[(line["institution_id"], line["subject_id"])] = SubjectTally(
            laundering=bool(line["laundering"]),
            typology=line.get("typology"),
            segment=line.get("segment", ""),
            lookalike=line.get("lookalike"),
        )
    scored: dict[tuple[str, str], tuple[float, bool]] = {}
    for line in read_jsonl(scores):
        scored[(str(line["institution_id"]), str(line["report_id"]))] = (
            float(line["score"]),
            bool(line["alert"]),
        )
    labels: list[bool] = []
    values: list[float] = []
    missing = 0
    alerts = 0
    false_alert_kinds: Counter[str] = Counter()
    legit_kinds: Counter[str] = Counter()
    kinds = _report_kinds(population / "reports.jsonl")
    for index, line in enumerate(read_jsonl(population / "labels.jsonl")):
        result = scored.get((line["institution_id"], line["report_id"]))
        if result is None:
            missing += 1
            continue
        score, alert = result
        laundering = line["typology"] is not None
        labels.append(laundering)
        values.append(score)
        alerts += alert
        tally = subjects[(line["institution_id"], line["subject_id"])]
        tally.reports += 1
        tally.max_score = max(tally.max_score, score)
        tally.alerted = tally.alerted or alert
        if laundering:
            tally.laundering_reports += 1
            tally.caught = tally.caught or alert
        else:
            legit_kinds[kinds[index]] += 1
            false_alert_kinds[kinds[index]] += alert
    if missing:
        raise SystemExit(f"{missing} reports of {population} have no line in {scores}")
    return Measurement(_metrics(subjects, labels, values, alerts, false_alert_kinds, legit_kinds))


def _report_kinds(reports: Path) -> list[str]:
    """A short description of each report (party kind, type, instrument, direction), for the
    breakdown of false alerts."""
    kinds = []
    for doc in read_jsonl(reports):
        transaction = doc.get("transaction") or {}
        kinds.append(
            f"{doc['subject']['type']} {doc['report_type']} {transaction.get('instrument', '-')} "
            f"{transaction.get('direction', '-')}"
        )
    return kinds


def _metrics(
    subjects: dict[SubjectKey, SubjectTally],
    labels: list[bool],
    values: list[float],
    alerts: int,
    false_alert_kinds: Counter[str],
    legit_kinds: Counter[str],
) -> dict[str, Any]:
    y = np.asarray(labels, dtype=bool)
    active = {key: tally for key, tally in subjects.items() if tally.reports}
    alerted = [tally for tally in active.values() if tally.alerted]
    launderers = [tally for tally in active.values() if tally.laundering_reports]
    caught = [tally for tally in launderers if tally.caught]
    ranked = sorted(active.items(), key=lambda item: (-item[1].max_score, item[0]))
    per_typology: dict[str, dict[str, Any]] = {}
    by_typology: defaultdict[str, list[SubjectTally]] = defaultdict(list)
    for tally in launderers:
        by_typology[str(tally.typology)].append(tally)
    for typology, members in sorted(by_typology.items()):
        hit = sum(tally.caught for tally in members)
        per_typology[typology] = {
            "subjects": len(members),
            "caught": hit,
            "recall": hit / len(members),
        }
    segments: defaultdict[str, list[SubjectTally]] = defaultdict(list)
    for tally in active.values():
        if not tally.laundering:
            segments[tally.lookalike or tally.segment].append(tally)
    legit_segments = {
        name: {
            "subjects": len(members),
            "alerted": sum(tally.alerted for tally in members),
            "alerted_share": sum(tally.alerted for tally in members) / len(members),
        }
        for name, members in sorted(segments.items())
    }
    recalls = [entry["recall"] for entry in per_typology.values()]
    metrics: dict[str, Any] = {
        "reports": len(labels),
        "laundering_reports": int(y.sum()),
        "alerts": alerts,
        "alerts_per_1000": 1000 * alerts / max(1, len(labels)),
        "report_pr_auc": float(average_precision_score(y, np.asarray(values))) if y.any() else None,
        "subjects": len(subjects),
        "active_subjects": len(active),
        "laundering_subjects": len(launderers),
        "alerted_subjects": len(alerted),
        "alerted_share_active": len(alerted) / max(1, len(active)),
        "subject_precision": (
            sum(tally.laundering for tally in alerted) / len(alerted) if alerted else None
        ),
        "subject_recall": len(caught) / len(launderers) if launderers else None,
        "per_typology_recall": per_typology,
        "min_typology_recall": min(recalls) if recalls else None,
        "median_typology_recall": statistics.median(recalls) if recalls else None,
        "legit_segments_alerted": legit_segments,
        "false_alerts_by_report_kind": {
            kind: {
                "reports": legit_kinds[kind],
                "alerted": false_alert_kinds[kind],
                "alerted_share": false_alert_kinds[kind] / legit_kinds[kind],
            }
            for kind, _ in false_alert_kinds.most_common()
            if false_alert_kinds[kind]
        },
    }
    for k in TOP_K:
        top = ranked[:k]
        metrics[f"top_{k}_precision"] = (
            sum(tally.laundering for _, tally in top) / len(top) if top else None
        )
    return metrics


def print_report(name: str, measurement: Measurement) -> None:
    m = measurement.metrics
    print(f"{name}: {measurement.line()}")
    typologies = ", ".join(
        f"{typology} {entry['caught']}/{entry['subjects']}"
        for typology, entry in m["per_typology_recall"].items()
    )
    print(f"  caught per typology: {typologies}")
    noisy = sorted(
        m["legit_segments_alerted"].items(),
        key=lambda item: (-item[1]["alerted"], -item[1]["alerted_share"]),
    )[:6]
    print(
        "  legitimate segments most alerted: "
        + ", ".join(f"{segment} {entry['alerted']}/{entry['subjects']}" for segment, entry in noisy)
    )
    kinds = list(m["false_alerts_by_report_kind"].items())[:5]
    print(
        "  false alerts by report kind: "
        + ", ".join(
            f"{kind} {entry['alerted']} ({100 * entry['alerted_share']:.0f} %)"
            for kind, entry in kinds
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="measure a scored evaluation population")
    parser.add_argument("--population", required=True, type=Path)
    parser.add_argument("--scores", required=True, type=Path)
    parser.add_argument("--json", type=Path, help="write the metrics here as JSON")
    args = parser.parse_args(argv)
    measurement = measure(args.population, args.scores)
    print_report(args.population.name, measurement)
    if args.json:
        args.json.write_bytes(orjson.dumps(measurement.metrics, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
