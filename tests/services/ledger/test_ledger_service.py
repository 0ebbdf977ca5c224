"""Ledger rules at the service level: balance, maker-checker, idempotency, reversal, verify."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.ledger import service as ledger
from services.ledger.enums import EntryKind, EntryStatus
from services.ledger.service import Invalid, Line
from tests.conftest import bypassing_append_only
from tests.services.ledger.support import People, key, snapshot


def forfeit(
    session: Session, people: People, amount: int = 10_000, asset_id: int = 1, approve: bool = True
) -> int:
    entry = ledger.propose(
        session,
        principal=people.investigator,
        idempotency_key=key(),
        kind=EntryKind.FORFEITURE,
        asset_id=asset_id,
        lines=[Line("forfeiture-proceeds", "USD", -amount), Line("forfeited:C-1", "USD", amount)],
    )
    if approve:
        ledger.decide(
            session, principal=people.supervisor, seq=entry.seq, approve=True, idempotency_key=key()
        )
    return entry.seq


def balance(
    session: Session, people: People, account: str, currency: str = "USD"
) -> tuple[int, int]:
    for row in ledger.balances(session, principal=people.auditor):
        if (row.account, row.currency) == (account, currency):
            return row.posted_minor, row.pending_minor
    return 0, 0


class TestPostings:
    def test_posting_is_pending_until_approved(self, session: Session, people: People) -> None:
        seq = forfeit(session, people, approve=False)
        assert balance(session, people, "forfeited:C-1") == (0, 10_000)
        view = ledger.get_entry(session, principal=people.auditor, seq=seq)
        assert view.status is EntryStatus.PENDING
        ledger.decide(
            session, principal=people.supervisor, seq=seq, approve=True, idempotency_key=key()
        )
        assert balance(session, people, "forfeited:C-1") == (10_000, 0)
        assert ledger.get_entry(session, principal=people.auditor, seq=seq).status is (
            EntryStatus.POSTED
        )

    def test_voided_posting_never_counts(self, session: Session, people: People) -> None:
        seq = forfeit(session, people, approve=False)
        ledger.decide(
            session, principal=people.supervisor, seq=seq, approve=False, idempotency_key=key()
        )
        assert balance(session, people, "forfeited:C-1") == (0, 0)
        assert ledger.verify(session).ok

    @pytest.mark.parametrize(
        ("lines", "message"),
        [
            (
                [Line("forfeiture-proceeds", "USD", -5), Line("forfeited:C-1", "USD", 4)],
                "sum to zero",
            ),
            (
                [Line("forfeiture-proceeds", "USD", -5), Line("forfeited:C-1", "MXN", 5)],
                "sum to zero",
            ),
            ([Line("forfeiture-proceeds", "USD", 0), Line("forfeited:C-1", "USD", 0)], "non-zero"),
            ([Line("nowhere", "USD", -5), Line("forfeited:C-1", "USD", 5)], "unknown account"),
            ([Line("forfeiture-proceeds", "XYZ", -5), Line("forfeited:C-1", "XYZ", 5)], "ISO 4217"),
            ([Line("forfeited:C-1", "USD", 5)], "at least two"),
        ],
    )
    def test_invalid_posting_is_refused_and_changes_nothing(
        self, session: Session, people: People, lines: list[Line], message: str
    ) -> None:
        forfeit(session, people)
        before = snapshot(session)
        with pytest.raises(Invalid, match=message):
            ledger.propose(
                session,
                principal=people.investigator,
                idempotency_key=key(),
                kind=EntryKind.EXPENSE,
                asset_id=1,
                lines=lines,
            )
        assert snapshot(session) == before

    def test_overdraft_is_refused(self, session: Session, people: People) -> None:
        forfeit(session, people, 10_000)
        before = snapshot(session)
        with pytest.raises(Conflict, match="available"):
            ledger.propose(
                session,
                principal=people.investigator,
                idempotency_key=key(),
                kind=EntryKind.EXPENSE,
                asset_id=1,
                lines=[Line("forfeited:C-1", "USD", -10_001), Line("expenses", "USD", 10_001)],
            )
        assert snapshot(session) == before

    def test_pending_outflows_are_reserved(self, session: Session, people: People) -> None:
        """Two pending postings can never spend the same money."""
        forfeit(session, people, 10_000)
        ledger.propose(
            session,
            principal=people.investigator,
            idempotency_key=key(),
            kind=EntryKind.EXPENSE,
            asset_id=1,
            lines=[Line("forfeited:C-1", "USD", -6_000), Line("expenses", "USD", 6_000)],
        )
        with pytest.raises(Conflict):
            ledger.propose(
                session,
                principal=people.investigator,
                idempotency_key=key(),
                kind=EntryKind.EXPENSE,
                asset_id=1,
                lines=[Line("forfeited:C-1", "USD", -6_000), Line("expenses", "USD", 6_000)],
            )

    def test_balances_are_per_asset(self, session: Session, people: People) -> None:
        forfeit(session, people, 10_000, asset_id=1)
        with pytest.raises(Conflict):
            ledger.propose(
                session,
                principal=people.investigator,
                idempotency_key=key(),
                kind=EntryKind.EXPENSE,
                asset_id=2,
                lines=[Line("forfeited:C-1", "USD", -1), Line("expenses", "USD", 1)],
            )

    def test_reporter_and_auditor_cannot_write(self, session: Session, people: People) -> None:
        for who in (people.reporter, people.auditor):
            with pytest.raises(Forbidden):
                ledger.propose(
                    session,
                    principal=who,
                    idempotency_key=key(),
                    kind=EntryKind.FORFEITURE,
                    asset_id=1,
                    lines=[Line("forfeiture-proceeds", "USD", -1), Line("forfeited:C-1", "USD", 1)],
                )
        with pytest.raises(Forbidden):
            ledger.balances(session, principal=people.reporter)


class TestMakerChecker:
    def test_maker_cannot_approve_own_posting(self, session: Session, people: People) -> None:
        entry = ledger.propose(
            session,
            principal=people.supervisor,
            idempotency_key=key(),
            kind=EntryKind.FORFEITURE,
            asset_id=1,
            lines=[Line("forfeiture-proceeds", "USD", -1), Line("forfeited:C-1", "USD", 1)],
        )
        before = snapshot(session)
        for approve in (True, False):
            with pytest.raises(Forbidden, match="maker-checker"):
                ledger.decide(
                    session,
                    principal=people.supervisor,
                    seq=entry.seq,
                    approve=approve,
                    idempotency_key=key(),
                )
        assert snapshot(session) == before
        ledger.decide(
            session,
            principal=people.supervisor2,
            seq=entry.seq,
            approve=True,
            idempotency_key=key(),
        )

    def test_investigator_and_auditor_cannot_approve(
        self, session: Session, people: People
    ) -> None:
        seq = forfeit(session, people, approve=False)
        for who in (people.investigator2, people.auditor, people.reporter):
            with pytest.raises(Forbidden):
                ledger.decide(session, principal=who, seq=seq, approve=True, idempotency_key=key())

    def test_decided_at_most_once(self, session: Session, people: People) -> None:
        seq = forfeit(session, people, approve=False)
        ledger.decide(
            session, principal=people.supervisor, seq=seq, approve=True, idempotency_key=key()
        )
        before = snapshot(session)
        for who, approve in ((people.supervisor2, True), (people.admin, False)):
            with pytest.raises(Conflict, match="already approved"):
                ledger.decide(
                    session, principal=who, seq=seq, approve=approve, idempotency_key=key()
                )
        assert snapshot(session) == before

    def test_decision_of_decision_or_missing_entry(self, session: Session, people: People) -> None:
        seq = forfeit(session, people)
        with pytest.raises(Conflict, match="decision"):
            ledger.decide(
                session,
                principal=people.supervisor2,
                seq=seq + 1,
                approve=True,
                idempotency_key=key(),
            )
        with pytest.raises(NotFound):
            ledger.decide(
                session, principal=people.supervisor2, seq=999, approve=True, idempotency_key=key()
            )


class TestIdempotency:
    def test_same_key_same_posting_returns_first(self, session: Session, people: People) -> None:
        lines = [Line("forfeiture-proceeds", "USD", -7), Line("forfeited:C-1", "USD", 7)]
        k = key()
        first = ledger.propose(
            session,
            principal=people.investigator,
            idempotency_key=k,
            kind=EntryKind.FORFEITURE,
            asset_id=1,
            lines=lines,
        )
        before = snapshot(session)
        again = ledger.propose(
            session,
            principal=people.investigator,
            idempotency_key=k,
            kind=EntryKind.FORFEITURE,
            asset_id=1,
            lines=lines,
        )
        assert again.seq == first.seq
        assert snapshot(session) == before

    def test_same_key_different_posting_conflicts(self, session: Session, people: People) -> None:
        k = key()
        ledger.propose(
            session,
            principal=people.investigator,
            idempotency_key=k,
            kind=EntryKind.FORFEITURE,
            asset_id=1,
            lines=[Line("forfeiture-proceeds", "USD", -7), Line("forfeited:C-1", "USD", 7)],
        )
        before = snapshot(session)
        with pytest.raises(Conflict, match="different entry"):
            ledger.propose(
                session,
                principal=people.investigator,
                idempotency_key=k,
                kind=EntryKind.FORFEITURE,
                asset_id=1,
                lines=[Line("forfeiture-proceeds", "USD", -8), Line("forfeited:C-1", "USD", 8)],
            )
        assert snapshot(session) == before

    def test_request_replay_and_conflict(self, session: Session, people: People) -> None:
        calls: list[int] = []

        def operation() -> dict[str, int]:
            calls.append(1)
            return {"n": len(calls)}

        k = key()
        args = {"principal": people.investigator, "key": k, "method": "POST", "path": "/x"}
        assert ledger.run_idempotent(session, body={"a": 1}, operation=operation, **args) == {
            "n": 1
        }
        assert ledger.run_idempotent(session, body={"a": 1}, operation=operation, **args) == {
            "n": 1
        }
        assert calls == [1]
        with pytest.raises(Conflict):
            ledger.run_idempotent(session, body={"a": 2}, operation=operation, **args)
        with pytest.raises(ServiceError, match="Idempotency-Key"):
            ledger.run_idempotent(
                session,
                principal=people.investigator,
                key=None,
                method="POST",
                path="/x",
                body={},
                operation=operation,
            )


class TestReversal:
    def test_reversal_negates_and_is_approved_like_any_posting(
        self, session: Session, people: People
    ) -> None:
        seq = forfeit(session, people, 500)
        reversal = ledger.reverse(
            session,
            principal=people.investigator,
            seq=seq,
            idempotency_key=key(),
            memo="wrong amount",
        )
        assert sorted((line.account, line.amount_minor) for line in reversal.lines) == [
            ("forfeited:C-1", -500),
            ("forfeiture-proceeds", 500),
        ]
        assert balance(session, people, "forfeited:C-1") == (500, -500)
        ledger.decide(
            session,
            principal=people.supervisor,
            seq=reversal.seq,
            approve=True,
            idempotency_key=key(),
        )
        assert balance(session, people, "forfeited:C-1") == (0, 0)
        assert ledger.verify(session).ok

    def test_reverse_once_only_posted_never_overdraw(
        self, session: Session, people: People
    ) -> None:
        pending = forfeit(session, people, 500, approve=False)
        with pytest.raises(Conflict, match="not posted"):
            ledger.reverse(
                session, principal=people.investigator, seq=pending, idempotency_key=key()
            )
        seq = forfeit(session, people, 500)
        ledger.reverse(session, principal=people.investigator, seq=seq, idempotency_key=key())
        with pytest.raises(Conflict, match="already reversed"):
            ledger.reverse(session, principal=people.investigator, seq=seq, idempotency_key=key())
        # Money already spent cannot be un-forfeited: the reversal would overdraw forfeited.
        other = forfeit(session, people, 500, asset_id=5)
        spend = ledger.propose(
            session,
            principal=people.investigator,
            idempotency_key=key(),
            kind=EntryKind.EXPENSE,
            asset_id=5,
            lines=[Line("forfeited:C-1", "USD", -400), Line("expenses", "USD", 400)],
        )
        ledger.decide(
            session, principal=people.supervisor, seq=spend.seq, approve=True, idempotency_key=key()
        )
        before = snapshot(session)
        with pytest.raises(Conflict, match="available"):
            ledger.reverse(session, principal=people.investigator, seq=other, idempotency_key=key())
        assert snapshot(session) == before


class TestVerify:
    def test_clean_ledger_verifies_and_anchor_matches(
        self, session: Session, people: People
    ) -> None:
        forfeit(session, people)
        report = ledger.verify(session)
        assert report.ok, report.first_error
        assert report.entries == 2
        assert report.currency_totals == {"USD": 0}
        assert ledger.verify(session, expect_seq=2, expect_hash=report.head_hash).ok
        bad = ledger.verify(session, expect_seq=2, expect_hash="0" * 64)
        assert not bad.ok
        assert bad.first_error is not None
        assert bad.first_error.seq == 2

    @pytest.mark.parametrize(
        ("statement", "seq", "reason"),
        [
            (
                "UPDATE ledger_lines SET amount_minor = amount_minor + 1 WHERE entry_seq = 3"
                " AND line_no = 2",
                3,
                "hash mismatch",
            ),
            ("UPDATE ledger_entries SET memo = 'edited' WHERE seq = 3", 3, "hash mismatch"),
            ("UPDATE ledger_entries SET actor = 'token:1' WHERE seq = 2", 2, "hash mismatch"),
            ("UPDATE ledger_entries SET entry_hash = :fake WHERE seq = 3", 3, "hash mismatch"),
            ("DELETE FROM ledger_lines WHERE entry_seq = 3 AND line_no = 1", 3, "hash mismatch"),
        ],
    )
    def test_tampering_by_sql_is_detected_at_the_entry(
        self, session: Session, people: People, statement: str, seq: int, reason: str
    ) -> None:
        forfeit(session, people)  # entries 1, 2
        expense = ledger.propose(
            session,
            principal=people.investigator,
            idempotency_key=key(),
            kind=EntryKind.EXPENSE,
            asset_id=1,
            memo="storage",
            lines=[Line("forfeited:C-1", "USD", -100), Line("expenses", "USD", 100)],
        )
        assert expense.seq == 3
        ledger.decide(
            session, principal=people.supervisor, seq=3, approve=True, idempotency_key=key()
        )
        assert ledger.verify(session).ok
        with bypassing_append_only(session.connection()):
            session.execute(text(statement), {"fake": "f" * 64})
        session.expire_all()
        report = ledger.verify(session)
        assert not report.ok
        assert report.first_error is not None
        assert report.first_error.seq == seq
        assert reason in report.first_error.reason

    def test_removed_tail_is_detected_by_the_head(self, session: Session, people: People) -> None:
        forfeit(session, people)
        with bypassing_append_only(session.connection()):
            session.execute(text("DELETE FROM ledger_entries WHERE seq = 2"))
        session.expire_all()
        report = ledger.verify(session)
        assert not report.ok
        assert report.first_error is not None
        assert "chain head" in report.first_error.reason

    def test_rewritten_link_is_detected(self, session: Session, people: People) -> None:
        forfeit(session, people)
        forfeit(session, people)
        with bypassing_append_only(session.connection()):
            session.execute(
                text("UPDATE ledger_entries SET prev_hash = :h WHERE seq = 3"), {"h": "e" * 64}
            )
        session.expire_all()
        report = ledger.verify(session)
        assert report.first_error is not None
        assert report.first_error.seq == 3
        assert "prev_hash" in report.first_error.reason


def test_an_entry_applies_as_a_whole(session: Session, people: People) -> None:
    """Found by the state machine: lines that cancel within one entry, reversed, must verify."""
    entry = ledger.propose(
        session,
        principal=people.investigator,
        idempotency_key=key(),
        kind=EntryKind.PROCEEDS,
        asset_id=3,
        lines=[
            Line("federal-share", "MXN", 3645),
            Line("forfeiture-proceeds", "USD", -93),
            Line("forfeiture-proceeds", "MXN", -3645),
            Line("forfeiture-proceeds", "USD", 93),
        ],
    )
    ledger.decide(
        session, principal=people.supervisor, seq=entry.seq, approve=True, idempotency_key=key()
    )
    reversal = ledger.reverse(
        session, principal=people.investigator, seq=entry.seq, idempotency_key=key()
    )
    ledger.decide(
        session, principal=people.supervisor, seq=reversal.seq, approve=True, idempotency_key=key()
    )
    report = ledger.verify(session)
    assert report.ok, report.first_error
