"""The order in which the alert budget is spent: at a threshold as reports arrive, or ranked.

    PYTHONPATH=. python bench/populations/budget_order.py --populations var/populations-s2 \
        --scores var/scored-s2 --model var/model/model.skops

``--scores DIR`` holds ``<world>.jsonl``, the output of ``amlscreen score`` (default policy) on
``--populations DIR/<world>/reports.jsonl``. Each population's stream (its scores and forcing
rules, in arrival order) is replayed through two ways of spending an institution's share budget,
with the service's budget arithmetic and settings (``services.alerts.policy``):

* ``threshold`` (the service today): every ``budget_recompute_hours`` of event time, when a
  candidate arrives, the threshold becomes the (allowance left)-th highest score of the window's
  unalerted subjects (``budget_threshold``); a report opens an alert when it arrives at or above
  it. The allowance goes to whoever crosses it first.
* ``ranked``: at the same cadence, the allowance left goes to the window's unalerted subjects
  with the highest scores (at or above the floor), best first; their alerts open then. The
  allowance grows with the share of the window the data covers.
* ``ranked_noisy_or``: ``ranked``, each subject ranked by 1 - Π(1 - s) over its window's reports
  scoring at or above the floor (the reports the worker holds) rather than by the highest.

Forcing rules open an alert at once in both, and spend the allowance. A subject is
``(institution_id, subject_id)``; an alert is never closed (as in a backtest). The threshold
replay simplifies the service's policy (no jurisdictions per episode), so it is printed next to
``amlscreen score``'s own count of alerted subjects.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import orjson

from models.registry import load_bundle
from services.alerts.policy import MIN_BUDGET_SAMPLE, AlertPolicy, budget_threshold
from services.config import Settings

Spending = Literal["threshold", "ranked", "ranked_noisy_or"]
SPENDINGS: tuple[Spending, ...] = ("threshold", "ranked", "ranked_noisy_or")
# Scores are clipped below 1 for the noisy-OR's logarithms.
_BELOW_ONE = 1.0 - 1e-12
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Stream:
    """One institution's reports in arrival order."""

    t: npt.NDArray[np.float64]  # event time, epoch seconds
    subject: npt.NDArray[np.int64]
    score: npt.NDArray[np.float64]
    forced: npt.NDArray[np.bool_]
    names: list[str]  # subject id of each subject number


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def load_streams(reports: Path, scored: Path) -> dict[str, Stream]:
    """Each institution's stream: event time and subject from the reports, score and forcing
    rules from ``amlscreen score``'s output (the same lines, in the same order)."""
    rows: dict[str, list[tuple[float, str, float, bool]]] = defaultdict(list)
    with reports.open("rb") as left, scored.open("rb") as right:
        for line, verdict_line in zip(left, right, strict=True):
            report, verdict = orjson.loads(line), orjson.loads(verdict_line)
            if report["report_id"] != verdict["report_id"]:
                raise ValueError(
                    f"{scored}: {verdict['report_id']} where {reports} has {report['report_id']}"
                )
            moment = (report.get("transaction") or {}).get("timestamp") or report["filed_at"]
            rows[report["institution_id"]].append(
                (
                    _epoch(moment),
                    str(report["subject"]["subject_id"]),
                    float(verdict.get("score") or 0.0),
                    bool(verdict.get("forced_rules")),
                )
            )
    streams: dict[str, Stream] = {}
    for institution, members in rows.items():
        numbers: dict[str, int] = {}
        subject = np.array([numbers.setdefault(name, len(numbers)) for _, name, _, _ in members])
        streams[institution] = Stream(
            t=np.array([row[0] for row in members], dtype=np.float64),
            subject=subject.astype(np.int64),
            score=np.array([row[2] for row in members], dtype=np.float64),
            forced=np.array([row[3] for row in members], dtype=np.bool_),
            names=list(numbers),
        )
    return streams


def replay(
    stream: Stream, policy: AlertPolicy, model_threshold: float, spending: Spending
) -> dict[int, float]:
    """The subjects one institution alerts (subject number → event time the alert opened)."""
    window_s = policy.budget_window_days * DAY_S
    cadence_s = policy.budget_recompute_hours * 3600.0
    gate = policy.scoring_threshold(model_threshold)  # what the scorer hands the policy
    share = policy.budget_share if policy.budget_share is not None else 0.0
    opened: dict[int, float] = {}
    threshold: float | None = None  # None: no budget version yet, the model's threshold
    last: float | None = None
    first = float(stream.t[0]) if stream.t.size else 0.0
    best = np.full(len(stream.names), -1.0)
    for index in range(stream.t.size):
        now, subject = float(stream.t[index]), int(stream.subject[index])
        candidate = bool(stream.forced[index]) or stream.score[index] >= gate
        if candidate and (last is None or now >= last + cadence_s):
            last = now
            since = now - window_s
            inside = (stream.t[:index] > since) & (stream.t[:index] <= now)
            best.fill(-1.0)
            np.maximum.at(best, stream.subject[:index][inside], stream.score[:index][inside])
            active = np.flatnonzero(best >= 0.0)
            if spending == "ranked_noisy_or":
                # 1 - Π(1 - s) over the subject's window reports at or above the floor: several
                # candidates count for more than one. A subject whose best is under the floor
                # keeps its best (ineligible either way).
                strong = inside & (stream.score[:index] >= policy.budget_floor)
                log_miss = np.zeros(len(stream.names))
                np.add.at(
                    log_miss,
                    stream.subject[:index][strong],
                    np.log1p(-np.minimum(stream.score[:index][strong], _BELOW_ONE)),
                )
                best = np.where(best >= policy.budget_floor, -np.expm1(log_miss), best)
            spent = sum(1 for at in opened.values() if since < at <= now)
            unalerted = np.array(
                [number for number in active if number not in opened], dtype=np.int64
            )
            if spending == "threshold":
                estimate = budget_threshold(
                    best[unalerted],
                    subjects=int(active.size),
                    opened=spent,
                    reports=int(np.count_nonzero(inside)),
                    span_days=min((now - max(first, since)) / DAY_S, policy.budget_window_days),
                    policy=policy,
                )
                if estimate is not None:
                    threshold = estimate.threshold
            elif (  # ranked, by the best score or by the noisy-OR
                np.count_nonzero(inside) >= MIN_BUDGET_SAMPLE
                and active.size >= policy.budget_min_subjects
            ):
                covered = min(1.0, (now - max(first, since)) / window_s)
                allowance = max(1, round(share * active.size * covered))
                left = allowance - spent
                if left > 0 and unalerted.size:
                    ranked = unalerted[np.argsort(-best[unalerted], kind="stable")][:left]
                    for number in ranked:
                        if best[number] >= policy.budget_floor:
                            opened[int(number)] = now
                threshold = math.inf  # past the cold start only the ranking opens alerts
        if subject in opened:
            continue
        if stream.forced[index]:
            opened[subject] = now
        elif threshold is None:
            if stream.score[index] >= model_threshold:
                opened[subject] = now
        elif stream.score[index] >= threshold:
            opened[subject] = now
    return opened


@dataclass(slots=True)
class Tally:
    alerted: int = 0
    caught: int = 0
    launderers: int = 0
    active: int = 0

    def add(self, other: Tally) -> None:
        self.alerted += other.alerted
        self.caught += other.caught
        self.launderers += other.launderers
        self.active += other.active

    def line(self) -> str:
        precision = self.caught / self.alerted if self.alerted else 0.0
        recall = self.caught / self.launderers if self.launderers else 0.0
        share = 100 * self.alerted / self.active if self.active else 0.0
        return (
            f"{self.alerted} alerted ({share:.1f} %), {self.caught}/{self.launderers} caught, "
            f"P {precision:.3f} R {recall:.3f}"
        )


def measure_world(
    population: Path, scored: Path, policy: AlertPolicy, model_threshold: float
) -> tuple[dict[Spending, Tally], int]:
    """Each spending's tally on one world, and the subjects ``amlscreen score`` alerted."""
    laundering: set[tuple[str, str]] = set()
    for line in (population / "subjects.jsonl").read_bytes().splitlines():
        if line.strip():
            row = orjson.loads(line)
            if row["laundering"]:
                laundering.add((row["institution_id"], str(row["subject_id"])))
    streams = load_streams(population / "reports.jsonl", scored)
    active = {(institution, name) for institution, s in streams.items() for name in s.names}
    service = _service_alerted(population / "reports.jsonl", scored)
    tallies: dict[Spending, Tally] = {}
    for spending in SPENDINGS:
        alerted = {
            (institution, stream.names[number])
            for institution, stream in streams.items()
            for number in replay(stream, policy, model_threshold, spending)
        }
        tallies[spending] = Tally(
            alerted=len(alerted),
            caught=len(alerted & laundering),
            launderers=len(active & laundering),
            active=len(active),
        )
    return tallies, len(service)


def _service_alerted(reports: Path, scored: Path) -> set[tuple[str, str]]:
    alerted: set[tuple[str, str]] = set()
    with reports.open("rb") as left, scored.open("rb") as right:
        for line, verdict_line in zip(left, right, strict=True):
            if orjson.loads(verdict_line).get("alert"):
                report = orjson.loads(line)
                alerted.add((report["institution_id"], str(report["subject"]["subject_id"])))
    return alerted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--populations", type=Path, required=True)
    parser.add_argument(
        "--scores", type=Path, required=True, help="amlscreen score's <world>.jsonl"
    )
    parser.add_argument("--model", type=Path, required=True, help="the model that scored them")
    args = parser.parse_args(argv)
    policy = AlertPolicy.from_settings(Settings())
    model_threshold = load_bundle(args.model).threshold
    pooled = {spending: Tally() for spending in SPENDINGS}
    for population in sorted(p for p in args.populations.iterdir() if p.is_dir()):
        scored = args.scores / f"{population.name}.jsonl"
        if not scored.exists():
            print(f"{population.name}: no {scored}", file=sys.stderr)
            continue
        tallies, service = measure_world(population, scored, policy, model_threshold)
        for spending, tally in tallies.items():
            pooled[spending].add(tally)
        print(
            f"{population.name}: amlscreen score alerted {service} subjects | "
            + " | ".join(f"{spending}: {tally.line()}" for spending, tally in tallies.items()),
            flush=True,
        )
    for spending, tally in pooled.items():
        print(f"pooled {spending}: {tally.line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
