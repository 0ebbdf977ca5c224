"""FastAPI dependencies as ``Annotated`` aliases; resources come from ``app.state``.

The session and principal dependencies are ``async`` so that they cost no thread-pool hop when
they do no I/O: a session is created without a connection, and a principal found in the
process' :class:`~services.auth.service.PrincipalCache` needs no query. What does I/O (the
token lookup on a cache miss, the commit or rollback at the end of the request) runs in the
thread pool, as a sync dependency would.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from services.auth.service import Principal, PrincipalCache, authenticate, digest
from services.config import Settings
from services.errors import ServiceError
from services.reports.service import ReportPublisher

P = ParamSpec("P")
T = TypeVar("T")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


def _rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request owns the transaction: commit on success, roll back on error.

    Used as ``Depends(get_session, scope="function")`` (:data:`SessionDep`): the commit runs
    when the endpoint returns, *before* the response is sent. With FastAPI's default scope
    the code after ``yield`` runs after the response has gone out, so a client could be told
    200 about a write whose commit then failed, read its own write back before it was
    committed, and start its next request while this one still held a pooled connection.
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_rollback_and_close, session)
        raise
    if session.in_transaction():
        await run_in_threadpool(_commit_and_close, session)
    else:
        session.close()  # never touched the database: nothing to commit, no I/O


async def run_blocking(
    request: Request, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Runs blocking work (database I/O) on the app's thread pool and awaits its result.

    For the hot read paths. FastAPI runs a plain ``def`` endpoint through anyio's worker
    threads, whose bookkeeping costs about 40 µs of CPU per call against about 17 µs for the
    event loop's own executor hop (measured in one process, 16 concurrent callers); on the
    alert queue that is a few percent of the request. As with anyio's threads, context
    variables are carried over and a cancelled caller waits for the call to finish: the thread
    cannot be interrupted, and what the caller does next (the session's rollback and close)
    must not race it.
    """
    executor: ThreadPoolExecutor = request.app.state.executor
    call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    future = asyncio.get_running_loop().run_in_executor(executor, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait({future})
        raise


def get_publisher(request: Request) -> ReportPublisher:
    publisher: ReportPublisher | None = request.app.state.publisher
    if publisher is None:
        raise ServiceError("report ingest is not configured on this API process", 503)
    return publisher


_bearer = HTTPBearer(auto_error=False)


class Unauthorized(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 401)


def principal_cache(request: Request) -> PrincipalCache | None:
    """The app's principal cache (``create_app`` sets one), or None for no caching."""
    cache: PrincipalCache | None = getattr(request.app.state, "principal_cache", None)
    return cache


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller; a token revoked less than the cache's ttl ago may still be accepted."""
    if credentials is None:
        raise Unauthorized("missing bearer token")
    token = credentials.credentials
    cache = principal_cache(request)
    if cache is None:
        principal = await run_in_threadpool(authenticate, session, token)
    else:
        principal = cache.get(token)
        if principal is None:
            # When a token's entry expires under load, every request in flight with it misses
            # at once: one lookup serves them all (without it, the alert queue bench served
            # 4-17 % fewer requests per second than with a 10-minute cache).
            principal = await cache.lookups.do(
                digest(token), lambda: run_in_threadpool(authenticate, session, token)
            )
            if principal is not None:
                cache.put(token, principal)
    if principal is None:
        raise Unauthorized("invalid or revoked token")
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
PublisherDep = Annotated[ReportPublisher, Depends(get_publisher)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
