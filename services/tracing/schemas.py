"""The trace result: a fund-flow graph, where the traced money sits, and where it was cut."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

CutReason = Literal["held", "max_hops", "max_nodes", "max_edges", "fanout", "horizon"]


class TraceLimits(BaseModel):
    direction: Literal["forward", "backward"]
    max_hops: int
    max_nodes: int
    max_edges: int
    max_fanout: int
    since: datetime | None
    until: datetime | None


class TraceOrigin(BaseModel):
    kind: Literal["account", "report"]
    account_id: str
    institution_id: str | None = None
    report_id: str | None = None


class TraceNode(BaseModel):
    account_id: str
    subject_key: str | None
    institution_id: str | None
    country: str | None
    hop: int
    expanded: bool
    fanout_truncated: bool


class TraceEdge(BaseModel):
    id: str
    source: str
    target: str
    amount_minor: int
    currency: str
    at: datetime
    traced_minor: int
    hop: int
    report_refs: list[str]


class Holding(BaseModel):
    """Traced money that stopped at an account, and why it stopped there.

    ``held``: the store shows no later (earlier, backward) transfer that could carry it on;
    any other reason is a limit of the trace, and the money may have moved on.
    """

    account_id: str
    currency: str
    amount_minor: int
    reason: CutReason


class Cut(BaseModel):
    account_id: str
    reason: CutReason
    currency: str | None
    amount_minor: int | None
    detail: str


class CurrencyTotal(BaseModel):
    currency: str
    traced_minor: int
    held_minor: int
    cut_minor: int


class TraceResult(BaseModel):
    origin: TraceOrigin
    limits: TraceLimits
    rule: str
    nodes: list[TraceNode]
    edges: list[TraceEdge]
    holdings: list[Holding]
    cuts: list[Cut]
    totals: list[CurrencyTotal]
    truncated: bool
    queries: int
    elapsed_ms: float
