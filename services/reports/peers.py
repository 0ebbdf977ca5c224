"""The persisted daily peer counts (``models.peers``): every worker adds the counts of the
reports it inserted, in the batch's transaction; every worker reads the sums back for its
baselines. Never commits: the caller owns the transaction."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.peers import COUNT_SCHEMA
from services.reports.orm import PeerCount

_CHUNK = 5_000


def add_counts(session: Session, counts: pl.DataFrame) -> None:
    """Adds ``counts`` (``models.peers.COUNT_SCHEMA``) to the stored ones.

    One upsert that increments: concurrent workers add to the same rows without losing
    either's counts; rows go in key order, so two batches never wait on each other in a cycle.
    """
    if counts.is_empty():
        return
    rows: list[dict[str, Any]] = counts.sort("day", "pgroup", "feature", "bin").to_dicts()
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        if postgres:
            pg = pg_insert(PeerCount).values(chunk)
            statement: Any = pg.on_conflict_do_update(
                index_elements=["day", "pgroup", "feature", "bin"],
                set_={"n": PeerCount.n + pg.excluded.n},
            )
        else:
            lite = sqlite_insert(PeerCount).values(chunk)
            statement = lite.on_conflict_do_update(
                index_elements=["day", "pgroup", "feature", "bin"],
                set_={"n": PeerCount.n + lite.excluded.n},
            )
        session.execute(statement)


def counts_between(session: Session, first_day: int, last_day: int) -> pl.DataFrame:
    """The stored counts of days [first_day, last_day]."""
    if last_day < first_day:
        return pl.DataFrame(schema=COUNT_SCHEMA)
    statement = select(
        PeerCount.day, PeerCount.pgroup, PeerCount.feature, PeerCount.bin, PeerCount.n
    ).where(PeerCount.day >= first_day, PeerCount.day <= last_day)
    rows = session.execute(statement).all()
    return pl.DataFrame([tuple(row) for row in rows], schema=COUNT_SCHEMA, orient="row")
