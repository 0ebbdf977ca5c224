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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

DAY = 86_400
BASELINE_DAYS = 30
# The baseline of day d ends with day d - GUARD_DAYS.
GUARD_DAYS = 2
MIN_PEER_REPORTS = 200

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

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


@dataclass(frozen=True, slots=True)
class CountIndex:
    """Counts of some days at every level, indexed for lookups.

    Groups: ``keys[level]`` holds the level's group keys sorted; group ``g`` of level ``l`` is
    ``offsets[l] + position``. Entries: one per (group, feature, bin) with reports, sorted by
    ``slot`` = g << 16 | feature << 8 | bin, with the bin's count ``n`` and the count of its
    bin and every lower one of that group and feature (``upto``); ``total[g]`` is the group's
    reports (those of feature 0: every report has one bin per feature).
    """

    keys: tuple[IntArray, ...]
    offsets: tuple[int, ...]
    slot: IntArray
    n: IntArray
    upto: IntArray
    total: IntArray

    @classmethod
    def of(cls, counts: pl.DataFrame) -> CountIndex:
        """The index of count rows (:data:`COUNT_SCHEMA`), summed over their days."""
        if counts.is_empty():
            nothing = np.zeros(0, dtype=np.int64)
            empty_keys = tuple(nothing for _ in LEVELS)
            return cls(empty_keys, tuple(0 for _ in LEVELS), nothing, nothing, nothing, nothing)
        group = counts["pgroup"].to_numpy().astype(np.int64)
        # The few distinct groups first: each level's keys and group numbers come from them.
        distinct = np.unique(group)
        which = np.searchsorted(distinct, group)
        keys: list[IntArray] = []
        offsets: list[int] = []
        slots: list[IntArray] = []
        offset = 0
        lower = (counts["feature"].to_numpy().astype(np.int64) << 8) | counts["bin"].to_numpy()
        for level in LEVELS:
            unique, inverse = np.unique(distinct & _LEVEL_MASK[level], return_inverse=True)
            keys.append(unique.astype(np.int64))
            offsets.append(offset)
            slots.append(((offset + inverse.astype(np.int64)[which]) << 16) | lower)
            offset += unique.size
        every = np.concatenate(slots)
        order = np.argsort(every, kind="stable")
        ordered = every[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        n = np.tile(counts["n"].to_numpy().astype(np.int64), len(LEVELS))[order]
        slot, summed = ordered[starts], np.add.reduceat(n, starts)
        # Cumulative count within each (group, feature): a running sum restarted at each pair.
        pair = slot >> 8
        running = np.cumsum(summed)
        starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        before = np.repeat(running[starts] - summed[starts], np.diff(np.r_[starts, pair.size]))
        first_feature = (pair & 0xFF) == 0
        total = np.zeros(offset, dtype=np.int64)
        np.add.at(total, slot[first_feature] >> 16, summed[first_feature])
        return cls(tuple(keys), tuple(offsets), slot, summed, running - before, total)

    def groups(self, level: int, key: IntArray) -> tuple[IntArray, BoolArray]:
        """Each key's group at ``level`` and whether the index has it."""
        keys = self.keys[level]
        if keys.size == 0:
            return np.zeros(key.size, dtype=np.int64), np.zeros(key.size, dtype=np.bool_)
        position = np.minimum(np.searchsorted(keys, key), keys.size - 1)
        return self.offsets[level] + position, keys[position] == key

    def totals(self, level: int, key: IntArray) -> IntArray:
        group, hit = self.groups(level, key)
        return np.where(hit, self.total[np.where(hit, group, 0)] if self.total.size else 0, 0)

    def below2(self, level: int, key: IntArray, feature: int, bins: IntArray) -> IntArray:
        """2 · (reports below each bin) + reports in it, of each key's group and ``feature``."""
        group, hit = self.groups(level, key)
        if self.slot.size == 0:
            return np.zeros(key.size, dtype=np.int64)
        slot = (group << 16) | (feature << 8) | bins
        # The entry with the greatest slot ≤ this one: the same (group, feature) and a bin at
        # or below this bin, when the group has any there.
        last = np.searchsorted(self.slot, slot, side="right") - 1
        valid = hit & (last >= 0)
        last = np.where(valid, last, 0)
        same_pair = valid & ((self.slot[last] >> 8) == (slot >> 8))
        upto = np.where(same_pair, self.upto[last], 0)
        here = np.where(same_pair & (self.slot[last] == slot), self.n[last], 0)
        return upto * 2 - here


@dataclass(frozen=True, slots=True)
class DayBaseline:
    """The baseline of one day: signed sums of count indexes. A complete baseline is one
    index of its thirty days; a baseline shifted from another day's adds the days that entered
    its span and subtracts those that left (:func:`shifted_baseline`). Counts are integers, so
    the sums are the same whichever way the days were grouped."""

    parts: tuple[tuple[int, CountIndex], ...]

    def totals(self, level: int, key: IntArray) -> IntArray:
        return sum(
            (sign * part.totals(level, key) for sign, part in self.parts),
            np.zeros(key.size, dtype=np.int64),
        )

    def below2(self, level: int, key: IntArray, feature: int, bins: IntArray) -> IntArray:
        return sum(
            (sign * part.below2(level, key, feature, bins) for sign, part in self.parts),
            np.zeros(key.size, dtype=np.int64),
        )


# A mapping from day to that day's baseline: what :func:`with_peers` reads.
Baselines = Mapping[int, DayBaseline]


def _day_baseline(counts: pl.DataFrame, day: int) -> DayBaseline | None:
    first, last = baseline_span(day)
    window = counts.filter((pl.col("day") >= first) & (pl.col("day") <= last))
    return None if window.is_empty() else DayBaseline(((1, CountIndex.of(window)),))


def baselines(counts: pl.DataFrame, days: Iterable[int]) -> dict[int, DayBaseline]:
    """The baseline of each of ``days`` at every level (days with no counts are absent).

    ``counts`` must hold every count of the days in the baselines' spans.
    """
    found: dict[int, DayBaseline] = {}
    for day in sorted(set(days)):
        baseline = _day_baseline(counts, day)
        if baseline is not None:
            found[day] = baseline
    return found


def shifted_baseline(
    base: DayBaseline | None, start: int, counts: pl.DataFrame, day: int
) -> DayBaseline | None:
    """The baseline of ``day`` from ``base``, the baseline of an earlier day ``start``: plus
    the counts of the days that entered the span since, minus those that left it.

    The same numbers as ``baselines(counts, [day])`` at the cost of indexing the few days
    between instead of thirty. ``counts`` must hold the days between the two spans' starts
    and ends.
    """
    first, last = baseline_span(day)
    start_first, start_last = baseline_span(start)
    if base is None or not start < day < start + BASELINE_DAYS:
        return _day_baseline(counts, day)
    parts = list(base.parts)
    added = counts.filter(pl.col("day").is_between(start_last + 1, last))
    if added.height:
        parts.append((1, CountIndex.of(added)))
    removed = counts.filter(pl.col("day").is_between(start_first, first - 1))
    if removed.height:
        parts.append((-1, CountIndex.of(removed)))
    return DayBaseline(tuple(parts))


def with_peers(frame: pl.DataFrame, baseline: Baselines) -> pl.DataFrame:
    """Adds :data:`PEER_COLUMNS` to a frame carrying :data:`PEER_INPUTS` (row order kept), and
    drops the working columns.

    Per report: the finest level whose group holds at least :data:`MIN_PEER_REPORTS` reports
    in the baseline of the report's day; per feature, (reports below its bin + half of those
    in it) / reports, computed as (2·below + in) / (2·reports) from integers, one division.
    """
    size = frame.height
    day = frame["pday"].to_numpy().astype(np.int64)
    group = frame["pgroup"].to_numpy().astype(np.int64)
    bins = {name: frame[f"pb_{name}"].to_numpy().astype(np.int64) for name in PEER_FEATURES}
    chosen = np.full(size, -1, dtype=np.int64)
    pct = np.full((len(PEER_FEATURES), size), np.nan)
    for d in np.unique(day).tolist():
        days_baseline = baseline.get(int(d))
        if days_baseline is None:
            continue
        rows = np.flatnonzero(day == d)
        for level in LEVELS:  # finest first: the first level with enough reports wins
            open_rows = rows[chosen[rows] < 0]
            if open_rows.size == 0:
                break
            key = group[open_rows] & _LEVEL_MASK[level]
            total = days_baseline.totals(level, key)
            enough = total >= MIN_PEER_REPORTS
            at, key, total2 = open_rows[enough], key[enough], (total[enough] * 2).astype(np.float64)
            chosen[at] = level
            for index, name in enumerate(PEER_FEATURES):
                numerator = days_baseline.below2(level, key, index, bins[name][at])
                pct[index, at] = numerator.astype(np.float64) / total2
    kept = [column for column in frame.columns if column not in PEER_INPUTS]
    return frame.select(kept).with_columns(
        *[
            pl.Series(f"peer_pct_{name}", pct[index], dtype=pl.Float64, nan_to_null=True)
            for index, name in enumerate(PEER_FEATURES)
        ],
        pl.Series(
            "peer_level",
            np.where(chosen >= 0, chosen, np.nan).astype(np.float64),
            nan_to_null=True,
        ),
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
        self.frozen: dict[int, DayBaseline | None] = {}
        self.days_read = 0

    def read(self, stored: StoredCounts, first: int, last: int) -> pl.DataFrame:
        self.days_read += max(0, last - first + 1)
        return stored(first, last)


def _frozen(cache: PeerCache, day: int) -> DayBaseline | None:
    """The baseline of a day whose span the cache holds complete, computed once."""
    if day not in cache.frozen:
        cache.frozen[day] = _day_baseline(cache.counts, day)
    return cache.frozen[day]


def online_peers(cache: PeerCache, stored: StoredCounts, finished: pl.DataFrame) -> pl.DataFrame:
    """:func:`with_peers` for a micro-batch: baselines from the persisted daily counts of every
    worker (``stored``), the cache, and the batch's own reports (not persisted yet).

    The cache grows at either end by the days it lacks and is read once per day: a batch
    holding an earlier day than the cache reads only the days before the cache's first."""
    if finished.is_empty():
        return with_peers(finished, {})
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
    found: dict[int, DayBaseline | None] = {}
    for day in days:
        if day - GUARD_DAYS <= cache.last:
            found[day] = _frozen(cache, day)
            continue
        if counts is None:
            extra = [] if recent is None else [recent]
            counts = pl.concat([cache.counts, *extra, own.filter(pl.col("day") <= last)])
        # A day whose span is not complete yet (a batch across midnight, a replay): shifted
        # from the latest complete baseline rather than summed again over thirty days.
        anchor = cache.last + GUARD_DAYS
        found[day] = shifted_baseline(_frozen(cache, anchor), anchor, counts, day)
    return with_peers(
        finished, {day: baseline for day, baseline in found.items() if baseline is not None}
    )
