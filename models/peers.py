"""Peer-relative features: a subject's behaviour as a percentile of its live peer group.

"Cash deposits differ dramatically from similar businesses" (FFIEC) needs the similar
businesses of *this* deployment, not of our generator. Per report, a fixed set of the
subject's trailing values (:data:`PEER_SOURCES`, from the window features) is placed in fixed
log-spaced bins; per peer group and event day (UTC day of the report) the bins are counted.

Peer groups, finest first (:data:`LEVELS`): institution × person/entity × NAICS sector
(2 digits, "unknown" is a sector) × jurisdiction; then the same without the institution;
then person/entity × jurisdiction. A report is judged at the finest level whose baseline
holds at least :data:`MIN_PEER_REPORTS` reports; with none, its peer columns are null (cold
start: the pipeline's training-time medians, ``models.pipeline.PeerRatio``, still speak).

Baseline of day d: the counts of days [d − 31, d − 2] — thirty days, ending one whole day
before d, so that every worker has finished writing a day before any worker reads it (a
partition lagging more than a day behind the others is the exception, and its reports then
miss from the others' baselines until they arrive). The percentile of a value in bin b is
(reports below b + half of those in b) / reports, from integer counts: one division, the same
on every path.

One code path: :func:`peer_inputs` (bins and group per report), :func:`daily_counts`,
:func:`baselines` and :func:`with_peers` run offline over a whole history
(``models.features.feature_chunks``) and online over the worker's batch with the daily counts
persisted by every worker (``models.state.batch_features``; the ``peer_counts`` table of
``services.reports.peers``), and give the same numbers (``tests/models/test_skew.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import polars as pl

DAY = 86_400
BASELINE_DAYS = 30
# The baseline of day d ends with day d - GUARD_DAYS.
GUARD_DAYS = 2
MIN_PEER_REPORTS = 200

# name → integer window column (models.features.window_features) it bins.
PEER_SOURCES: dict[str, str] = {
    "cash_in_usd_30d": "cash_in_cents_30d",
    "cash_in_n_30d": "cash_in_n_30d",
    "cash_out_usd_30d": "cash_out_cents_30d",
    "branches_30d": "branches_30d",
    "payers_30d": "payers_30d",
    "payees_30d": "payees_30d",
    "in_usd_30d": "in_cents_30d",
    "out_usd_30d": "out_cents_30d",
    "in_n_30d": "in_n_30d",
    "out_n_30d": "out_n_30d",
    "xb_n_30d": "xb_n_30d",
    "usd": "cents",
}
PEER_FEATURES = tuple(PEER_SOURCES)
PEER_COLUMNS: tuple[str, ...] = (*(f"peer_pct_{name}" for name in PEER_FEATURES), "peer_level")
# Working columns a feature frame carries for this module (never model inputs).
PEER_INPUTS: tuple[str, ...] = ("pday", "pgroup", *(f"pb_{name}" for name in PEER_FEATURES))


def _bin(value: pl.Expr) -> pl.Expr:
    """Half-octave bins of a non-negative integer: 0 for 0 (or none), else 1 + ⌊2·log2 v⌋
    (counts and US-dollar cents alike; v < 2**64 gives at most 129 bins). The logarithm is
    the platform's, on the same integer on every path, so the bin is too."""
    v = value.fill_null(0).cast(pl.Float64)
    return pl.when(v >= 1.0).then((v.log(2.0) * 2.0).floor() + 1.0).otherwise(0.0).cast(pl.Int16)


# Group key: institution code (32 bits) << 24 | (NAICS sector + 1) << 8 | entity << 1 | MX.
# A coarser level keeps fewer bits of the same key.
LEVELS: tuple[int, ...] = (0, 1, 2)
_LEVEL_MASK: dict[int, int] = {0: -1, 1: 0xFFFFFF, 2: 0x3}

COUNT_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Int32(),
    "pgroup": pl.Int64(),
    "feature": pl.Int16(),
    "bin": pl.Int16(),
    "n": pl.Int64(),
}
# The persisted counts of days [first, last] (COUNT_SCHEMA), summed over every worker.
StoredCounts = Callable[[int, int], pl.DataFrame]


def peer_inputs(*, inst: str, entity: str, naics2: str, mx: pl.Expr) -> list[pl.Expr]:
    """``pday``, ``pgroup`` and one ``pb_<name>`` bin per peer feature, from the columns of a
    window-feature frame (names of the institution code, entity flag and NAICS sector)."""
    group = (
        pl.col(inst).cast(pl.Int64) * (1 << 24)
        + (pl.col(naics2).fill_null(-1).cast(pl.Int64) + 1) * (1 << 8)
        + pl.col(entity).fill_null(False).cast(pl.Int64) * 2
        + mx.cast(pl.Int64)
    )
    return [
        (pl.col("t") // DAY).cast(pl.Int32).alias("pday"),
        group.alias("pgroup"),
        *[_bin(pl.col(column)).alias(f"pb_{name}") for name, column in PEER_SOURCES.items()],
    ]


def daily_counts(rows: pl.DataFrame) -> pl.DataFrame:
    """Reports per (day, group, feature, bin) of rows carrying :data:`PEER_INPUTS`."""
    if rows.is_empty():
        return pl.DataFrame(schema=COUNT_SCHEMA)
    long = rows.select(PEER_INPUTS).unpivot(
        index=["pday", "pgroup"], variable_name="feature", value_name="bin"
    )
    index = {f"pb_{name}": i for i, name in enumerate(PEER_FEATURES)}
    return (
        long.group_by("pday", "pgroup", "feature", "bin")
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .select(
            pl.col("pday").alias("day"),
            "pgroup",
            pl.col("feature").replace_strict(index, return_dtype=pl.Int16),
            pl.col("bin").cast(pl.Int16),
            "n",
        )
        .sort("day", "pgroup", "feature", "bin")
    )


def merge_counts(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Sums count frames (:data:`COUNT_SCHEMA`)."""
    frames = [part for part in parts if part.height]
    if not frames:
        return pl.DataFrame(schema=COUNT_SCHEMA)
    return (
        pl.concat(frames)
        .group_by("day", "pgroup", "feature", "bin")
        .agg(pl.col("n").sum())
        .sort("day", "pgroup", "feature", "bin")
    )


def baseline_span(day: int) -> tuple[int, int]:
    """The first and last day whose counts make the baseline of ``day``."""
    last = day - GUARD_DAYS
    return last - BASELINE_DAYS + 1, last


def baselines(counts: pl.DataFrame, days: Iterable[int]) -> pl.DataFrame:
    """The baseline of each of ``days`` at every level: (d, level, key, feature, bin, n).

    ``counts`` must hold every count of the days in the baselines' spans.
    """
    parts: list[pl.DataFrame] = []
    for day in sorted(set(days)):
        first, last = baseline_span(day)
        window = counts.filter((pl.col("day") >= first) & (pl.col("day") <= last))
        if window.is_empty():
            continue
        for level in LEVELS:
            parts.append(
                window.group_by(
                    (pl.col("pgroup") & _LEVEL_MASK[level]).alias("key"), "feature", "bin"
                )
                .agg(pl.col("n").sum())
                .select(
                    pl.lit(day, dtype=pl.Int32).alias("d"),
                    pl.lit(level, dtype=pl.Int8).alias("level"),
                    "key",
                    "feature",
                    "bin",
                    "n",
                )
            )
    if not parts:
        return pl.DataFrame(schema=_BASELINE_SCHEMA)
    return pl.concat(parts)


_BASELINE_SCHEMA: dict[str, pl.DataType] = {
    "d": pl.Int32(),
    "level": pl.Int8(),
    "key": pl.Int64(),
    "feature": pl.Int16(),
    "bin": pl.Int16(),
    "n": pl.Int64(),
}


def with_peers(frame: pl.DataFrame, baseline: pl.DataFrame) -> pl.DataFrame:
    """Adds :data:`PEER_COLUMNS` to a frame carrying ``seq`` and :data:`PEER_INPUTS`, and
    drops the working columns."""
    targets = frame.select("seq", *PEER_INPUTS)
    totals = (
        baseline.filter(pl.col("feature") == 0)
        .group_by("d", "level", "key")
        .agg(pl.col("n").sum().alias("total"))
    )
    chosen = targets.select("seq", "pday", "pgroup")
    level_expr: pl.Expr = pl.lit(None, dtype=pl.Int8)
    key_expr: pl.Expr = pl.lit(None, dtype=pl.Int64)
    total_expr: pl.Expr = pl.lit(None, dtype=pl.Int64)
    for level in reversed(LEVELS):  # the finest level with enough reports wins
        at = totals.filter(pl.col("level") == level).select(
            pl.col("d").alias("pday"),
            pl.col("key").alias(f"key{level}"),
            pl.col("total").alias(f"total{level}"),
        )
        chosen = chosen.with_columns(
            (pl.col("pgroup") & _LEVEL_MASK[level]).alias(f"key{level}")
        ).join(at, on=["pday", f"key{level}"], how="left", maintain_order="left")
        enough = pl.col(f"total{level}").fill_null(0) >= MIN_PEER_REPORTS
        level_expr = pl.when(enough).then(pl.lit(level, dtype=pl.Int8)).otherwise(level_expr)
        key_expr = pl.when(enough).then(pl.col(f"key{level}")).otherwise(key_expr)
        total_expr = pl.when(enough).then(pl.col(f"total{level}")).otherwise(total_expr)
    chosen = chosen.select(
        "seq",
        pl.col("pday").alias("d"),
        level_expr.alias("level"),
        key_expr.alias("key"),
        total_expr.alias("total"),
    ).filter(pl.col("level").is_not_null())
    index = {f"pb_{name}": i for i, name in enumerate(PEER_FEATURES)}
    long = (
        targets.drop("pday", "pgroup")
        .unpivot(index="seq", variable_name="feature", value_name="bin")
        .with_columns(pl.col("feature").replace_strict(index, return_dtype=pl.Int16))
        .join(chosen, on="seq", how="inner")
    )
    wanted = baseline.join(
        chosen.select("d", "level", "key").unique(), on=["d", "level", "key"], how="semi"
    )
    group = ["d", "level", "key", "feature"]
    # Cumulative counts up to each target's bin: the baseline rows and the targets sorted
    # together (a bin's baseline row before the targets in it), summed in that order.
    merged = (
        pl.concat(
            [
                wanted.select(*group, "bin", "n", pl.lit(None, dtype=pl.Int64).alias("seq")),
                long.select(*group, "bin", pl.lit(0, dtype=pl.Int64).alias("n"), "seq"),
            ]
        )
        .sort(*group, "bin", pl.col("seq").is_not_null())
        .with_columns(pl.col("n").cum_sum().over(group).alias("upto"))
        .filter(pl.col("seq").is_not_null())
        .drop("n")
        .join(wanted, on=[*group, "bin"], how="left")
        .join(chosen.select("seq", "total"), on="seq", how="left")
        .select(
            "seq",
            "feature",
            (
                (pl.col("upto") * 2 - pl.col("n").fill_null(0)).cast(pl.Float64)
                / (pl.col("total") * 2).cast(pl.Float64)
            ).alias("pct"),
        )
    )
    names = {str(i): f"peer_pct_{name}" for i, name in enumerate(PEER_FEATURES)}
    wide = (
        merged.with_columns(pl.col("feature").cast(pl.String))
        .pivot(on="feature", index="seq", values="pct")
        .rename(lambda column: names.get(column, column))
    )
    for name in names.values():
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    wide = wide.join(chosen.select("seq", "level"), on="seq", how="left")
    kept = [column for column in frame.columns if column not in PEER_INPUTS]
    return (
        frame.select(kept)
        .join(wide, on="seq", how="left", maintain_order="left")
        .with_columns(
            *[pl.col(name).cast(pl.Float64) for name in names.values()],
            pl.col("level").cast(pl.Float64).alias("peer_level"),
        )
        .select(*kept, *PEER_COLUMNS)
    )


# Days of counts (and frozen baselines) the online cache keeps before the earliest day of the
# latest batch: a report filed late (a CTR within its 15 days, a lagging partition) then finds
# its baseline in the cache instead of re-reading thirty days of every worker's counts.
LATE_DAYS = 16


class PeerCache:
    """The online side (``models.state``): daily counts of complete days, and the frozen
    baselines made from them, of one worker. A day is complete once it is at least
    :data:`GUARD_DAYS` before the earliest day of a batch: later batches (in time order) and
    the other workers no longer add to it.

    ``days_read`` counts the days read from the store (what a batch cost beyond itself)."""

    def __init__(self) -> None:
        self.counts = pl.DataFrame(schema=COUNT_SCHEMA)
        self.first: int | None = None
        self.last: int | None = None
        self.frozen: dict[int, pl.DataFrame] = {}
        self.days_read = 0

    def read(self, stored: StoredCounts, first: int, last: int) -> pl.DataFrame:
        self.days_read += max(0, last - first + 1)
        return stored(first, last)


def online_peers(cache: PeerCache, stored: StoredCounts, finished: pl.DataFrame) -> pl.DataFrame:
    """:func:`with_peers` for a micro-batch: baselines from the persisted daily counts of every
    worker (``stored``), the cache, and the batch's own reports (not persisted yet).

    The cache grows at either end by the days it lacks and is read once per day: a batch
    holding an earlier day than the cache reads only the days before the cache's first."""
    if finished.is_empty():
        return with_peers(finished, pl.DataFrame(schema=_BASELINE_SCHEMA))
    days = sorted(finished["pday"].unique().to_list())
    first, complete = baseline_span(days[0])
    last = days[-1] - GUARD_DAYS
    if cache.first is None or cache.last is None:
        cache.counts, cache.first, cache.last = cache.read(stored, first, complete), first, complete
        cache.frozen.clear()
    else:
        if first < cache.first:
            # Older days only: every day before the cache's first is complete.
            earlier = cache.read(stored, first, cache.first - 1)
            cache.counts = pl.concat([earlier, cache.counts])
            cache.first = first
        if cache.last < complete:
            # New days only: appended, not re-aggregated (baselines sums whatever rows it gets).
            cache.counts = pl.concat([cache.counts, cache.read(stored, cache.last + 1, complete)])
            cache.last = complete
    keep_from = min(first, cache.last - BASELINE_DAYS - LATE_DAYS)
    if cache.first < keep_from:
        cache.counts = cache.counts.filter(pl.col("day") >= keep_from)
        cache.first = keep_from
    for day in [day for day in cache.frozen if day - GUARD_DAYS - BASELINE_DAYS < keep_from]:
        del cache.frozen[day]
    own = daily_counts(finished)
    recent = cache.read(stored, cache.last + 1, last) if last > cache.last else None
    counts: pl.DataFrame | None = None
    parts: list[pl.DataFrame] = []
    for day in days:
        if day - GUARD_DAYS <= cache.last:
            if day not in cache.frozen:
                cache.frozen[day] = baselines(cache.counts, [day])
            parts.append(cache.frozen[day])
            continue
        if counts is None:
            extra = [] if recent is None else [recent]
            counts = pl.concat([cache.counts, *extra, own.filter(pl.col("day") <= last)])
        parts.append(baselines(counts, [day]))
    return with_peers(
        finished, pl.concat(parts) if parts else pl.DataFrame(schema=_BASELINE_SCHEMA)
    )
