"""Measuring a scored population: the metric definitions on a population small enough to work
out by hand."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.populations.measure import measure
from bench.populations.run import table


def _write(path: Path, rows: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))


def _population(tmp_path: Path, scored: list[tuple[str, str | None, float, bool]]) -> Path:
    """Reports of the given subjects (in order) with their typology, score and alert.

    Subjects: A and B launder (fan_in, structuring), C to F are legitimate."""
    subjects = {"A": "fan_in", "B": "structuring", "C": None, "D": None, "E": None, "F": None}
    _write(
        tmp_path / "subjects.jsonl",
        [
            {"institution_id": "US-FI-1", "subject_id": sid, "laundering": typ is not None,
             "typology": typ, "segment": "salaried", "lookalike": None}
            for sid, typ in subjects.items()
        ],
    )  # fmt: skip
    reports, labels, scores = [], [], []
    for index, (subject, typology, score, alert) in enumerate(scored):
        report_id = f"R{index}"
        reports.append({"institution_id": "US-FI-1", "report_id": report_id,
                        "report_type": "TXN", "subject": {"subject_id": subject, "type": "person"},
                        "transaction": {"instrument": "cash", "direction": "in"}})  # fmt: skip
        labels.append({"institution_id": "US-FI-1", "report_id": report_id,
                       "typology": typology, "subject_id": subject})  # fmt: skip
        scores.append({"institution_id": "US-FI-1", "report_id": report_id, "score": score,
                       "alert": alert})  # fmt: skip
    _write(tmp_path / "reports.jsonl", reports)
    _write(tmp_path / "labels.jsonl", labels)
    _write(tmp_path / "scored.jsonl", scores)
    return tmp_path


class TestMeasure:
    def test_subject_and_report_metrics_follow_their_definitions(self, tmp_path: Path) -> None:
        directory = _population(
            tmp_path,
            [
                ("A", "fan_in", 0.9, True),  # A caught
                ("A", None, 0.2, False),  # A's cover activity
                ("B", None, 0.8, True),  # B alerted, but only on a legitimate report:
                ("B", "structuring", 0.3, False),  # not caught
                ("C", None, 0.7, True),  # a false alert
                ("D", None, 0.1, False),
                ("E", None, 0.05, False),
            ],
        )
        m = measure(directory, directory / "scored.jsonl").metrics
        # Ranked by score: A(1) B(0) C(0) B(1) A(0) D(0) E(0): AP = (1/1 + 2/4) / 2.
        assert m["report_pr_auc"] == pytest.approx(0.75)
        assert m["alerts"] == 3
        assert m["alerts_per_1000"] == pytest.approx(3000 / 7)
        assert m["active_subjects"] == 5  # F has no report
        assert m["alerted_subjects"] == 3
        assert m["alerted_share_active"] == pytest.approx(3 / 5)
        assert m["subject_precision"] == pytest.approx(2 / 3)
        assert m["subject_recall"] == pytest.approx(1 / 2)
        assert m["per_typology_recall"]["fan_in"]["recall"] == 1.0
        assert m["per_typology_recall"]["structuring"]["recall"] == 0.0
        assert m["min_typology_recall"] == 0.0
        # Top subjects by highest score: A 0.9, B 0.8, C 0.7, D, E: two launderers in five.
        assert m["top_30_precision"] == pytest.approx(2 / 5)
        assert m["legit_segments_alerted"]["salaried"]["alerted"] == 1

    def test_a_report_missing_from_the_scores_is_an_error(self, tmp_path: Path) -> None:
        directory = _population(tmp_path, [("A", "fan_in", 0.9, True), ("C", None, 0.1, False)])
        scored = (directory / "scored.jsonl").read_bytes().splitlines()
        (directory / "scored.jsonl").write_bytes(scored[0] + b"\n")
        with pytest.raises(SystemExit, match="1 reports"):
            measure(directory, directory / "scored.jsonl")


class TestTable:
    def test_median_and_worst_take_each_metrics_direction(self) -> None:
        rows = {
            "one": {"reports": 10, "alerts_per_1000": 5.0, "report_pr_auc": 0.9,
                    "alerted_share_active": 0.01},
            "two": {"reports": 20, "alerts_per_1000": 50.0, "report_pr_auc": 0.2,
                    "alerted_share_active": 0.2},
            "three": {"reports": 30, "alerts_per_1000": 20.0, "report_pr_auc": 0.5,
                      "alerted_share_active": 0.05},
        }  # fmt: skip
        lines = table(rows).splitlines()
        median = lines[-2].split("|")
        worst = lines[-1].split("|")
        header = [cell.strip() for cell in lines[0].split("|")]
        column = {name: index for index, name in enumerate(header)}
        assert median[column["alerts/1k"]].strip() == "20.0"
        assert worst[column["alerts/1k"]].strip() == "50.0"
        assert median[column["PR-AUC"]].strip() == "0.500"
        assert worst[column["PR-AUC"]].strip() == "0.200"
        assert worst[column["alerted %"]].strip() == "20.0"
