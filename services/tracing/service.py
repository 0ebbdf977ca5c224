"""Fund-flow tracing over stored transfers, with FIFO attribution and hard limits.

**Edges.** A stored report with a transaction and both account ids is a transfer ``A → B``
(``direction=out`` reported by A's institution, ``in`` reported by B's). Views of one transfer
are merged into one edge: reports of the same institution and transaction id (an LVTR and an
STR about one payment) are one view; then each sender-side view is paired with at most one
receiver-side view of the same accounts, currency and amount within ``PAIR_WINDOW``, earliest
first, so ten identical 9,500.00 transfers stay ten edges. The merged edge takes the
sender-side time.

**Attribution (FIFO, traced funds first).** Tracing moves *lots* of traced money forward in
time. When a lot reaches an account at time t, it leaves on that account's outgoing transfers
after t in time order, each transfer carrying at most its amount less what earlier lots already
put on it; lots are processed in arrival order, so the first money in is the first money out.
Untraced money on the account (unknown history, opening balances) is assumed to leave after the
traced money: the rule follows the most money a transfer *can* have carried, which is what a
seizure warrant needs to bound, and it never attributes more than a transfer's amount. What
finds no later transfer stays with the account (``held``). Currencies never mix: a lot only
follows transfers in its currency. Backward tracing is the exact mirror (reverse every edge
and time): money leaving an account at t came from its latest earlier inflows first.

**Limits.** ``max_hops`` (edges from the origin), ``max_nodes``, ``max_edges``, ``since`` /
``until``, and ``max_fanout``: each account's transfers are read with one capped query
(``LIMIT max_fanout`` per reporting side), so a hub with 100k transfers costs as much as one
with ``max_fanout``. Money stopped by a limit is reported with the reason (``cuts`` and
``holdings``); the totals always balance: traced = held + cut, per currency.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from services.auth.enums import INVESTIGATIVE_ROLES
from services.auth.service import Principal
from services.errors import Forbidden, NotFound, ServiceError
from services.tracing.repository import TransferRepository, TransferRow
from services.tracing.schemas import (
    CurrencyTotal,
    Cut,
    Holding,
    TraceEdge,
    TraceLimits,
    TraceNode,
    TraceOrigin,
    TraceResult,
)

RULE = "fifo-traced-first"
PAIR_WINDOW = timedelta(days=1)
DEFAULT_MAX_HOPS = 4
DEFAULT_MAX_NODES = 500
DEFAULT_MAX_EDGES = 2000
DEFAULT_MAX_FANOUT = 200
LIMIT_CEILINGS = {"max_hops": 10, "max_nodes": 5000, "max_edges": 20000, "max_fanout": 1000}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def require_tracer(principal: Principal) -> None:
    if principal.role not in INVESTIGATIVE_ROLES:
        raise Forbidden("tracing is for investigators, supervisors, auditors and admins")


@dataclass(slots=True)
class _Edge:
    key: str
    source: str
    target: str
    amount: int
    currency: str
    at: datetime
    order: int  # time key in the trace's direction (microseconds, negated backward)
    refs: list[str]
    remaining: int
    traced: int = 0
    hop: int = 0


@dataclass(slots=True)
class _NodeInfo:
    subject_key: str | None = None
    institution_id: str | None = None
    country: str | None = None
    own: bool = False  # learnt from a report of the account's own institution


@dataclass(slots=True)
class _Node:
    account: str
    hop: int
    expanded: bool = False
    fanout_truncated: bool = False
    beyond_horizon: bool = False
    by_currency: dict[str, list[_Edge]] = field(default_factory=dict)
    cursor: dict[str, int] = field(default_factory=dict)


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICRO


def merge_views(rows: list[TransferRow]) -> list[tuple[TransferRow, list[str]]]:
    """Merges the reports of one account's transfers into transfers (see module docstring).

    Returns each transfer's representative row (the sender's view when there is one) and the
    references of every report merged into it.
    """
    by_transaction: dict[tuple[str, str, str], tuple[TransferRow, list[str]]] = {}
    views: list[tuple[TransferRow, list[str]]] = []
    for row in sorted(rows, key=lambda item: (item.txn_at, item.row_id)):
        ref = f"{row.institution_id}/{row.report_id}"
        if row.transaction_id is not None:
            key = (row.institution_id, row.transaction_id, row.direction)
            if key in by_transaction:
                by_transaction[key][1].append(ref)
                continue
            by_transaction[key] = (row, [ref])
            views.append(by_transaction[key])
        else:
            views.append((row, [ref]))
    senders = [view for view in views if view[0].direction == "out"]
    receivers = [view for view in views if view[0].direction == "in"]
    unpaired: dict[tuple[str, str, str, int], list[tuple[TransferRow, list[str]]]] = defaultdict(
        list
    )
    for view in receivers:
        row = view[0]
        unpaired[(row.source, row.target, row.currency, row.amount_minor)].append(view)
    merged: list[tuple[TransferRow, list[str]]] = []
    for row, refs in senders:
        candidates = unpaired.get((row.source, row.target, row.currency, row.amount_minor), [])
        match = next(
            (view for view in candidates if abs(view[0].txn_at - row.txn_at) <= PAIR_WINDOW),
            None,
        )
        if match is not None:
            candidates.remove(match)
            merged.append((row, refs + match[1]))
        else:
            merged.append((row, list(refs)))
    merged.extend(view for remaining in unpaired.values() for view in remaining)
    merged.sort(key=lambda view: (view[0].txn_at, view[0].row_id))
    return merged


class _Tracer:
    def __init__(
        self,
        repository: TransferRepository,
        *,
        forward: bool,
        max_hops: int,
        max_nodes: int,
        max_edges: int,
        max_fanout: int,
        since: datetime | None,
        until: datetime | None,
    ) -> None:
        self.repository = repository
        self.forward = forward
        self.max_hops = max_hops
        self.max_nodes = max_nodes
        self.max_edges = max_edges
        self.max_fanout = max_fanout
        self.since = since
        self.until = until
        self.nodes: dict[str, _Node] = {}
        self.info: dict[str, _NodeInfo] = defaultdict(_NodeInfo)
        self.graph: dict[str, _Edge] = {}
        self.held: dict[tuple[str, str, str], int] = defaultdict(int)
        self.cuts: list[Cut] = []
        self.seeded: dict[str, int] = defaultdict(int)
        self.queries = 0
        self._heap: list[tuple[int, int, str, int]] = []
        self._pending: dict[tuple[str, int], int] = {}
        self._counter = itertools.count()

    # -- reading the store --------------------------------------------------------------------

    def _learn(self, row: TransferRow) -> None:
        own = self.info[row.account_id]
        if not own.own:
            own.subject_key = row.subject_key
            own.institution_id = row.institution_id
            own.country = row.location_country or row.jurisdiction
            own.own = True
        other = self.info[row.counterparty_account_id]
        if not other.own:
            other.institution_id = other.institution_id or row.counterparty_institution_id
            other.country = other.country or row.counterparty_country

    def _order(self, at: datetime) -> int:
        return _micros(at) if self.forward else -_micros(at)

    def _read(
        self, account: str, after_order: int | None, *, inside_horizon: bool
    ) -> tuple[list[_Edge], bool, bool]:
        """Reads the account's next transfers in trace direction after ``after_order``.

        Returns the edges (time order of the trace), whether the fan-out cap cut the list, and
        whether transfers beyond the time horizon exist.
        """
        bound = None
        if after_order is not None:
            bound = _EPOCH + _MICRO * (after_order if self.forward else -after_order)
        if self.forward:
            after, before = bound, None
            if inside_horizon and self.since is not None:
                after = max(after, self.since - _MICRO) if after else self.since - _MICRO
        else:
            after, before = None, bound
            if inside_horizon and self.until is not None:
                before = min(before, self.until + _MICRO) if before else self.until + _MICRO
        first, second = self.repository.transfers(
            account,
            outgoing=self.forward,
            after=after,
            before=before,
            ascending=self.forward,
            limit=self.max_fanout + 1,
        )
        self.queries += 1
        truncated = False
        cut_order: int | None = None
        for half in (first, second):
            if len(half) > self.max_fanout:
                truncated = True
                # Past the last row of a cut half, the other half's rows may interleave with
                # rows never read: keep only what comes strictly before it.
                last = self._order(half[-1].txn_at)
                cut_order = last if cut_order is None else min(cut_order, last)
        rows = [
            row
            for row in first + second
            if cut_order is None or self._order(row.txn_at) < cut_order
        ]
        for row in first + second:
            self._learn(row)
        edges: list[_Edge] = []
        beyond = False
        for row, refs in merge_views(rows):
            order = self._order(row.txn_at)
            if (self.forward and self.until is not None and row.txn_at > self.until) or (
                not self.forward and self.since is not None and row.txn_at < self.since
            ):
                beyond = True
                continue
            key = f"r{row.row_id}"
            existing = self.graph.get(key)
            edges.append(
                existing
                if existing is not None
                else _Edge(
                    key=key,
                    source=row.source,
                    target=row.target,
                    amount=row.amount_minor,
                    currency=row.currency,
                    at=row.txn_at,
                    order=order,
                    refs=refs,
                    remaining=row.amount_minor,
                )
            )
        edges.sort(key=lambda edge: (edge.order, edge.key))
        if len(edges) > self.max_fanout:
            truncated = True
            edges = edges[: self.max_fanout]
        return edges, truncated, beyond

    def _expand(self, node: _Node, after_order: int) -> None:
        edges, truncated, beyond = self._read(node.account, after_order, inside_horizon=False)
        node.expanded = True
        node.fanout_truncated = truncated
        node.beyond_horizon = beyond
        for edge in edges:
            node.by_currency.setdefault(edge.currency, []).append(edge)
        for currency in node.by_currency:
            node.cursor[currency] = 0

    # -- moving money -------------------------------------------------------------------------

    def _node(self, account: str, hop: int) -> _Node:
        node = self.nodes.get(account)
        if node is None:
            node = self.nodes[account] = _Node(account, hop)
        elif hop < node.hop:
            node.hop = hop
        return node

    def _next(self, edge: _Edge) -> str:
        return edge.target if self.forward else edge.source

    def _carry(self, edge: _Edge, amount: int, hop: int) -> None:
        """Puts ``amount`` on ``edge``; it arrives at the far end at the edge's time."""
        edge.remaining -= amount
        edge.traced += amount
        if edge.key not in self.graph:
            edge.hop = hop
            self.graph[edge.key] = edge
        else:
            edge.hop = min(edge.hop, hop)
        self._node(self._next(edge), hop)
        slot = (edge.key, hop)
        if slot in self._pending:
            self._pending[slot] += amount
        else:
            self._pending[slot] = amount
            heapq.heappush(self._heap, (edge.order, next(self._counter), edge.key, hop))

    def seed(self, edge: _Edge) -> None:
        self.seeded[edge.currency] += edge.amount
        self._node(edge.source if self.forward else edge.target, 0)
        self._carry(edge, edge.amount, 1)

    def seed_account(self, account: str) -> None:
        self._node(account, 0)
        edges, truncated, _beyond = self._read(account, None, inside_horizon=True)
        if truncated:
            self.nodes[account].fanout_truncated = True
            self.cuts.append(
                Cut(
                    account_id=account,
                    reason="fanout",
                    currency=None,
                    amount_minor=None,
                    detail=f"more than {self.max_fanout} transfers in the window: only the"
                    f" first {self.max_fanout} are traced",
                )
            )
        for edge in edges:
            if len(self.graph) >= self.max_edges or (
                self._next(edge) not in self.nodes and len(self.nodes) >= self.max_nodes
            ):
                reason = "max_edges" if len(self.graph) >= self.max_edges else "max_nodes"
                self.cuts.append(
                    Cut(
                        account_id=account,
                        reason=reason,
                        currency=None,
                        amount_minor=None,
                        detail="limit reached while reading the origin's transfers",
                    )
                )
                break
            self.seed(edge)

    def _hold(self, account: str, currency: str, amount: int, reason: str, detail: str) -> None:
        self.held[(account, currency, reason)] += amount
        if reason != "held":
            self.cuts.append(
                Cut(
                    account_id=account,
                    reason=reason,
                    currency=currency,
                    amount_minor=amount,
                    detail=detail,
                )
            )

    def run(self) -> None:
        while self._heap:
            order, _tie, key, hop = heapq.heappop(self._heap)
            amount = self._pending.pop((key, hop))
            edge = self.graph[key]
            account = self._next(edge)
            node = self.nodes[account]
            if hop >= self.max_hops:
                self._hold(
                    account, edge.currency, amount, "max_hops", f"hop limit {self.max_hops} reached"
                )
                continue
            if not node.expanded:
                self._expand(node, order)
            amount, blocked = self._spend(node, edge.currency, amount, order, hop)
            if amount == 0:
                continue
            if blocked is not None:
                self._hold(account, edge.currency, amount, blocked, f"{blocked} limit reached")
            elif node.fanout_truncated:
                self._hold(
                    account,
                    edge.currency,
                    amount,
                    "fanout",
                    f"more than {self.max_fanout} transfers: the rest were not read",
                )
            elif node.beyond_horizon:
                self._hold(
                    account,
                    edge.currency,
                    amount,
                    "horizon",
                    "transfers beyond the time horizon were not followed",
                )
            else:
                self._hold(account, edge.currency, amount, "held", "")

    def _spend(
        self, node: _Node, currency: str, amount: int, order: int, hop: int
    ) -> tuple[int, str | None]:
        edges = node.by_currency.get(currency, [])
        cursor = node.cursor.get(currency, 0)
        # Transfers before this arrival, or already full, are of no use to any later lot.
        while cursor < len(edges) and (
            edges[cursor].order <= order or edges[cursor].remaining == 0
        ):
            cursor += 1
        node.cursor[currency] = cursor
        index = cursor
        while amount > 0 and index < len(edges):
            edge = edges[index]
            index += 1
            if edge.remaining == 0 or edge.order <= order:
                continue
            if edge.key not in self.graph and len(self.graph) >= self.max_edges:
                return amount, "max_edges"
            if self._next(edge) not in self.nodes and len(self.nodes) >= self.max_nodes:
                return amount, "max_nodes"
            take = min(amount, edge.remaining)
            amount -= take
            self._carry(edge, take, hop + 1)
        return amount, None

    # -- result -------------------------------------------------------------------------------

    def result(self, origin: TraceOrigin, limits: TraceLimits, started: float) -> TraceResult:
        nodes = [
            TraceNode(
                account_id=node.account,
                subject_key=self.info[node.account].subject_key,
                institution_id=self.info[node.account].institution_id,
                country=self.info[node.account].country,
                hop=node.hop,
                expanded=node.expanded,
                fanout_truncated=node.fanout_truncated,
            )
            for node in sorted(self.nodes.values(), key=lambda item: (item.hop, item.account))
        ]
        edges = [
            TraceEdge(
                id=edge.key,
                source=edge.source,
                target=edge.target,
                amount_minor=edge.amount,
                currency=edge.currency,
                at=edge.at,
                traced_minor=edge.traced,
                hop=edge.hop,
                report_refs=edge.refs,
            )
            for edge in sorted(self.graph.values(), key=lambda item: (item.order, item.key))
        ]
        holdings = [
            Holding(account_id=account, currency=currency, amount_minor=amount, reason=reason)
            for (account, currency, reason), amount in sorted(
                self.held.items(), key=lambda item: (-item[1], item[0])
            )
            if amount
        ]
        totals = []
        for currency in sorted(self.seeded):
            held = sum(
                h.amount_minor for h in holdings if h.currency == currency and h.reason == "held"
            )
            cut = sum(
                h.amount_minor for h in holdings if h.currency == currency and h.reason != "held"
            )
            totals.append(
                CurrencyTotal(
                    currency=currency,
                    traced_minor=self.seeded[currency],
                    held_minor=held,
                    cut_minor=cut,
                )
            )
        return TraceResult(
            origin=origin,
            limits=limits,
            rule=RULE,
            nodes=nodes,
            edges=edges,
            holdings=holdings,
            cuts=self.cuts,
            totals=totals,
            truncated=bool(self.cuts),
            queries=self.queries,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )


@dataclass(frozen=True, slots=True)
class TraceParams:
    direction: str = "forward"
    max_hops: int = DEFAULT_MAX_HOPS
    max_nodes: int = DEFAULT_MAX_NODES
    max_edges: int = DEFAULT_MAX_EDGES
    max_fanout: int = DEFAULT_MAX_FANOUT
    since: datetime | None = None
    until: datetime | None = None

    def checked(self) -> TraceParams:
        if self.direction not in ("forward", "backward"):
            raise ServiceError("direction is forward or backward", 422)
        for name, ceiling in LIMIT_CEILINGS.items():
            value = getattr(self, name)
            if not 1 <= value <= ceiling:
                raise ServiceError(f"{name} must be between 1 and {ceiling}", 422)
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ServiceError(f"{name} must carry a timezone", 422)
        if self.since and self.until and self.since > self.until:
            raise ServiceError("since is after until", 422)
        return self

    def limits(self) -> TraceLimits:
        return TraceLimits(
            direction=self.direction,
            max_hops=self.max_hops,
            max_nodes=self.max_nodes,
            max_edges=self.max_edges,
            max_fanout=self.max_fanout,
            since=self.since,
            until=self.until,
        )


def _tracer(session: Session, params: TraceParams) -> _Tracer:
    return _Tracer(
        TransferRepository(session),
        forward=params.direction == "forward",
        max_hops=params.max_hops,
        max_nodes=params.max_nodes,
        max_edges=params.max_edges,
        max_fanout=params.max_fanout,
        since=params.since,
        until=params.until,
    )


def trace_account(
    session: Session, *, principal: Principal, account_id: str, params: TraceParams
) -> TraceResult:
    """Follows everything the account sent (forward) or received (backward) in the window."""
    require_tracer(principal)
    params = params.checked()
    started = time.perf_counter()
    tracer = _tracer(session, params)
    tracer.seed_account(account_id)
    tracer.run()
    if not tracer.graph and not tracer.cuts:
        raise NotFound(f"no transfer of account {account_id} in the store for this window")
    return tracer.result(
        TraceOrigin(kind="account", account_id=account_id), params.limits(), started
    )


def trace_report(
    session: Session,
    *,
    principal: Principal,
    institution_id: str,
    report_id: str,
    params: TraceParams,
) -> TraceResult:
    """Follows the money of one reported transfer: where it went, or where it came from."""
    require_tracer(principal)
    params = params.checked()
    started = time.perf_counter()
    repository = TransferRepository(session)
    row = repository.report(institution_id, report_id)
    if row is None:
        if repository.report_exists(institution_id, report_id):
            raise ServiceError(
                "this report has no transfer to follow (it needs a transaction with both"
                " account ids)",
                422,
            )
        raise NotFound(f"report {institution_id}/{report_id} not found")
    tracer = _tracer(session, params)
    tracer._learn(row)
    tracer.seed(
        _Edge(
            key=f"r{row.row_id}",
            source=row.source,
            target=row.target,
            amount=row.amount_minor,
            currency=row.currency,
            at=row.txn_at,
            order=tracer._order(row.txn_at),
            refs=[f"{row.institution_id}/{row.report_id}"],
            remaining=row.amount_minor,
        )
    )
    tracer.run()
    origin_account = row.source if params.direction == "forward" else row.target
    return tracer.result(
        TraceOrigin(
            kind="report",
            account_id=origin_account,
            institution_id=institution_id,
            report_id=report_id,
        ),
        params.limits(),
        started,
    )
