"""Scores every evaluation world with the installed ``amlscreen score`` and prints one table.

    python bench/populations/run.py [--worlds baseline,mx_heavy] [--seed 1] [--model PATH]
        [--work var/populations] [--train-check]

For each world: generate it (``generate.py``), run ``amlscreen score reports.jsonl
scored.jsonl`` (the default model is ``AMLSCREEN_MODEL_PATH``, else ``var/model/model.skops``;
``--model`` overrides), measure it (``measure.py``), then print per world and the median and
worst of each metric, and write ``summary.json`` and ``summary.md`` into the work directory.

It also writes ``train-pair/reports.jsonl`` and ``train-pair/labels.jsonl``: a labelled
population (a seed outside the evaluation range) in the format ``amlscreen train --data
reports.jsonl --labels labels.jsonl`` reads, for exercising that path. ``--train-check`` runs
that command once and reports what happened. These populations are evaluation data: never
train or tune the shipped model on them.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson

from bench.populations.generate import write_population
from bench.populations.measure import measure, print_report
from bench.populations.worlds import WORLDS, build_world

# Seeds of the training pair are kept apart from every evaluation seed.
TRAIN_PAIR_SEED_OFFSET = 100_000

# (metric, heading, better when higher, format)
COLUMNS: list[tuple[str, str, bool, Callable[[Any], str]]] = [
    ("reports", "reports", True, lambda v: f"{v:,}"),
    ("laundering_subjects", "launderers", True, str),
    ("alerts_per_1000", "alerts/1k", False, lambda v: f"{v:.1f}"),
    ("alerted_share_active", "alerted %", False, lambda v: f"{100 * v:.1f}"),
    ("report_pr_auc", "PR-AUC", True, lambda v: f"{v:.3f}"),
    ("subject_precision", "subj P", True, lambda v: f"{v:.2f}"),
    ("subject_recall", "subj R", True, lambda v: f"{v:.2f}"),
    ("top_30_precision", "top-30 P", True, lambda v: f"{v:.2f}"),
    ("top_60_precision", "top-60 P", True, lambda v: f"{v:.2f}"),
    ("min_typology_recall", "min typ R", True, lambda v: f"{v:.2f}"),
]
_AGGREGATED = {
    "alerts_per_1000",
    "alerted_share_active",
    "report_pr_auc",
    "subject_precision",
    "subject_recall",
    "top_30_precision",
    "top_60_precision",
    "min_typology_recall",
}


def amlscreen_command() -> str:
    """The ``amlscreen`` of the running interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / "amlscreen"
    return str(beside) if beside.exists() else (shutil.which("amlscreen") or "amlscreen")


def score(reports: Path, scored: Path, model: Path | None) -> float:
    command = [amlscreen_command(), "score", str(reports), str(scored)]
    if model is not None:
        command += ["--model", str(model)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"amlscreen score failed on {reports}:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def _cell(value: Any, fmt: Callable[[Any], str]) -> str:
    return "n/a" if value is None else fmt(value)


def table(rows: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: one row per world, then the median and the worst of each metric."""
    header = "| world | " + " | ".join(heading for _, heading, _, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, metrics in rows.items():
        cells = [_cell(metrics.get(key), fmt) for key, _, _, fmt in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for label in ("median", "worst"):
        cells = []
        for key, _, higher_better, fmt in COLUMNS:
            values = [m[key] for m in rows.values() if m.get(key) is not None]
            if key not in _AGGREGATED or not values:
                cells.append("")
            elif label == "median":
                cells.append(fmt(statistics.median(values)))
            else:
                cells.append(fmt(min(values) if higher_better else max(values)))
        lines.append(f"| **{label}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def train_check(pair: Path, work: Path) -> dict[str, Any]:
    """Runs ``amlscreen train --data --labels`` on the pair; returns the outcome."""
    out = work / "train-check" / "model.skops"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        amlscreen_command(),
        "train",
        "--data",
        str(pair / "reports.jsonl"),
        "--labels",
        str(pair / "labels.jsonl"),
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    tail = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or [""])[-1]
    return {
        "command": " ".join(command),
        "exit_code": result.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "last_line": tail,
        "stdout_tail": result.stdout[-1500:],
        "stderr_tail": result.stderr[-3000:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="score and measure every evaluation world")
    parser.add_argument("--worlds", default=",".join(WORLDS), help="comma-separated names")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", type=Path, help="artefact (default: amlscreen's default)")
    parser.add_argument("--work", type=Path, default=Path("var/populations"))
    parser.add_argument("--train-pair-world", default="baseline")
    parser.add_argument(
        "--train-check",
        action="store_true",
        help="run amlscreen train --data --labels on the training pair",
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.worlds.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORLDS]
    if unknown:
        parser.error(f"unknown worlds {unknown}; known: {', '.join(WORLDS)}")
    args.work.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}
    timings: dict[str, dict[str, float]] = {}
    for name in names:
        directory = args.work / f"{name}-{args.seed}"
        summary = write_population(build_world(name, args.seed), directory)
        seconds = score(directory / "reports.jsonl", directory / "scored.jsonl", args.model)
        measurement = measure(directory, directory / "scored.jsonl")
        (directory / "metrics.json").write_bytes(
            orjson.dumps(measurement.metrics, option=orjson.OPT_INDENT_2)
        )
        print_report(f"{name} (seed {args.seed})", measurement)
        rows[name] = measurement.metrics
        timings[name] = {"generate_s": summary["seconds"], "score_s": round(seconds, 1)}
    pair = args.work / "train-pair"
    pair_seed = args.seed + TRAIN_PAIR_SEED_OFFSET
    pair_summary = write_population(build_world(args.train_pair_world, pair_seed), pair)
    result = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": args.seed,
        "model": str(args.model) if args.model else "amlscreen default",
        "timings": timings,
        "worlds": rows,
        "train_pair": {
            "directory": str(pair),
            "world": args.train_pair_world,
            "seed": pair_seed,
            "reports": pair_summary["reports"],
        },
    }
    markdown = table(rows)
    print()
    print(markdown)
    print(
        f"\ntraining pair ({args.train_pair_world}, seed {pair_seed}): amlscreen train --data "
        f"{pair / 'reports.jsonl'} --labels {pair / 'labels.jsonl'}"
    )
    if args.train_check:
        outcome = train_check(pair, args.work)
        result["train_check"] = outcome
        print(
            f"train check: exit {outcome['exit_code']} after {outcome['seconds']} s: "
            f"{outcome['last_line']}"
        )
    (args.work / "summary.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    (args.work / "summary.md").write_text(markdown + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
