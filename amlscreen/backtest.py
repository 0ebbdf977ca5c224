"""``amlscreen score``: a JSONL file of reports through the worker's detection path (backtest).

:func:`score_reports` is what the command runs. The shifted-world evaluation
(``amlscreen.evaluation``) calls the same function, so that it judges exactly what a user's
backtest produces: whatever scoring policy ``amlscreen score`` applies belongs here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.registry import ModelBundle
from models.scoring import Scorer, score_file
from refdata.fx import FxRates


def score_reports(
    source: Path,
    target: Path,
    bundle: ModelBundle,
    *,
    threshold: float | None = None,
    rates: FxRates | None = None,
) -> dict[str, Any]:
    """Scores every report of ``source`` from an empty history; one JSON line each in ``target``.

    ``rates``: the exchange-rate table (default: the process's, ``AMLSCREEN_FX_RATES_FILE``).
    Returns the counts (``reports``, ``alerts``) and the ``threshold`` applied.
    """
    scorer = Scorer(bundle, threshold=threshold)
    summary = score_file(source, target, scorer, rates=rates)
    return {**summary, "threshold": scorer.threshold}
