"""Per-subject window state of one worker: the last 30 days of compact rows, columnar.

Layout: one ring of rows in arrival order, one numpy array per column of
:data:`models.features.CONTEXT_SCHEMA` at its narrowest type (38 bytes a row), and a backward
link per row to the same subject's previous row. Per subject the state keeps only the newest
row (``head``), the time of that row (``last_t``, kept after the row itself has expired so the
idle time before a reactivation is still known) and whether the subject was loaded.

A row's *global id* is its arrival number; it is also the ``seq`` that orders reports for the
features. Rows expire from the ring's tail once older than the retention (30 days and a grace
day behind the newest time seen); the ring grows by a quarter when it is full of live rows.

Gathering the context of a micro-batch follows the links of the batch's subjects back from
their heads, all subjects at once (one numpy step per row of the longest history), and stops
at rows older than the window.

Rebuilding: after a restart or a partition reassignment the state of a subject comes from
the store (:meth:`WindowState.rebuild`); the worker loads a subject the first time it sees it
and whenever the partition it lives on was assigned anew (``streaming.detection``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from models.features import (
    CONTEXT_SCHEMA,
    COUNTERPARTY_WINDOW_S,
    DAY,
    EDGE_ROW_SCHEMA,
    LONGEST_WINDOW_S,
    counterparty_features,
    edge_inputs,
    edges,
    empty_features,
    encode,
    finish,
    flatten,
    window_features,
    with_gaps,
)
from models.peers import (
    COUNT_SCHEMA,
    PEER_INPUTS,
    PeerCache,
    daily_counts,
    merge_counts,
    online_peers,
)
from refdata.business_days import DEFAULT_CALENDAR, BusinessCalendar

# Micro-batches are small: Polars' streaming engine (the default since Polars 2) spends
# about 30 ms setting up each query, twice what the in-memory engine needs for the whole of
# a 500-report batch's features. Same results (tests/models/test_skew.py).
ONLINE_ENGINE: Literal["in-memory"] = "in-memory"

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NO_TIME = np.iinfo(np.int64).min
_NO_GAP = np.iinfo(np.uint32).max
_NO_LINK = 0

# Storage types of the context columns (frames use the wider types of CONTEXT_SCHEMA).
_STORAGE: dict[str, type[np.generic]] = {
    "t": np.uint32,  # seconds since 1970 (good until 2106)
    "cents": np.uint32,  # features saturate USD cents at 2**32 - 1 (models.features.encode)
    "gap_s": np.uint32,  # 2**32 - 1 = no previous report
    "flags": np.uint16,
    "inst": np.uint32,
    "region": np.uint32,
    "branch": np.uint32,
    "cp_acct": np.uint32,
    "cp_country": np.uint16,
}


def _nullable(
    name: str, values: npt.NDArray[np.generic], missing: BoolArray, dtype: pl.DataType
) -> pl.Series:
    series = pl.Series(name, np.where(missing, 0, values)).cast(dtype)
    return pl.select(
        pl.when(pl.lit(pl.Series(missing))).then(None).otherwise(pl.lit(series)).alias(name)
    ).to_series()


@dataclass(frozen=True, slots=True)
class StateStats:
    subjects: int
    live_rows: int
    capacity: int
    bytes: int


class WindowState:
    """The window state of the subjects one worker owns (see the module docstring)."""

    def __init__(
        self,
        *,
        segment_rows: int = 1 << 20,
        subjects: int = 1 << 12,
        retention_s: int = LONGEST_WINDOW_S + DAY,
        grace_s: int = DAY,
    ) -> None:
        self.retention_s = retention_s
        self.grace_s = grace_s
        self._segment_rows = segment_rows
        self._ids: dict[str, int] = {}
        self._head = np.full(subjects, -1, dtype=np.int64)
        self._last_t = np.full(subjects, NO_TIME, dtype=np.int64)
        self._loaded = np.zeros(subjects, dtype=np.bool_)
        # Row storage: fixed-size segments by global id (id // segment_rows); a segment is
        # freed once every row in it has expired. Growing never copies what is stored.
        self._segments: dict[int, dict[str, npt.NDArray[Any]]] = {}
        self._segment_max_t: dict[int, int] = {}
        self._next = 0  # global id of the next row
        self._tail = 0  # oldest live global id
        self.watermark = NO_TIME  # newest report time seen
        self.coverage_start: int | None = None
        self.peers = PeerCache()

    # ---- subjects ------------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        """The ``seq`` the next appended row will get."""
        return self._next

    def subject_ids(self, keys: Sequence[str]) -> IntArray:
        """Returns the integer id of each subject key, registering new subjects."""
        ids = self._ids
        result = np.empty(len(keys), dtype=np.int64)
        for index, key in enumerate(keys):
            found = ids.get(key)
            if found is None:
                found = len(ids)
                ids[key] = found
            result[index] = found
        if len(ids) > self._head.size:
            self._grow_subjects(len(ids))
        return result

    def _grow_subjects(self, needed: int) -> None:
        size = max(needed, self._head.size * 2)
        self._head = np.concatenate([self._head, np.full(size - self._head.size, -1, np.int64)])
        self._last_t = np.concatenate(
            [self._last_t, np.full(size - self._last_t.size, NO_TIME, np.int64)]
        )
        self._loaded = np.concatenate([self._loaded, np.zeros(size - self._loaded.size, bool)])

    def loaded(self, sids: IntArray) -> BoolArray:
        return self._loaded[sids]

    def invalidate(self, sids: IntArray) -> None:
        """Forgets subjects (their rows become unreachable and expire with the ring)."""
        self._head[sids] = -1
        self._last_t[sids] = NO_TIME
        self._loaded[sids] = False

    def invalidate_all(self) -> None:
        self._head[:] = -1
        self._last_t[:] = NO_TIME
        self._loaded[:] = False

    def last_t(self, sids: IntArray) -> pl.DataFrame:
        """``sid``, ``last_t``: time of each subject's latest report (null if none)."""
        values = self._last_t[sids]
        return pl.DataFrame(
            {
                "sid": pl.Series("sid", sids, dtype=pl.UInt64),
                "last_t": _nullable("last_t", values, values == NO_TIME, pl.Int64()),
            }
        )

    # ---- rows ----------------------------------------------------------------------------
    def _segment(self, index: int) -> dict[str, npt.NDArray[Any]]:
        segment = self._segments.get(index)
        if segment is None:
            segment = {
                name: np.zeros(self._segment_rows, dtype=kind) for name, kind in _STORAGE.items()
            }
            segment["link"] = np.zeros(self._segment_rows, dtype=np.uint32)
            self._segments[index] = segment
            self._segment_max_t[index] = NO_TIME
        return segment

    def _take(self, name: str, ids: IntArray) -> npt.NDArray[Any]:
        """Values of one column for global row ids (all live)."""
        kind = np.uint32 if name == "link" else _STORAGE[name]
        result = np.empty(ids.size, dtype=kind)
        if not ids.size:
            return result
        where = ids // self._segment_rows
        offsets = ids % self._segment_rows
        first, last = int(where.min()), int(where.max())
        if first == last:
            return self._segments[first][name][offsets]
        for index in np.unique(where):
            mask = where == index
            result[mask] = self._segments[int(index)][name][offsets[mask]]
        return result

    def append(self, rows: pl.DataFrame) -> None:
        """Appends rows in arrival order (``sid`` and :data:`CONTEXT_SCHEMA` columns).

        The rows get the global ids ``next_seq, next_seq + 1, …``; when they were scored with
        those ``seq`` values, the state now matches what was scored.
        """
        n = rows.height
        if n == 0:
            return
        ids = np.arange(self._next, self._next + n, dtype=np.int64)
        values: dict[str, npt.NDArray[Any]] = {}
        for name, kind in _STORAGE.items():
            column = rows[name]
            if name == "gap_s":
                column = column.fill_null(_NO_GAP)
            values[name] = column.to_numpy().astype(kind, copy=False)
        sids = rows["sid"].to_numpy().astype(np.int64, copy=False)
        times = rows["t"].to_numpy().astype(np.int64, copy=False)
        # Link each row to its subject's previous row: within the batch first, then the head.
        order = np.argsort(sids, kind="stable")
        sorted_sids = sids[order]
        first = np.ones(n, dtype=bool)
        first[1:] = sorted_sids[1:] != sorted_sids[:-1]
        previous = np.empty(n, dtype=np.int64)
        previous[order[1:]] = ids[order[:-1]]
        previous[order[first]] = self._head[sorted_sids[first]]
        links = np.where(previous >= 0, ids - previous, _NO_LINK)
        values["link"] = np.where(links > np.iinfo(np.uint32).max, _NO_LINK, links).astype(
            np.uint32
        )
        start = 0
        while start < n:
            index, offset = divmod(self._next + start, self._segment_rows)
            count = min(n - start, self._segment_rows - offset)
            segment = self._segment(index)
            for name, array in values.items():
                segment[name][offset : offset + count] = array[start : start + count]
            self._segment_max_t[index] = max(
                self._segment_max_t[index], int(times[start : start + count].max())
            )
            start += count
        last = np.ones(n, dtype=bool)
        last[:-1] = sorted_sids[1:] != sorted_sids[:-1]
        self._head[sorted_sids[last]] = ids[order[last]]
        self._last_t[sorted_sids[last]] = times[order[last]]
        self._next += n
        newest = int(times.max())
        if newest > self.watermark:
            self.watermark = newest
        if self.coverage_start is None:
            self.coverage_start = int(times[0])
        if self._next // self._segment_rows != (self._next - n) // self._segment_rows:
            self.evict()

    def evict(self) -> int:
        """Expires rows older than the retention; returns how many rows the tail moved.

        Rows arrive roughly in time order: the tail moves to the first row at most
        ``retention`` old, and whole segments behind it are freed.
        """
        if self.watermark == NO_TIME or self._tail == self._next:
            return 0
        cutoff = self.watermark - self.retention_s
        start = self._tail
        while self._tail < self._next:
            index, offset = divmod(self._tail, self._segment_rows)
            end = min(self._next - index * self._segment_rows, self._segment_rows)
            times = self._segments[index]["t"][offset:end].astype(np.int64)
            young = np.flatnonzero(times >= cutoff)
            if young.size:
                self._tail += int(young[0])
                break
            self._tail = index * self._segment_rows + end
        for index in [i for i in self._segments if (i + 1) * self._segment_rows <= self._tail]:
            del self._segments[index]
            del self._segment_max_t[index]
        return self._tail - start

    def gather(self, sids: IntArray, since: IntArray) -> pl.DataFrame:
        """Rows of the subjects with ``t > since`` (per subject), as a context frame.

        Columns: ``sid``, ``seq`` and :data:`CONTEXT_SCHEMA`. The walk follows arrival order
        backwards and stops a subject at its first row older than ``since - grace``.
        """
        rows = self._head[sids]
        owners = np.arange(sids.size, dtype=np.int64)
        found_rows: list[IntArray] = []
        found_owners: list[IntArray] = []
        while rows.size:
            live = rows >= self._tail
            rows, owners = rows[live], owners[live]
            if not rows.size:
                break
            row_t = self._take("t", rows).astype(np.int64)
            keep = row_t > since[owners]
            found_rows.append(rows[keep])
            found_owners.append(owners[keep])
            walk = row_t > since[owners] - self.grace_s
            links = self._take("link", rows).astype(np.int64)
            walk &= links != _NO_LINK
            rows = rows[walk] - links[walk]
            owners = owners[walk]
        if found_rows:
            all_rows = np.concatenate(found_rows)
            all_owners = np.concatenate(found_owners)
        else:
            all_rows = np.empty(0, dtype=np.int64)
            all_owners = np.empty(0, dtype=np.int64)
        data: dict[str, pl.Series] = {
            "sid": pl.Series("sid", sids[all_owners], dtype=pl.UInt64),
            "seq": pl.Series("seq", all_rows, dtype=pl.Int64),
        }
        for name, dtype in CONTEXT_SCHEMA.items():
            values = self._take(name, all_rows)
            if name == "gap_s":
                data[name] = _nullable(name, values, values == _NO_GAP, dtype)
            else:
                data[name] = pl.Series(name, values).cast(dtype)
        return pl.DataFrame(data)

    def rebuild(self, rows: pl.DataFrame, prior_last_t: pl.DataFrame | None = None) -> None:
        """Replaces the state of the subjects in ``rows`` with those rows (from the store).

        ``rows`` holds ``sid`` and the context columns except ``gap_s``, in arrival order
        (the store's ``(txn_at, id)`` order); ``prior_last_t`` (``sid``, ``last_t``) gives the
        time of each subject's latest report before them, if any. The subjects are marked
        loaded, including those in ``prior_last_t`` without rows.
        """
        sids = rows["sid"].to_numpy().astype(np.int64) if rows.height else np.empty(0, np.int64)
        touched = sids
        if prior_last_t is not None and prior_last_t.height:
            touched = np.concatenate([sids, prior_last_t["sid"].to_numpy().astype(np.int64)])
        touched = np.unique(touched)
        self.invalidate(touched)
        if prior_last_t is not None and prior_last_t.height:
            known = prior_last_t.drop_nulls("last_t")
            if known.height:
                self._last_t[known["sid"].to_numpy().astype(np.int64)] = known["last_t"].to_numpy()
        if rows.height:
            framed = rows.with_columns(
                pl.col("sid").cast(pl.UInt64),
                pl.int_range(pl.len(), dtype=pl.Int64).alias("seq"),
            )
            prior = (
                prior_last_t.with_columns(pl.col("sid").cast(pl.UInt64))
                if (prior_last_t is not None)
                else None
            )
            gapped = with_gaps(framed.lazy(), prior.lazy() if prior is not None else None)
            self.append(gapped.sort("seq").collect(engine=ONLINE_ENGINE))
        self._loaded[touched] = True

    def mark_loaded(self, sids: IntArray) -> None:
        self._loaded[sids] = True

    def stats(self) -> StateStats:
        row_bytes = sum(
            column.nbytes for segment in self._segments.values() for column in segment.values()
        )
        subject_bytes = self._head.nbytes + self._last_t.nbytes + self._loaded.nbytes
        return StateStats(
            subjects=len(self._ids),
            live_rows=self._next - self._tail,
            capacity=len(self._segments) * self._segment_rows,
            bytes=row_bytes + subject_bytes,
        )


# ---------------------------------------------------------------------------------------------
# Online features: the state plus a micro-batch, through the functions training uses


class HistoryStore(Protocol):
    """What the online features need from the report store (all subjects, all workers)."""

    def coverage_start(self) -> int | None:
        """Time of the first stored report (what the detector has been watching since)."""
        ...

    def history(
        self, subject_keys: Sequence[str], since: int, exclude: Collection[tuple[str, str]]
    ) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
        """Reports of the subjects with time > ``since``, oldest first (ties in store order).

        Returns the wire documents, their subject keys, and for each subject the time of its
        latest report at or before ``since``. Reports in ``exclude`` are left out (the batch).
        """
        ...

    def edge_rows(self, accounts: Sequence[str], since: int, until: int) -> pl.DataFrame:
        """Stored reports with ``account_id`` or ``counterparty_account_id`` in ``accounts``
        and time in ``(since, until]``, as :data:`models.features.EDGE_ROW_SCHEMA` rows."""
        ...

    def peer_counts(self, first_day: int, last_day: int) -> pl.DataFrame:
        """The persisted peer counts of days [first_day, last_day] (``models.peers``
        ``COUNT_SCHEMA``), summed over every worker."""
        ...


_PEER_ROW_SCHEMA: dict[str, pl.DataType] = {
    "pday": pl.Int32(),
    "pgroup": pl.Int64(),
    **{name: pl.Int16() for name in PEER_INPUTS[2:]},
}


@dataclass(slots=True)
class BatchFeatures:
    """Features of one micro-batch's reports, and the rows to add to the state on commit.

    ``peer_rows``: each report's peer group, day and bins (``models.peers.PEER_INPUTS``), in
    batch order; once the batch is stored, the counts of the reports actually inserted
    (:func:`peer_counts_of`) are added to the persisted daily counts.
    """

    features: pl.DataFrame
    pending: pl.DataFrame
    peer_rows: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_PEER_ROW_SCHEMA))


def peer_counts_of(peer_rows: pl.DataFrame) -> pl.DataFrame:
    """Daily peer counts (``models.peers.COUNT_SCHEMA``) of some of a batch's ``peer_rows``."""
    return daily_counts(peer_rows)


def batch_features(
    state: WindowState,
    flat: pl.DataFrame,
    store: HistoryStore,
    *,
    calendar: BusinessCalendar = DEFAULT_CALENDAR,
) -> BatchFeatures:
    """Features of the batch's reports over state + batch (the worker's path).

    Subjects the state has not loaded are first rebuilt from the store. The store may or may
    not hold the batch yet (the worker scores first, then writes the reports with their
    scores). The state is not changed by the batch itself: call
    ``state.append(result.pending)`` once the batch's transaction has committed.
    """
    compact = encode(flat).collect(engine=ONLINE_ENGINE)
    if compact.is_empty():
        return BatchFeatures(empty_features(), pl.DataFrame())
    keys = compact["subject_key"].to_list()
    sids = state.subject_ids(keys)
    times = compact["t"].to_numpy().astype(np.int64)
    if state.coverage_start is None:
        state.coverage_start = store.coverage_start()
    unique_sids, first = np.unique(sids, return_index=True)
    missing = unique_sids[~state.loaded(unique_sids)]
    if missing.size:
        _load(state, store, compact, sids, missing, int(times.min()) - LONGEST_WINDOW_S)
    if state.coverage_start is None:
        state.coverage_start = int(times[0])
    seq = np.arange(state.next_seq, state.next_seq + compact.height, dtype=np.int64)
    batch = compact.with_columns(
        pl.Series("sid", sids, dtype=pl.UInt64), pl.Series("seq", seq, dtype=pl.Int64)
    )
    batch = (
        with_gaps(batch.lazy(), state.last_t(unique_sids).lazy())
        .sort("seq")
        .collect(engine=ONLINE_ENGINE)
    )
    # Each subject's context starts a window before its earliest report in the batch.
    earliest = pl.DataFrame({"sid": sids, "t": times}).group_by("sid").agg(pl.col("t").min())
    since_by_sid = dict(zip(earliest["sid"].to_list(), earliest["t"].to_list(), strict=True))
    since = np.array([since_by_sid[int(s)] for s in unique_sids], dtype=np.int64)
    context = pl.concat(
        [
            state.gather(unique_sids, since - LONGEST_WINDOW_S),
            batch.select("sid", "seq", *CONTEXT_SCHEMA),
        ]
    )
    windows = window_features(context.lazy(), batch.lazy(), calendar=calendar)
    accounts = sorted(flat["cp_account_id"].drop_nulls().unique().to_list())
    edge_frame = store.edge_rows(
        accounts, int(times.min()) - COUNTERPARTY_WINDOW_S - 1, int(times.max())
    )
    # The batch's own payments count as edges whether or not the store holds them yet (the
    # worker scores before it writes); an edge in both is counted once (same report key).
    own = flat.select(*EDGE_ROW_SCHEMA).filter(
        pl.col("account_id").is_in(accounts) | pl.col("cp_account_id").is_in(accounts)
    )
    edge_frame = pl.concat([edge_frame, own])
    counterparty = counterparty_features(batch.lazy(), edges(edge_inputs(edge_frame))).select(
        "seq", "cp_payers_7d", "cp_payees_7d"
    )
    finished = (
        finish(
            windows.join(counterparty, on="seq", how="left"),
            coverage_start=state.coverage_start,
        )
        .sort("seq")
        .collect(engine=ONLINE_ENGINE)
    )
    result = online_peers(state.peers, store.peer_counts, finished)
    del first
    return BatchFeatures(
        result, batch.sort("seq").select("sid", *CONTEXT_SCHEMA), finished.select(PEER_INPUTS)
    )


def _load(
    state: WindowState,
    store: HistoryStore,
    compact: pl.DataFrame,
    sids: IntArray,
    missing: IntArray,
    since: int,
) -> None:
    keys = compact["subject_key"].to_list()
    key_of = {int(sid): keys[index] for index, sid in enumerate(sids)}
    wanted = [key_of[int(sid)] for sid in missing]
    exclude = set(
        zip(compact["institution_id"].to_list(), compact["report_id"].to_list(), strict=True)
    )
    documents, doc_keys, prior = store.history(wanted, since - state.grace_s, exclude)
    rows = encode(flatten(documents, doc_keys)).collect(engine=ONLINE_ENGINE) if documents else None
    if rows is not None and rows.height:
        rows = rows.with_columns(
            pl.Series("sid", state.subject_ids(rows["subject_key"].to_list()), dtype=pl.UInt64)
        ).select("sid", *[name for name in CONTEXT_SCHEMA if name != "gap_s"])
    else:
        rows = pl.DataFrame(
            schema={"sid": pl.UInt64(), **{k: v for k, v in CONTEXT_SCHEMA.items() if k != "gap_s"}}
        )
    prior_frame = pl.DataFrame(
        {
            "sid": pl.Series("sid", missing, dtype=pl.UInt64),
            "last_t": pl.Series(
                "last_t", [prior.get(key_of[int(sid)]) for sid in missing], dtype=pl.Int64
            ),
        }
    )
    state.rebuild(rows, prior_frame)


class MemoryStore:
    """An in-process :class:`HistoryStore` over reports added in arrival order.

    For tests, benchmarks and file backtests of the online path; the worker reads the real
    report store (``services.reports.history.ReportHistory``).
    """

    def __init__(self) -> None:
        self._documents: list[dict[str, Any]] = []
        self._frames: list[pl.DataFrame] = []
        self._flat: pl.DataFrame | None = None
        self._peer_counts = pl.DataFrame(schema=COUNT_SCHEMA)

    def add_peer_counts(self, counts: pl.DataFrame) -> None:
        """What the worker persists after a batch's commit (``services.reports.peers``)."""
        self._peer_counts = merge_counts([self._peer_counts, counts])

    def peer_counts(self, first_day: int, last_day: int) -> pl.DataFrame:
        return self._peer_counts.filter((pl.col("day") >= first_day) & (pl.col("day") <= last_day))

    def add(self, documents: Sequence[dict[str, Any]], flat: pl.DataFrame) -> None:
        self._documents.extend(documents)
        self._frames.append(flat)
        self._flat = None

    @property
    def flat(self) -> pl.DataFrame:
        if self._flat is None:
            self._flat = pl.concat(self._frames) if self._frames else flatten([])
            self._frames = [self._flat]
        return self._flat.with_row_index("pos")

    def coverage_start(self) -> int | None:
        flat = self.flat
        return int(flat["t"][0]) if flat.height else None

    def history(
        self, subject_keys: Sequence[str], since: int, exclude: Collection[tuple[str, str]]
    ) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
        flat = self.flat.filter(pl.col("subject_key").is_in(list(subject_keys)))
        excluded = pl.DataFrame(
            list(exclude),
            schema={"institution_id": pl.String(), "report_id": pl.String()},
            orient="row",
        )
        flat = flat.join(excluded, on=["institution_id", "report_id"], how="anti")
        recent = flat.filter(pl.col("t") > since).sort("t", "pos")
        prior = flat.filter(pl.col("t") <= since).group_by("subject_key").agg(pl.col("t").max())
        documents = [self._documents[pos] for pos in recent["pos"].to_list()]
        return (
            documents,
            recent["subject_key"].to_list(),
            dict(zip(prior["subject_key"].to_list(), prior["t"].to_list(), strict=True)),
        )

    def edge_rows(self, accounts: Sequence[str], since: int, until: int) -> pl.DataFrame:
        flat = self.flat
        wanted = list(accounts)
        return flat.filter(
            (pl.col("account_id").is_in(wanted) | pl.col("cp_account_id").is_in(wanted))
            & (pl.col("t") > since)
            & (pl.col("t") <= until)
        ).select(*EDGE_ROW_SCHEMA)
