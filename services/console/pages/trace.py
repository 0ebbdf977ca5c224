"""The fund-flow trace as an interactive graph, and registering what an account holds."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from refdata.enums import Jurisdiction
from services.assets import flows
from services.assets.schemas import AssetFromTrace, AssetRead, TraceSpec
from services.console import forms, views
from services.console.service import ConsoleUser
from services.console.web import (
    SECURITY_HEADERS,
    ConsoleRoute,
    PostUserDep,
    UserDep,
    render,
    require,
    see_other,
)
from services.deps import SessionDep
from services.errors import NotFound, ServiceError
from services.ledger import service as ledger_service
from services.tracing import service as tracing_service
from services.tracing.schemas import TraceResult

router = APIRouter(route_class=ConsoleRoute)

Direction = Literal["forward", "backward"]
EXPAND_HOPS = 2


def _trace(
    session: Session,
    user: ConsoleUser,
    *,
    account_id: str | None,
    institution_id: str | None,
    report_id: str | None,
    direction: Direction,
    max_hops: int,
) -> TraceResult | None:
    params = tracing_service.TraceParams(direction=direction, max_hops=max_hops)
    if institution_id and report_id:
        return tracing_service.trace_report(
            session,
            principal=user.principal,
            institution_id=institution_id,
            report_id=report_id,
            params=params,
        )
    if account_id:
        return tracing_service.trace_account(
            session, principal=user.principal, account_id=account_id, params=params
        )
    return None


def graph(result: TraceResult) -> dict[str, Any]:
    """The trace as Cytoscape.js elements: amounts on edges, holdings and cuts on nodes."""
    held: dict[str, list[str]] = {}
    for holding in result.holdings:
        text = views.money(holding.amount_minor, holding.currency)
        held.setdefault(holding.account_id, []).append(f"{text} ({holding.reason})")
    cut = {item.account_id for item in result.cuts}
    nodes = [
        {
            "data": {
                "id": node.account_id,
                "label": f"{node.account_id}\n{node.institution_id or '?'} · {node.country or '?'}",
                "account": node.account_id,
                "institution": node.institution_id,
                "country": node.country,
                "subject": node.subject_key,
                "hop": node.hop,
                "holds": held.get(node.account_id, []),
                "holding": node.account_id in held,
                "cut": node.account_id in cut or node.fanout_truncated,
                "origin": node.account_id == result.origin.account_id,
            }
        }
        for node in result.nodes
    ]
    edges = [
        {
            "data": {
                "id": f"e:{edge.id}",
                "source": edge.source,
                "target": edge.target,
                "label": views.money(edge.traced_minor, edge.currency),
                "amount": views.money(edge.amount_minor, edge.currency),
                "at": views.when(edge.at),
            }
        }
        for edge in result.edges
    ]
    return {
        "elements": nodes + edges,
        "cuts": [item.model_dump(mode="json") for item in result.cuts],
        "truncated": result.truncated,
    }


@router.get("/trace")
def trace_page(
    request: Request,
    session: SessionDep,
    user: UserDep,
    account_id: Annotated[str | None, Query(max_length=200)] = None,
    institution_id: Annotated[str | None, Query(max_length=64)] = None,
    report_id: Annotated[str | None, Query(max_length=64)] = None,
    direction: Direction = "forward",
    max_hops: Annotated[int, Query(ge=1, le=10)] = tracing_service.DEFAULT_MAX_HOPS,
) -> Response:
    """Where the money of an account or of a reported transfer went (or came from)."""
    require(user.can.investigate, "tracing is for investigators, supervisors, auditors, admins")
    account_id = account_id or None
    institution_id, report_id = institution_id or None, report_id or None
    result = _trace(
        session,
        user,
        account_id=account_id,
        institution_id=institution_id,
        report_id=report_id,
        direction=direction,
        max_hops=max_hops,
    )
    return render(
        request,
        "trace.html",
        {
            "section": "trace",
            "result": result,
            "graph": graph(result) if result else None,
            "spec": {
                "account_id": account_id or "",
                "institution_id": institution_id or "",
                "report_id": report_id or "",
                "direction": direction,
                "max_hops": max_hops,
            },
            "jurisdictions": [j.value for j in Jurisdiction],
            "countries": {node.account_id: node.country for node in result.nodes} if result else {},
            "idempotency_key": str(uuid.uuid4()),
            "expand_hops": EXPAND_HOPS,
        },
        user=user,
    )


@router.get("/trace/graph.json")
def trace_graph(
    session: SessionDep,
    user: UserDep,
    account_id: Annotated[str, Query(min_length=1, max_length=200)],
    direction: Direction = "forward",
    max_hops: Annotated[int, Query(ge=1, le=10)] = EXPAND_HOPS,
) -> Response:
    """One account's trace as graph elements: what "expand" adds to the graph on the page.

    An account the store shows no transfer from (the trace may have been cut there by the
    hop limit all the same) expands to nothing, with a message; other refusals are JSON too.
    """
    try:
        result = _trace(
            session,
            user,
            account_id=account_id,
            institution_id=None,
            report_id=None,
            direction=direction,
            max_hops=max_hops,
        )
    except NotFound as error:
        return JSONResponse({"elements": [], "message": error.message}, headers=SECURITY_HEADERS)
    except ServiceError as error:
        return JSONResponse(
            {"detail": error.message}, status_code=error.status_code, headers=SECURITY_HEADERS
        )
    return JSONResponse(graph(result) if result else {"elements": []}, headers=SECURITY_HEADERS)


@router.post("/assets/from-trace")
def register_from_trace(
    session: SessionDep,
    user: PostUserDep,
    holder_account_id: Annotated[str, Form(min_length=1, max_length=200)],
    idempotency_key: Annotated[str, Form(min_length=1, max_length=200)],
    direction: Annotated[Direction, Form()] = "forward",
    max_hops: Annotated[int, Form(ge=1, le=10)] = tracing_service.DEFAULT_MAX_HOPS,
    account_id: Annotated[str, Form(max_length=200)] = "",
    institution_id: Annotated[str, Form(max_length=64)] = "",
    report_id: Annotated[str, Form(max_length=64)] = "",
    currency: Annotated[str, Form(max_length=3)] = "",
    jurisdiction: Annotated[str, Form(max_length=2)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    case_number: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Registers the traced funds an account holds; the server runs the trace again."""
    ledger_service.require_write(user.principal)
    body = forms.parse_model(
        AssetFromTrace,
        forms.blank_to_none(
            {
                "trace": TraceSpec.model_validate(
                    forms.blank_to_none(
                        {
                            "account_id": account_id,
                            "institution_id": institution_id,
                            "report_id": report_id,
                            "direction": direction,
                            "max_hops": max_hops,
                        }
                    )
                ),
                "holder_account_id": holder_account_id,
                "currency": currency,
                "jurisdiction": jurisdiction,
                "description": description,
                "case_number": case_number,
            }
        ),
    )
    trace = flows.run_trace(session, principal=user.principal, request=body)

    def operation() -> Any:
        asset, _event = flows.register_from_trace(
            session, principal=user.principal, request=body, trace=trace
        )
        return AssetRead.model_validate(asset).model_dump(mode="json")

    stored = ledger_service.run_idempotent(
        session,
        principal=user.principal,
        key=idempotency_key,
        method="POST",
        path="/console/assets/from-trace",
        body=body.model_dump(mode="json"),
        operation=operation,
        status_code=201,
    )
    if not isinstance(stored, dict) or "id" not in stored:
        raise ServiceError("the registration did not return an asset", 500)
    return see_other(f"/console/assets/{stored['id']}", notice="asset-registered")
