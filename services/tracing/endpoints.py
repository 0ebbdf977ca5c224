from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from services.deps import PrincipalDep, SessionDep
from services.errors import UNAUTHENTICATED
from services.tracing import service as tracing_service
from services.tracing.schemas import TraceResult

router = APIRouter(tags=["trace"], responses=UNAUTHENTICATED)

_ERRORS: dict[int | str, dict[str, str]] = {
    403: {"description": "reporters cannot trace"},
    404: {"description": "nothing to trace"},
    422: {"description": "invalid limits"},
}


def _params(
    direction: Literal["forward", "backward"],
    max_hops: int,
    max_nodes: int,
    max_edges: int,
    max_fanout: int,
    since: AwareDatetime | None,
    until: AwareDatetime | None,
) -> tracing_service.TraceParams:
    return tracing_service.TraceParams(
        direction=direction,
        max_hops=max_hops,
        max_nodes=max_nodes,
        max_edges=max_edges,
        max_fanout=max_fanout,
        since=since,
        until=until,
    )


Direction = Annotated[
    Literal["forward", "backward"], Query(description="where the money went, or came from")
]
MaxHops = Annotated[int, Query(ge=1, le=10)]
MaxNodes = Annotated[int, Query(ge=1, le=5000)]
MaxEdges = Annotated[int, Query(ge=1, le=20000)]
MaxFanout = Annotated[int, Query(ge=1, le=1000, description="transfers read per account")]


@router.get("/v1/trace/accounts/{account_id:path}", response_model=TraceResult, responses=_ERRORS)
def trace_account(
    account_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    direction: Direction = "forward",
    max_hops: MaxHops = tracing_service.DEFAULT_MAX_HOPS,
    max_nodes: MaxNodes = tracing_service.DEFAULT_MAX_NODES,
    max_edges: MaxEdges = tracing_service.DEFAULT_MAX_EDGES,
    max_fanout: MaxFanout = tracing_service.DEFAULT_MAX_FANOUT,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> TraceResult:
    """Follows the money an account sent (forward) or received (backward) in a window."""
    return tracing_service.trace_account(
        session,
        principal=principal,
        account_id=account_id,
        params=_params(direction, max_hops, max_nodes, max_edges, max_fanout, since, until),
    )


@router.get(
    "/v1/trace/reports/{institution_id}/{report_id}",
    response_model=TraceResult,
    responses=_ERRORS,
)
def trace_report(
    institution_id: str,
    report_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    direction: Direction = "forward",
    max_hops: MaxHops = tracing_service.DEFAULT_MAX_HOPS,
    max_nodes: MaxNodes = tracing_service.DEFAULT_MAX_NODES,
    max_edges: MaxEdges = tracing_service.DEFAULT_MAX_EDGES,
    max_fanout: MaxFanout = tracing_service.DEFAULT_MAX_FANOUT,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> TraceResult:
    """Follows the money of one reported transfer forward or backward."""
    return tracing_service.trace_report(
        session,
        principal=principal,
        institution_id=institution_id,
        report_id=report_id,
        params=_params(direction, max_hops, max_nodes, max_edges, max_fanout, since, until),
    )
