"""bench/populations/subject_scores.py: subjects ranked by combinations of their report scores."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from bench.populations.subject_scores import subject_ranks
from models.pipeline import NEGATIVE_LABEL


def test_a_single_outlier_ranks_first_by_max_and_below_a_scheme_by_the_top_three() -> None:
    # "scheme": three suspicious reports (laundering); "outlier": one very high report among
    # ordinary ones (legitimate); "quiet": nothing unusual (legitimate).
    frame = pl.DataFrame(
        {
            "subject": ["scheme"] * 3 + ["outlier"] * 3 + ["quiet"] * 2,
            "label": ["funnel_account"] * 3 + [NEGATIVE_LABEL] * 5,
        }
    )
    scores = np.array([0.8, 0.7, 0.75, 0.95, 0.1, 0.1, 0.2, 0.1])
    ranks = subject_ranks(frame, scores)
    # By the maximum the outlier comes first: average precision 1/2.
    assert ranks["max"][0] == pytest.approx(0.5)
    # By the mean of the top three (0.75 against 0.383) the scheme comes first.
    assert ranks["mean of top 3"][0] == pytest.approx(1.0)
    assert ranks["noisy-OR"][0] == pytest.approx(1.0)
    # Top-60 precision over three subjects: one laundering subject of three.
    assert ranks["max"][1] == pytest.approx(1 / 3)
