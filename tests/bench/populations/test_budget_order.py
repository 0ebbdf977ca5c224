"""bench/populations/budget_order.py: the two ways of spending the budget it compares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from bench.populations.budget_order import Stream, load_streams, replay
from services.alerts.policy import AlertPolicy

HOUR = 3600.0
DAY = 24 * HOUR
POLICY = AlertPolicy(budget_share=0.005, budget_min_subjects=50)  # the service's defaults
MODEL_THRESHOLD = 0.08


def stream(events: list[tuple[float, int, float, bool]], subjects: int) -> Stream:
    events = sorted(events)
    return Stream(
        t=np.array([e[0] for e in events], dtype=np.float64),
        subject=np.array([e[1] for e in events], dtype=np.int64),
        score=np.array([e[2] for e in events], dtype=np.float64),
        forced=np.array([e[3] for e in events], dtype=np.bool_),
        names=[f"S{n}" for n in range(subjects)],
    )


def background(days: int, subjects: int = 400) -> list[tuple[float, int, float, bool]]:
    """Every subject reports daily at a low score; from the second day (past the cold start),
    subject 0 is a candidate every 3 hours (a candidate is what triggers a recompute), under
    the floor."""
    events = [(d * DAY + n, n, 0.01, False) for d in range(days) for n in range(1, subjects)]
    events += [(DAY + HOUR + h * 3 * HOUR, 0, 0.1, False) for h in range((days - 1) * 8)]
    return events


def test_ranked_spending_alerts_the_windows_best_even_if_they_never_report_again() -> None:
    events = background(20)
    # After the cold start, while the allowance is 1: three subjects score high once each.
    events += [(3 * DAY + 60, 10, 0.95, False), (3 * DAY + 120, 11, 0.9, False)]
    events += [(3 * DAY + 180, 12, 0.2, False)]  # under the floor: never alerted by the budget
    opened = replay(stream(events, 400), POLICY, MODEL_THRESHOLD, "ranked")
    assert set(opened) == {10, 11}
    assert opened[10] < opened[11]  # best first: the allowance grows to 2 later in the window
    assert opened[10] > 3 * DAY + 60  # at the next recompute, not as the report arrived


def test_threshold_spending_opens_as_reports_cross_it() -> None:
    events = background(20)
    events += [(3 * DAY + 60, 10, 0.95, False)]
    opened = replay(stream(events, 400), POLICY, MODEL_THRESHOLD, "threshold")
    assert opened == {10: 3 * DAY + 60}


def high_scorers(days: int) -> list[tuple[float, int, float, bool]]:
    """From day 2, three new subjects a day score 0.90-0.92 within seconds of each other."""
    return [
        (d * DAY + 500 + n, 100 + 10 * d + n, 0.9 + n / 100, False)
        for d in range(2, days)
        for n in range(3)
    ]


def test_ranked_spending_keeps_to_the_allowance_forced_alerts_included() -> None:
    events = background(30) + high_scorers(30) + [(5 * DAY + 7, 50, 0.01, True)]
    opened = replay(stream(events, 400), POLICY, MODEL_THRESHOLD, "ranked")
    assert opened[50] == 5 * DAY + 7  # forced: at once
    times = np.array(sorted(opened.values()))
    for at in times:
        # 400 subjects × 0.005 = 2 alerts a 14-day window.
        assert np.count_nonzero((times > at - 14 * DAY) & (times <= at)) <= 2


def test_threshold_spending_lets_every_report_above_it_through_until_the_next_recompute() -> None:
    events = background(30) + high_scorers(30) + [(5 * DAY + 7, 50, 0.01, True)]
    opened = replay(stream(events, 400), POLICY, MODEL_THRESHOLD, "threshold")
    assert opened[50] == 5 * DAY + 7
    # The threshold stood at the floor when the first three arrived: all three opened.
    assert {100 + 20, 101 + 20, 102 + 20} <= set(opened)
    assert len(opened) > 4  # and it overshoots the allowance again as windows free up


def test_load_streams_refuses_files_that_do_not_line_up(tmp_path: Path) -> None:
    report = {
        "report_id": "R1",
        "institution_id": "US-FI-1",
        "filed_at": "2026-01-01T00:00:00Z",
        "subject": {"subject_id": "C1"},
    }
    (tmp_path / "reports.jsonl").write_bytes(orjson.dumps(report) + b"\n")
    (tmp_path / "scored.jsonl").write_bytes(orjson.dumps({"report_id": "R2", "score": 0.5}) + b"\n")
    with pytest.raises(ValueError, match="R2"):
        load_streams(tmp_path / "reports.jsonl", tmp_path / "scored.jsonl")
