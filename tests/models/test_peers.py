"""Peer-relative features on hand-made frames: bins, baselines, percentiles, fallbacks."""

from __future__ import annotations

import polars as pl

from models import peers as P

DAY = P.DAY


def rows(day: int, group: int, values: list[int], first_seq: int = 0) -> pl.DataFrame:
    """Reports of one group and day with ``usd`` in bin ``values[i]`` (others in bin 0)."""
    n = len(values)
    return pl.DataFrame(
        {
            "seq": list(range(first_seq, first_seq + n)),
            "pday": [day] * n,
            "pgroup": [group] * n,
            **{f"pb_{name}": (values if name == "usd" else [0] * n) for name in P.PEER_FEATURES},
        },
        schema_overrides={"pday": pl.Int32, **{f"pb_{n}": pl.Int16 for n in P.PEER_FEATURES}},
    )


def test_bins_are_half_octaves():
    values = [0, 1, 2, 3, 4, 6, 8, 100, 10**6]
    frame = pl.DataFrame({"t": [0] * len(values), "cents": values, "x": [1] * len(values)})
    exprs = P.peer_inputs(inst="x", entity="x", naics2="x", mx=pl.lit(False))
    bins = frame.with_columns(
        pl.lit(0).alias(c) for c in P.PEER_SOURCES.values() if c != "cents"
    ).select(exprs)["pb_usd"]
    assert bins.to_list() == [0, 1, 3, 4, 5, 6, 7, 14, 40]


def test_percentile_within_the_baseline_of_days_d_minus_31_to_d_minus_2():
    group = 5 << 24 | 3  # institution 5, entity, MX
    history = pl.concat(
        [
            rows(100, group, [1] * 100 + [2] * 100, 0),  # in the baseline of day 102
            rows(101, group, [9] * 500, 1000),  # day d - 1: not yet in it
        ]
    )
    target = rows(102, group, [1, 2, 3], 5000)
    counts = P.daily_counts(pl.concat([history, target]))
    result = P.with_peers(target, P.baselines(counts, [102]))
    # Bin 1: none below, 100 of 200 in it -> 0.25; bin 2: 100 below + 50 -> 0.75; bin 3: 1.0.
    assert result["peer_pct_usd"].to_list() == [0.25, 0.75, 1.0]
    assert result["peer_level"].to_list() == [0.0, 0.0, 0.0]
    assert result["peer_pct_cash_in_n_30d"].to_list() == [0.5, 0.5, 0.5]
    assert not set(P.PEER_INPUTS) & set(result.columns)


def test_a_small_group_falls_back_to_its_coarser_peers_then_to_none():
    small = (7 << 24) | (43 << 8) | 2  # institution 7, sector 42, entity, US
    sibling = (8 << 24) | (43 << 8) | 2  # same sector and kind at another institution
    history = pl.concat([rows(50, small, [1] * 50, 0), rows(50, sibling, [3] * 150, 100)])
    target = pl.concat([rows(52, small, [2], 1000), rows(52, 1 << 24, [2], 1001)])
    result = P.with_peers(target, P.baselines(P.daily_counts(history), [52]))
    # 200 reports across both institutions (level 1): 50 below bin 2, 150 above.
    assert result["peer_level"].to_list() == [1.0, None]
    assert result["peer_pct_usd"].to_list() == [0.25, None]


def test_the_online_cache_gives_the_offline_numbers():
    group = 2
    days = {d: rows(d, group, [d % 5 + 1] * 120, d * 1000) for d in range(10, 16)}
    stored = P.merge_counts(P.daily_counts(days[d]) for d in range(10, 15))
    offline = P.with_peers(days[15], P.baselines(P.daily_counts(pl.concat(days.values())), [15]))
    cache = P.PeerCache()

    def read(first: int, last: int) -> pl.DataFrame:
        return stored.filter(pl.col("day").is_between(first, last))

    online = P.online_peers(cache, read, days[15])
    assert online.equals(offline)
    assert cache.last == 13
    assert 15 in cache.frozen


def test_an_earlier_day_reads_only_the_days_the_cache_lacks():
    group = 2
    days = {d: rows(d, group, [d % 5 + 1] * 120, d * 1000) for d in range(1, 60)}
    all_counts = P.daily_counts(pl.concat(days.values()))
    reads: list[tuple[int, int]] = []

    def read(first: int, last: int) -> pl.DataFrame:
        reads.append((first, last))
        return all_counts.filter(pl.col("day").is_between(first, last))

    cache = P.PeerCache()
    P.online_peers(cache, read, days[50])
    assert reads == [(19, 48)]
    # A late report of day 45 (a CTR filed days after the transaction): five older days only.
    late = P.online_peers(cache, read, days[45])
    assert reads[1:] == [(14, 18)]
    offline = P.with_peers(days[45], P.baselines(all_counts, [45]))
    assert late.equals(offline)
    # Back to the present: nothing is read again, the late day's baseline stays frozen.
    P.online_peers(cache, read, days[50])
    P.online_peers(cache, read, days[45])
    assert len(reads) == 2
    assert cache.days_read == 35


def test_a_shifted_baseline_gives_the_numbers_of_a_complete_one():
    """A day's baseline shifted from an earlier day's (the online path when a batch spans days
    the cache has not frozen) equals the one summed over its thirty days, including bins that
    empty out and groups that appear or vanish between the two spans."""
    groups = [7 << 24 | 2 | 1, 8 << 24 | 2 | 1, 9 << 24 | 0]
    history = [
        rows(
            d,
            groups[d % 3] if d < 30 else groups[d % 2],
            [(d * k) % 11 for k in range(90)],
            d * 1000,
        )
        for d in range(1, 60)
    ]
    counts = P.daily_counts(pl.concat(history))
    base = P.baselines(counts, [35])[35]
    for day in (36, 40, 52, 64):
        target = pl.concat([rows(day, group, list(range(12)), 100_000) for group in groups])
        target = target.with_columns(pl.int_range(pl.len()).alias("seq"))
        shifted = P.shifted_baseline(base, 35, counts, day)
        assert shifted is not None
        direct = P.with_peers(target, P.baselines(counts, [day]))
        assert P.with_peers(target, {day: shifted}).equals(direct)
        assert direct["peer_level"].drop_nulls().len() > 0
