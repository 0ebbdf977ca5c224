"""bench/populations/subject_scores.py: subjects ranked by combinations of their report scores."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from bench.populations.subject_scores import subject_ranks
from models.features import PEER_GROUP
from models.pipeline import NEGATIVE_LABEL


def test_a_single_outlier_ranks_first_by_max_and_below_a_scheme_by_the_top_three() -> None:
    # "scheme": three suspicious reports (laundering); "outlier": one very high report among
    # ordinary ones (legitimate); "quiet": nothing unusual (legitimate).
    frame = pl.DataFrame(
        {
            "subject": ["scheme"] * 3 + ["outlier"] * 3 + ["quiet"] * 2,
            "label": ["funnel_account"] * 3 + [NEGATIVE_LABEL] * 5,
            "institution_id": ["US-FI-0001"] * 8,
            PEER_GROUP: [0.0] * 8,
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


def test_a_subject_above_its_peers_outranks_a_segment_that_all_scores_high() -> None:
    # Cell 1: twenty legitimate businesses that all score 0.6 (behaviour the model never saw).
    # Cell 2: twenty quiet persons at 0.02 and one launderer at 0.4.
    subjects = [f"business-{i}" for i in range(20)] + [f"person-{i}" for i in range(20)]
    subjects.append("launderer")
    frame = pl.DataFrame(
        {
            "subject": subjects,
            "label": [NEGATIVE_LABEL] * 40 + ["fan_in"],
            "institution_id": ["US-FI-0001"] * 41,
            PEER_GROUP: [1.0] * 20 + [2.0] * 21,
        }
    )
    scores = np.array([0.6] * 20 + [0.02] * 20 + [0.4])
    ranks = subject_ranks(frame, scores)
    # By the maximum the launderer ranks below the twenty businesses.
    assert ranks["max"][0] == pytest.approx(1 / 21)
    # Against its cell's baseline it stands out; the businesses' excess is about zero.
    assert ranks["peer excess q90"][0] == pytest.approx(1.0)
