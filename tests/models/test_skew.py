"""No training/serving skew: the offline path and the worker's path give identical features.

The same generated stream goes through ``build_features`` over the whole history (training,
``amlscreen score``) and through ``batch_features`` over window state + micro-batches of
varying sizes (the worker), with a restart half-way whose state is rebuilt from the store.
Every feature, rule input and explanation column must be equal, bit for bit.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
import pytest

from models.features import FEATURE_COLUMNS, features_from_documents, flatten
from models.peers import PEER_COLUMNS
from models.state import MemoryStore, WindowState, batch_features, peer_counts_of
from simulator.generate import GeneratorConfig, generate


@pytest.fixture(scope="module")
def stream() -> list[dict]:
    config = GeneratorConfig(
        seed=4242,
        n_reports=12_000,
        start=datetime(2026, 2, 2, tzinfo=UTC),
        days=45,
        laundering_share=0.05,
    )
    return [item.report for item in generate(config)]


def online(documents: list[dict], sizes: list[int], restart_at: int | None) -> pl.DataFrame:
    state, store = WindowState(segment_rows=256, subjects=8), MemoryStore()
    rng = random.Random(7)
    parts, position, restarted = [], 0, False
    while position < len(documents):
        if restart_at is not None and position >= restart_at and not restarted:
            state, restarted = WindowState(), True
        batch = documents[position : position + rng.choice(sizes)]
        position += len(batch)
        flat = flatten(batch)
        # The worker scores a batch, then writes it; features must not depend on whether the
        # store holds the batch already (its own counterparty edges count either way).
        stored_first = rng.random() < 0.5
        if stored_first:
            store.add(batch, flat)
        result = batch_features(state, flat, store)
        if not stored_first:
            store.add(batch, flat)
        state.append(result.pending)  # after the commit
        store.add_peer_counts(peer_counts_of(result.peer_rows))
        parts.append(result.features)
    return pl.concat(parts)


def assert_identical(offline: pl.DataFrame, streamed: pl.DataFrame) -> None:
    assert offline.height == streamed.height
    assert offline["report_id"].to_list() == streamed["report_id"].to_list()
    different = []
    for column in offline.columns:
        if column == "seq":  # arrival numbers are local to each path
            continue
        left, right = offline[column], streamed[column]
        same = ((left == right) | (left.is_null() & right.is_null())).fill_null(False)
        if not same.all():
            different.append((column, int((~same).sum())))
    assert different == []


@pytest.mark.parametrize(
    ("sizes", "restart"),
    [([1, 3, 50, 400, 2500], None), ([5000], 6000), ([7, 700], 3333)],
    ids=["varying-batches", "large-batches-restart", "small-batches-restart"],
)
def test_offline_and_online_features_are_identical(stream, sizes, restart):
    offline = features_from_documents(stream, chunk_rows=3000)
    assert_identical(offline, online(stream, sizes, restart))


def test_the_comparison_can_fail(stream):
    offline = features_from_documents(stream[:2000])
    tampered = offline.with_columns(
        pl.when(pl.col("seq") == 1500).then(pl.col("usd_7d") + 0.01).otherwise(pl.col("usd_7d"))
    )
    with pytest.raises(AssertionError):
        assert_identical(offline, tampered)


def test_the_peer_columns_are_compared_and_judge_most_reports(stream):
    offline = features_from_documents(stream, chunk_rows=3000)
    assert set(PEER_COLUMNS) <= set(offline.columns)
    # After the first days nearly every report has a peer group with enough reports (a
    # rare kind, e.g. Mexican entities, may have fewer than 200 in all).
    late = offline.filter(pl.col("t") > offline["t"].min() + 5 * 86_400)
    assert late["peer_level"].null_count() < late.height * 0.01
    assert late["peer_pct_usd"].drop_nulls().is_between(0, 1).all()
    assert offline.filter(pl.col("t") < offline["t"].min() + 86_400)["peer_level"].is_null().all()
    tampered = offline.with_columns(
        pl.when(pl.col("seq") == 9000)
        .then(pl.col("peer_pct_payers_30d") + 1e-12)
        .otherwise(pl.col("peer_pct_payers_30d"))
    )
    with pytest.raises(AssertionError):
        assert_identical(offline, tampered)


def test_the_stream_exercises_the_features(stream):
    frame = features_from_documents(stream)
    exercised = [name for name in FEATURE_COLUMNS if frame[name].fill_null(0).abs().sum() > 0]
    assert len(exercised) >= len(FEATURE_COLUMNS) - 3
