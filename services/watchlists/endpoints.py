from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from starlette.concurrency import run_in_threadpool

from services.deps import PrincipalDep, SessionDep
from services.errors import MALFORMED_BODY, UNAUTHENTICATED, ServiceError
from services.kit.ids import PathId
from services.watchlists import service as watchlist_service
from services.watchlists.formats import MAX_FILE_BYTES, ListFormat
from services.watchlists.schemas import (
    DismissalCreate,
    LoadRead,
    RescreenRead,
    SearchMatchRead,
    SearchRead,
    SubjectMatchRead,
    VersionRead,
    WatchlistRead,
    WatchlistsRead,
)
from services.watchlists.service import IndexHolder

router = APIRouter(tags=["watchlists"], responses=UNAUTHENTICATED)

_READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "watchlists are for investigator-side roles, never reporters"},
}


def get_index_holder(request: Request) -> IndexHolder:
    holder: IndexHolder = request.app.state.watchlist_index
    return holder


IndexHolderDep = Annotated[IndexHolder, Depends(get_index_holder)]


@router.get("/v1/watchlists", response_model=WatchlistsRead, responses=_READ_RESPONSES)
def list_watchlists(session: SessionDep, principal: PrincipalDep) -> WatchlistsRead:
    """Returns the loaded lists, their versions (who loaded what, when, what changed) and the
    latest rescreen jobs with their progress."""
    lists, rescreens = watchlist_service.list_watchlists(session, principal=principal)
    return WatchlistsRead(
        lists=[
            WatchlistRead(
                name=item.watchlist.name,
                current_version=item.watchlist.current_version,
                created_at=item.watchlist.created_at,
                versions=[VersionRead.model_validate(version) for version in item.versions],
            )
            for item in lists
        ],
        rescreens=[RescreenRead.model_validate(job) for job in rescreens],
    )


@router.get(
    "/v1/watchlists/search",
    response_model=SearchRead,
    responses={**_READ_RESPONSES, 422: {"description": "empty name or bad parameter"}},
)
def search_watchlists(
    session: SessionDep,
    principal: PrincipalDep,
    holder: IndexHolderDep,
    name: Annotated[str, Query(min_length=1, max_length=300)],
    type: Annotated[str | None, Query(pattern="^(person|entity)$")] = None,  # noqa: A002
    birth_date: Annotated[str | None, Query(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")] = None,
    country: Annotated[str | None, Query(pattern="^[A-Za-z]{2}$")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchRead:
    """Looks a name up in every loaded list by hand: matches with scores and what matched."""
    matches = watchlist_service.search(
        session,
        holder,
        principal=principal,
        name=name,
        kind=type,
        birth_date=birth_date,
        country=country,
        limit=limit,
    )
    return SearchRead(name=name, matches=[SearchMatchRead.of(match) for match in matches])


@router.post(
    "/v1/watchlists/{name}/versions",
    response_model=LoadRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        403: {"description": "loading a list takes a supervisor or an admin"},
        413: {"description": "the file is too large"},
        422: {"description": "bad list name, format or file (the line or element is named)"},
    },
)
async def load_watchlist(
    name: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    format: Annotated[ListFormat, Query()],  # noqa: A002
) -> LoadRead:
    """Loads a list file (the request body) as the list's next version and queues a rescreen.

    ``sdn-csv`` takes sdn.csv alone here; load OFAC's full delimited release (with add.csv,
    alt.csv, sdn_comments.csv) with ``amlscreen watchlist load``.
    """
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FILE_BYTES:
            raise ServiceError("the list file is too large", 413)
    data = bytes(body)
    outcome = await run_in_threadpool(
        lambda: watchlist_service.load_uploaded(
            session,
            principal=principal,
            name=name,
            list_format=format,
            data=data,
            filename=f"{name}.{format.value}",
        )
    )
    return LoadRead.of(outcome)


@router.post(
    "/v1/watchlists/matches/{match_id}/dismissal",
    response_model=SubjectMatchRead,
    responses={
        **MALFORMED_BODY,
        403: {"description": "auditors read only; reporters never see matches"},
        404: {"description": "no such match"},
        409: {"description": "the pair is dismissed already"},
        422: {"description": "no reason given"},
    },
)
def dismiss_match(
    match_id: PathId, body: DismissalCreate, session: SessionDep, principal: PrincipalDep
) -> SubjectMatchRead:
    """Marks a match false, with a reason: that subject and entry never alert again (audited)."""
    view = watchlist_service.dismiss_match(
        session, principal=principal, match_id=match_id, reason=body.reason
    )
    return SubjectMatchRead.of(view.match, view.watchlist, view.dismissal)


@router.get(
    "/v1/watchlists/rescreens/{job_id}",
    response_model=RescreenRead,
    responses={**_READ_RESPONSES, 404: {"description": "no such rescreen job"}},
)
def read_rescreen(job_id: PathId, session: SessionDep, principal: PrincipalDep) -> RescreenRead:
    """Returns a rescreen job's progress."""
    return RescreenRead.model_validate(
        watchlist_service.get_rescreen(session, principal=principal, job_id=job_id)
    )
