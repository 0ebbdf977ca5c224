"""The persisted daily peer counts (``models.peers``): every worker adds the counts of the
reports it inserted, in the batch's transaction; every worker reads the sums back for its
baselines. Never commits: the caller owns the transaction."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.peers import COUNT_SCHEMA
from services.reports.orm import PeerCount

_CHUNK = 5_000


def _int_array(column: pl.Series) -> str:
    """A PostgreSQL array literal of integers without nulls (``CAST(:p AS bigint[])``), built
    by Polars: psycopg's list adapter dumps a Python list one element at a time in Python, and
    a batch adds thousands of counts."""
    return "{" + column.cast(pl.String).str.join(",").item() + "}"


def add_counts(session: Session, counts: pl.DataFrame) -> None:
    """Adds ``counts`` (``models.peers.COUNT_SCHEMA``) to the stored ones.

    One upsert that increments: concurrent workers add to the same rows without losing
    either's counts; rows go in key order, so two batches never wait on each other in a cycle.
    """
    if counts.is_empty():
        return
    ordered = counts.sort("day", "pgroup", "feature", "bin")
    if session.get_bind().dialect.name == "postgresql":
        # The rows as five arrays in one statement: a multi-row VALUES is compiled anew for
        # every batch and an executemany waits on a round trip per row; either cost more
        # than the rest of the batch's screening together (docs/benchmarks.md).
        session.execute(
            text(
                "INSERT INTO peer_counts (day, pgroup, feature, bin, n)"
                " SELECT * FROM unnest(CAST(:day AS integer[]), CAST(:pgroup AS bigint[]),"
                " CAST(:feature AS smallint[]), CAST(:bin AS smallint[]), CAST(:n AS bigint[]))"
                " ON CONFLICT (day, pgroup, feature, bin)"
                " DO UPDATE SET n = peer_counts.n + EXCLUDED.n"
            ),
            {name: _int_array(ordered[name]) for name in ("day", "pgroup", "feature", "bin", "n")},
        )
        return
    rows: list[dict[str, Any]] = ordered.to_dicts()
    statement = sqlite_insert(PeerCount)
    upsert = statement.on_conflict_do_update(
        index_elements=["day", "pgroup", "feature", "bin"],
        set_={"n": PeerCount.n + statement.excluded.n},
    )
    # One statement with parameter sets, compiled once and cached.
    connection = session.connection()
    for start in range(0, len(rows), _CHUNK):
        connection.execute(upsert, rows[start : start + _CHUNK])


def counts_between(session: Session, first_day: int, last_day: int) -> pl.DataFrame:
    """The stored counts of days [first_day, last_day]."""
    if last_day < first_day:
        return pl.DataFrame(schema=COUNT_SCHEMA)
    if session.get_bind().dialect.name == "postgresql":
        # COPY to CSV through the driver, parsed by Polars: this runs on every batch that spans
        # days (a few thousand rows a day), where building a frame from Python tuples cost
        # more than the query. Only integers: the CSV is unambiguous.
        connection = session.connection().connection.driver_connection
        assert connection is not None
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY (SELECT day, pgroup, feature, bin, n FROM peer_counts"
                " WHERE day >= %(first)s AND day <= %(last)s) TO STDOUT (FORMAT csv)",
                {"first": first_day, "last": last_day},
            ) as copy:
                data = b"".join(bytes(block) for block in copy)
        if not data:
            return pl.DataFrame(schema=COUNT_SCHEMA)
        return pl.read_csv(data, has_header=False, schema=COUNT_SCHEMA)
    statement = select(
        PeerCount.day, PeerCount.pgroup, PeerCount.feature, PeerCount.bin, PeerCount.n
    ).where(PeerCount.day >= first_day, PeerCount.day <= last_day)
    rows = [tuple(row) for row in session.execute(statement).all()]
    return pl.DataFrame(rows, schema=COUNT_SCHEMA, orient="row")
