"""The persisted peer counts: increments add up, reads select days."""

from __future__ import annotations

import polars as pl

from models.peers import COUNT_SCHEMA
from services.reports import peers


def counts(rows: list[tuple[int, int, int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=COUNT_SCHEMA, orient="row")


def test_counts_add_up_and_are_read_by_day(session):
    peers.add_counts(session, counts([(10, 5, 0, 3, 2), (11, 5, 0, 3, 1), (12, 7, 1, 0, 4)]))
    peers.add_counts(session, counts([(10, 5, 0, 3, 5), (12, 7, 1, 1, 1)]))
    read = peers.counts_between(session, 10, 11).sort("day")
    assert read.rows() == [(10, 5, 0, 3, 7), (11, 5, 0, 3, 1)]
    assert peers.counts_between(session, 12, 12).sort("bin")["n"].to_list() == [4, 1]
    assert peers.counts_between(session, 13, 12).is_empty()
    peers.add_counts(session, counts([]))  # nothing to add is fine


def test_a_large_batch_adds_every_row_once(session):
    # More rows than one SQLite chunk; on PostgreSQL one statement over arrays.
    rows = [(day, group, 0, 1, day + group) for day in range(3) for group in range(4_000)]
    peers.add_counts(session, counts(rows))
    peers.add_counts(session, counts(rows[:10]))
    read = peers.counts_between(session, 0, 2)
    assert read.height == len(rows)
    assert int(read["n"].sum()) == sum(row[4] for row in rows) + sum(row[4] for row in rows[:10])


def test_wide_group_keys_and_negative_bins_are_stored_exactly(session):
    # A group key holds the institution code above bit 24: well past 32 bits.
    rows = [(20, (1 << 55) + 12_345, 3, -1, 9), (20, -5, 0, 128, 1)]
    peers.add_counts(session, counts(rows))
    assert sorted(peers.counts_between(session, 20, 20).rows()) == sorted(rows)
