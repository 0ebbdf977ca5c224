"""Tracing on hand-built graphs with known answers: chains, splits, merges, cycles, hubs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from refdata.wire import ReportV1
from services.errors import Forbidden, NotFound
from services.reports.service import IncomingReport, persist_reports
from services.tracing import service as tracing
from services.tracing.schemas import TraceResult
from tests.fixtures.reports import make_report
from tests.services.ledger.support import People
from tests.services.tracing.helpers import at, graph, store, transfer_row


def held(result: TraceResult) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for holding in result.holdings:
        out[holding.account_id] += holding.amount_minor
    return dict(out)


def reasons(result: TraceResult) -> dict[tuple[str, str], int]:
    return {(h.account_id, h.reason): h.amount_minor for h in result.holdings}


def traced(result: TraceResult) -> dict[tuple[str, str], int]:
    return {(e.source, e.target): e.traced_minor for e in result.edges}


def check_conservation(result: TraceResult) -> None:
    """Traced money is never created or lost, and never exceeds a transfer."""
    for total in result.totals:
        assert total.traced_minor == total.held_minor + total.cut_minor
    for edge in result.edges:
        assert 0 < edge.traced_minor <= edge.amount_minor


def from_report(session: Session, people: People, ref: str, **params: Any) -> TraceResult:
    institution, report = ref.split("/")
    result = tracing.trace_report(
        session,
        principal=people.investigator,
        institution_id=institution,
        report_id=report,
        params=tracing.TraceParams(**params),
    )
    check_conservation(result)
    return result


def from_account(session: Session, people: People, account: str, **params: Any) -> TraceResult:
    result = tracing.trace_account(
        session,
        principal=people.investigator,
        account_id=account,
        params=tracing.TraceParams(**params),
    )
    check_conservation(result)
    return result


class TestForward:
    def test_chain(self, session: Session, people: People) -> None:
        graph(session, [("A", "B", 1000, 1), ("B", "C", 1000, 2), ("C", "D", 400, 3)])
        result = from_account(session, people, "A")
        assert held(result) == {"C": 600, "D": 400}
        assert [n.account_id for n in result.nodes] == ["A", "B", "C", "D"]
        assert {n.account_id: n.hop for n in result.nodes} == {"A": 0, "B": 1, "C": 2, "D": 3}
        b = next(n for n in result.nodes if n.account_id == "B")
        assert (b.subject_key, b.institution_id, b.country) == ("SUBJ-B", "FI-B", "US")
        d = next(n for n in result.nodes if n.account_id == "D")
        assert (d.subject_key, d.institution_id) == (None, "FI-D")  # seen as counterparty only
        assert not result.truncated

    def test_money_never_leaves_before_it_arrives(self, session: Session, people: People) -> None:
        graph(session, [("A", "B", 1000, 1), ("B", "X", 500, 0.5), ("B", "C", 300, 2)])
        rows = [transfer_row("A", "B", 1000, 1, report_id="SEED")]
        store(session, rows)
        result = from_report(session, people, "FI-A/SEED")
        assert held(result) == {"B": 700, "C": 300}
        assert "X" not in {n.account_id for n in result.nodes}

    def test_split(self, session: Session, people: People) -> None:
        graph(
            session,
            [("A", "B", 900, 1), ("B", "C", 300, 2), ("B", "D", 300, 3), ("B", "E", 300, 4)],
        )
        assert held(from_account(session, people, "A")) == {"C": 300, "D": 300, "E": 300}

    def test_merge_is_fifo_between_lots(self, session: Session, people: People) -> None:
        # Two lots reach M (at 1 via S→M, at 2 via S→N→M). M pays Z 400 at 1.5 and Y 600 at 3.
        graph(
            session,
            [
                ("S", "M", 500, 1),
                ("S", "N", 500, 1.2),
                ("N", "M", 500, 2),
                ("M", "Z", 400, 1.5),
                ("M", "Y", 600, 3),
            ],
        )
        result = from_account(session, people, "S")
        assert held(result) == {"Y": 600, "Z": 400}
        # First in, first out: the lot that arrived at 1 paid Z (hop 2) and 100 to Y.
        hops = {(e.source, e.target): e.hop for e in result.edges}
        assert hops[("M", "Z")] == 2
        limited = from_account(session, people, "S", max_hops=2)
        assert reasons(limited) == {
            ("Z", "max_hops"): 400,
            ("Y", "max_hops"): 100,
            ("M", "max_hops"): 500,
        }
        assert limited.truncated

    def test_traced_money_never_exceeds_a_transfer(self, session: Session, people: People) -> None:
        graph(session, [("A", "B", 1000, 1), ("B", "C", 100, 2), ("B", "D", 2000, 3)])
        result = from_account(session, people, "A")
        assert traced(result) == {("A", "B"): 1000, ("B", "C"): 100, ("B", "D"): 900}
        assert held(result) == {"C": 100, "D": 900}

    def test_cycle_terminates(self, session: Session, people: People) -> None:
        edges = [("A", "B", 1000, 1 + 2 * i) for i in range(30)]
        edges += [("B", "A", 1000, 2 + 2 * i) for i in range(30)]
        edges.append(("B", "C", 1000, 100))
        store(
            session,
            [transfer_row(s, t, a, h, report_id=f"C{i}") for i, (s, t, a, h) in enumerate(edges)],
        )
        result = from_report(session, people, "FI-A/C0", max_hops=10)
        assert reasons(result) == {("A", "max_hops"): 1000}
        full = from_report(session, people, "FI-A/C0", max_hops=10, max_edges=5)
        assert full.truncated
        assert {c.reason for c in full.cuts} == {"max_edges"}

    def test_cycle_round_trip_then_out(self, session: Session, people: People) -> None:
        graph(
            session,
            [("A", "B", 1000, 1), ("B", "A", 1000, 2), ("A", "B", 1000, 3), ("B", "C", 1000, 4)],
        )
        result = from_report(session, people, "FI-A/" + self._first_report(session), max_hops=6)
        assert reasons(result) == {("C", "held"): 1000}

    @staticmethod
    def _first_report(session: Session) -> str:
        from sqlalchemy import select

        from services.reports.orm import Report

        return str(session.scalar(select(Report.report_id).order_by(Report.txn_at).limit(1)))

    def test_currencies_never_mix(self, session: Session, people: People) -> None:
        graph(session, [("A", "B", 1000, 1)])
        graph(session, [("B", "C", 5000, 2)], currency="MXN")
        graph(session, [("B", "D", 400, 3)])
        result = from_account(session, people, "A")
        assert held(result) == {"B": 600, "D": 400}
        assert [t.currency for t in result.totals] == ["USD"]


class TestLimits:
    def test_hub_fanout_is_capped_and_reported(self, session: Session, people: People) -> None:
        rows = [transfer_row("A", "HUB", 1_000_000, 1, report_id="INTO-HUB")]
        rows += [transfer_row("HUB", f"T{i}", 100, 2 + i / 1000) for i in range(3000)]
        rows += [transfer_row(f"S{i}", "HUB", 100, 0.5) for i in range(3000)]
        store(session, rows)
        result = from_report(session, people, "FI-A/INTO-HUB", max_fanout=50)
        assert reasons(result)[("HUB", "fanout")] == 1_000_000 - 50 * 100
        assert len(result.edges) == 51
        assert result.queries <= len(result.nodes)
        hub = next(n for n in result.nodes if n.account_id == "HUB")
        assert hub.fanout_truncated
        assert any(c.reason == "fanout" and c.account_id == "HUB" for c in result.cuts)

    def test_origin_fanout_is_reported(self, session: Session, people: People) -> None:
        graph(session, [("A", f"T{i}", 10, 1 + i) for i in range(30)])
        result = from_account(session, people, "A", max_fanout=10)
        assert len(result.edges) == 10
        assert result.cuts[0].reason == "fanout"
        assert result.cuts[0].amount_minor is None

    def test_max_nodes_and_max_edges(self, session: Session, people: People) -> None:
        graph(session, [("A", "B", 1000, 1)] + [("B", f"T{i}", 100, 2 + i) for i in range(10)])
        nodes = from_account(session, people, "A", max_nodes=5)
        assert len(nodes.nodes) == 5
        assert reasons(nodes) == {
            ("T0", "held"): 100,
            ("T1", "held"): 100,
            ("T2", "held"): 100,
            ("B", "max_nodes"): 700,
        }
        edges = from_account(session, people, "A", max_edges=3)
        assert len(edges.edges) == 3
        assert reasons(edges)[("B", "max_edges")] == 800

    def test_time_horizon(self, session: Session, people: People) -> None:
        graph(session, [("A", "B", 1000, 1), ("B", "C", 400, 2), ("B", "D", 600, 30)])
        result = from_account(session, people, "A", until=at(10))
        assert reasons(result) == {("C", "held"): 400, ("B", "horizon"): 600}
        with pytest.raises(NotFound):
            from_account(session, people, "A", since=at(5))  # A sent nothing after 5

    def test_limits_are_validated(self, session: Session, people: People) -> None:
        graph(session, [("A", "B", 1, 1)])
        with pytest.raises(Exception, match="max_hops"):
            from_account(session, people, "A", max_hops=11)


class TestDeduplication:
    def test_both_sides_of_one_transfer_are_one_edge(
        self, session: Session, people: People
    ) -> None:
        store(
            session,
            [
                transfer_row("A", "B", 1000, 1, side="out", report_id="OUT"),
                transfer_row("A", "B", 1000, 1.5, side="in", report_id="IN"),
                transfer_row("B", "C", 1000, 2, report_id="NEXT"),
            ],
        )
        result = from_account(session, people, "A")
        ab = next(e for e in result.edges if (e.source, e.target) == ("A", "B"))
        assert sorted(ab.report_refs) == ["FI-A/OUT", "FI-B/IN"]
        assert ab.at == at(1)  # the sender's time
        assert held(result) == {"C": 1000}

    def test_lvtr_and_str_of_one_transaction_are_one_edge(
        self, session: Session, people: People
    ) -> None:
        store(
            session,
            [
                transfer_row(
                    "A",
                    "B",
                    1000,
                    1,
                    transaction_id="TX1",
                    institution_id="FI-A",
                    report_type="LVTR",
                ),
                transfer_row(
                    "A",
                    "B",
                    1000,
                    1,
                    transaction_id="TX1",
                    institution_id="FI-A",
                    report_type="STR",
                ),
            ],
        )
        result = from_account(session, people, "A")
        assert len(result.edges) == 1
        assert result.totals[0].traced_minor == 1000

    def test_identical_transfers_stay_distinct(self, session: Session, people: People) -> None:
        rows = [transfer_row("A", "B", 950_000, 1 + i, side="out") for i in range(10)]
        rows += [transfer_row("A", "B", 950_000, 1.1 + i, side="in") for i in range(10)]
        store(session, rows)
        result = from_account(session, people, "A")
        assert len(result.edges) == 10
        assert held(result) == {"B": 9_500_000}

    def test_receiver_side_only_is_followed(self, session: Session, people: People) -> None:
        store(session, [transfer_row("A", "B", 700, 1, side="in")])
        assert held(from_account(session, people, "A")) == {"B": 700}


class TestBackward:
    def test_latest_inflows_first(self, session: Session, people: People) -> None:
        store(
            session,
            [
                transfer_row("A", "M", 300, 1),
                transfer_row("B", "M", 700, 2),
                transfer_row("M", "X", 500, 3, report_id="OUT500"),
                transfer_row("M", "Y", 900, 4, report_id="OUT900"),
            ],
        )
        small = from_report(session, people, "FI-M/OUT500", direction="backward")
        assert held(small) == {"B": 500}
        big = from_report(session, people, "FI-M/OUT900", direction="backward")
        assert held(big) == {"B": 700, "A": 200}
        assert big.origin.account_id == "Y"

    def test_backward_through_two_hops(self, session: Session, people: People) -> None:
        graph(session, [("P", "A", 1000, 0.5), ("A", "M", 300, 1), ("M", "X", 300, 3)])
        result = from_account(session, people, "X", direction="backward")
        assert held(result) == {"P": 300}


class TestAccess:
    def test_reporters_cannot_trace(self, session: Session, people: People) -> None:
        graph(session, [("A", "B", 1, 1)])
        with pytest.raises(Forbidden):
            tracing.trace_account(
                session, principal=people.reporter, account_id="A", params=tracing.TraceParams()
            )
        tracing.trace_account(
            session, principal=people.auditor, account_id="A", params=tracing.TraceParams()
        )

    def test_unknown_account_and_report(self, session: Session, people: People) -> None:
        with pytest.raises(NotFound):
            from_account(session, people, "NOPE")
        with pytest.raises(NotFound):
            from_report(session, people, "FI-X/NOPE")


def test_trace_over_reports_stored_from_the_wire(session: Session, people: People) -> None:
    def wire(index: int, account: str, counterparty: str, amount: str, hour: int) -> IncomingReport:
        document = make_report(index)
        document["transaction"].update(
            direction="out",
            amount=amount,
            account_id=account,
            timestamp=f"2026-11-20T{hour:02d}:00:00Z",
            counterparty={
                "account_id": counterparty,
                "institution_id": "MX-FI-9",
                "country": "MX",
                "name": "Receiver",
            },
        )
        return IncomingReport(ReportV1.model_validate(document))

    persist_reports(session, [wire(1, "W1", "W2", "5000.00", 1), wire(2, "W2", "W3", "3000.00", 2)])
    result = from_account(session, people, "W1")
    assert held(result) == {"W2": 2000_00, "W3": 3000_00}
    w3 = next(n for n in result.nodes if n.account_id == "W3")
    assert (w3.institution_id, w3.country) == ("MX-FI-9", "MX")


@pytest.fixture
def rollback_session(engine: Engine) -> Iterator[Any]:
    """A factory of sessions each inside its own rolled-back transaction (per example)."""
    from contextlib import contextmanager

    @contextmanager
    def make() -> Iterator[Session]:
        connection = engine.connect()
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()
            connection.close()

    return make


_accounts = st.sampled_from(["A", "B", "C", "D", "E", "F"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edges=st.lists(
        st.tuples(
            _accounts,
            _accounts,
            st.integers(1, 1000),
            st.integers(0, 40),
            st.sampled_from(["out", "in"]),
        ),
        min_size=1,
        max_size=25,
    ),
    direction=st.sampled_from(["forward", "backward"]),
    max_hops=st.integers(1, 6),
    max_fanout=st.integers(1, 8),
)
def test_random_graphs_conserve_money(
    rollback_session: Any,
    people: People,
    edges: list[tuple[str, str, int, int, str]],
    direction: str,
    max_hops: int,
    max_fanout: int,
) -> None:
    """On any graph: traced = held + cut; per account, traced in = traced out + held there;
    no transfer carries more than its amount or money that had not arrived yet."""
    rows = [transfer_row(s, t, a, h, side=side) for s, t, a, h, side in edges if s != t]
    if not rows:
        return
    with rollback_session() as session:
        store(session, rows)
        try:
            result = from_account(
                session,
                people,
                rows[0]["account_id"],
                direction=direction,
                max_hops=max_hops,
                max_fanout=max_fanout,
            )
        except NotFound:
            return
        forward = direction == "forward"
        origin = result.origin.account_id
        inflow: dict[str, int] = defaultdict(int)
        outflow: dict[str, int] = defaultdict(int)
        arrival: dict[str, Any] = {}
        for edge in result.edges:
            into, out_of = (edge.target, edge.source) if forward else (edge.source, edge.target)
            inflow[into] += edge.traced_minor
            outflow[out_of] += edge.traced_minor
            if into not in arrival:
                arrival[into] = edge.at
            arrival[into] = min(arrival[into], edge.at) if forward else max(arrival[into], edge.at)
        seeded = 0
        for edge in result.edges:
            out_of = edge.source if forward else edge.target
            if out_of == origin and edge.hop == 1:
                seeded += edge.traced_minor
                continue
            # Money leaves an account only after (backward: before) it first reached it.
            assert out_of in arrival
            assert edge.at > arrival[out_of] if forward else edge.at < arrival[out_of]
        for account in set(inflow) | set(outflow):
            seed = seeded if account == origin else 0
            assert inflow[account] + seed == outflow[account] + held(result).get(account, 0)
