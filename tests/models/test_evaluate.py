"""Shifted-world metrics on hand-built outcome frames, figures worked out by hand."""

from __future__ import annotations

import polars as pl
import pytest

from models.evaluate import (
    render_worlds,
    report_pr_auc,
    subject_outcomes,
    summarise_worlds,
    world_metrics,
)

ROWS = [
    # institution, subject, score, alert, truth, lookalike
    ("A", "s1", 0.90, True, "structuring", None),
    ("A", "s1", 0.20, False, None, None),
    ("A", "s2", 0.80, True, None, None),
    ("A", "s3", 0.10, False, "fan_in", None),
    ("B", "s1", 0.70, True, None, None),  # another institution's s1: another subject
    ("B", "s4", 0.30, False, None, "near_threshold"),
    ("B", "s5", 0.60, True, None, "seasonal"),
    ("B", "s6", 0.40, False, "fan_in", None),
    ("B", "s6", 0.95, True, "fan_in", None),
]


def frame(rows: list[tuple] = ROWS) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "institution_id": pl.String,
            "subject_id": pl.String,
            "score": pl.Float64,
            "alert": pl.Boolean,
            "truth": pl.String,
            "lookalike": pl.String,
        },
        orient="row",
    )


class TestWorldMetrics:
    def test_subjects_are_institution_and_subject_id(self):
        outcomes = subject_outcomes(frame()).sort("institution_id", "subject_id")
        assert outcomes.height == 7
        assert outcomes.filter(pl.col("subject_id") == "s1")["laundering"].to_list() == [
            True,
            False,
        ]

    def test_hand_computed_figures(self):
        metrics = world_metrics(frame())
        assert metrics["reports"] == 9
        assert metrics["laundering_reports"] == 4
        assert metrics["subjects"] == 7
        assert metrics["laundering_subjects"] == 3  # A/s1, A/s3, B/s6
        assert metrics["alerts"] == 5
        assert metrics["alerted_subjects"] == 5  # A/s1, A/s2, B/s1, B/s5, B/s6
        # Alerted launderers A/s1 and B/s6 among 5 alerted subjects.
        assert metrics["subject_precision"] == pytest.approx(0.4)
        # Caught: A/s1 and B/s6 (one of its two fan-in reports alerted); missed: A/s3.
        assert metrics["subject_recall"] == pytest.approx(0.6667)
        assert metrics["alerts_per_1000"] == pytest.approx(555.556)
        assert metrics["alerted_subject_share"] == pytest.approx(0.7143)
        assert metrics["lookalike_subjects"] == 2
        assert metrics["lookalike_alerted_share"] == pytest.approx(0.5)
        assert metrics["per_typology_subject_recall"] == {
            "fan_in": {"subjects": 2, "recall": 0.5},
            "structuring": {"subjects": 1, "recall": 1.0},
        }

    def test_pr_auc_by_hand(self):
        # Positives ranked 1, 2, 6 and 9: (1/1 + 2/2 + 3/6 + 4/9) / 4.
        assert report_pr_auc(frame()) == pytest.approx((1 + 1 + 0.5 + 4 / 9) / 4, abs=1e-4)

    def test_a_legitimate_alert_on_a_launderer_counts_for_precision_not_recall(self):
        rows = [
            ("A", "s1", 0.9, True, None, None),
            ("A", "s1", 0.1, False, "fan_out", None),
        ]
        metrics = world_metrics(frame(rows))
        assert metrics["subject_precision"] == 1.0
        assert metrics["subject_recall"] == 0.0

    def test_no_laundering_no_recall(self):
        rows = [("A", "s1", 0.2, False, None, None), ("A", "s2", 0.7, True, None, None)]
        metrics = world_metrics(frame(rows))
        assert metrics["pr_auc"] is None
        assert metrics["subject_recall"] is None
        assert metrics["subject_precision"] == 0.0
        assert metrics["per_typology_subject_recall"] == {}


class TestSummary:
    def test_median_and_worst(self):
        base = world_metrics(frame())
        worlds = [
            {**base, "pr_auc": 0.5, "alerts_per_1000": 10.0},
            {**base, "pr_auc": 0.7, "alerts_per_1000": 30.0},
            {**base, "pr_auc": None, "alerts_per_1000": 20.0},
        ]
        summary = summarise_worlds(worlds)
        assert summary["pr_auc"] == {"median": 0.6, "worst": 0.5, "worlds": 2}
        assert summary["alerts_per_1000"] == {"median": 20.0, "worst": 30.0, "worlds": 3}
        assert summary["per_typology_subject_recall"]["fan_in"]["worst"] == 0.5

    def test_a_typology_absent_from_a_world_is_left_out_of_it(self):
        one = world_metrics(frame())
        other = world_metrics(frame([("A", "x", 0.9, True, "fan_in", None)]))
        summary = summarise_worlds([one, other])
        assert summary["per_typology_subject_recall"]["structuring"]["worlds"] == 1
        assert summary["per_typology_subject_recall"]["fan_in"] == {
            "median": 0.75,
            "worst": 0.5,
            "worlds": 2,
        }

    def test_render(self):
        metrics = world_metrics(frame())
        world = {"seed": 1, "name": "world-1", "days": 60, "all": metrics, "cold": metrics,
                 "warm": metrics}  # fmt: skip
        summary = summarise_worlds([metrics])
        result = {
            "model": {"version": "m", "threshold": 0.5, "training_world_seeds": [7]},
            "config": {"cold_start_days": 30},
            "worlds": [world],
            "short_world": {**world, "days": 30},
            "summary": {"all": summary, "cold": summary, "warm": summary},
        }
        text = render_worlds(result)
        assert "world-1" in text
        assert "median" in text
        assert "worst" in text
        assert "cold start (first 30 days)" in text
        assert "short world (30 days)" in text
        assert "fan_in" in text
