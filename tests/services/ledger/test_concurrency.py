"""Concurrent writers: the chain never forks, decisions stay at-most-once, keys stay unique."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from services.db import transaction
from services.errors import ServiceError
from services.ledger import service as ledger
from services.ledger.enums import EntryKind
from services.ledger.service import Line
from tests.services.ledger.support import People, key

WRITERS = 8
EACH = 10


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    start = threading.Barrier(count)

    def body(index: int) -> None:
        start.wait()
        try:
            results[index] = work(index)
        except Exception as error:  # collected and asserted on by the caller
            results[index] = error

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def forfeiture(amount: int) -> list[Line]:
    return [Line("forfeiture-proceeds", "USD", -amount), Line("forfeited:C-9", "USD", amount)]


def test_parallel_appends_keep_one_chain(sessions: sessionmaker[Session], people: People) -> None:
    def writer(index: int) -> list[int]:
        seqs = []
        for n in range(EACH):
            with transaction(sessions) as session:
                entry = ledger.propose(
                    session,
                    principal=people.investigator,
                    idempotency_key=f"w{index}-{n}",
                    kind=EntryKind.FORFEITURE,
                    asset_id=index,
                    lines=forfeiture(100 + n),
                )
                seqs.append(entry.seq)
        return seqs

    results = run_threads(WRITERS, writer)
    assert not [r for r in results if isinstance(r, Exception)], results
    seqs = sorted(seq for result in results for seq in result)
    assert seqs == list(range(1, WRITERS * EACH + 1))
    with sessions() as session:
        report = ledger.verify(session)
    assert report.ok, report.first_error
    assert report.entries == WRITERS * EACH


def test_parallel_decisions_on_one_posting(sessions: sessionmaker[Session], people: People) -> None:
    with transaction(sessions) as session:
        seq = ledger.propose(
            session,
            principal=people.investigator,
            idempotency_key=key(),
            kind=EntryKind.FORFEITURE,
            asset_id=1,
            lines=forfeiture(5),
        ).seq
    deciders = [people.supervisor, people.supervisor2, people.admin] * 2

    def decide(index: int) -> int:
        with transaction(sessions) as session:
            return ledger.decide(
                session,
                principal=deciders[index],
                seq=seq,
                approve=index % 2 == 0,
                idempotency_key=key(),
            ).seq

    results = run_threads(len(deciders), decide)
    assert len([r for r in results if isinstance(r, int)]) == 1
    assert all(isinstance(r, ServiceError) for r in results if not isinstance(r, int))
    with sessions() as session:
        assert ledger.verify(session).ok


def test_parallel_retries_with_one_key(sessions: sessionmaker[Session], people: People) -> None:
    shared = key()

    def propose(_index: int) -> int:
        with transaction(sessions) as session:
            return ledger.propose(
                session,
                principal=people.investigator,
                idempotency_key=shared,
                kind=EntryKind.FORFEITURE,
                asset_id=1,
                lines=forfeiture(42),
            ).seq

    results = run_threads(6, propose)
    assert results == [1] * 6
