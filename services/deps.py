"""FastAPI dependencies as ``Annotated`` aliases; resources come from ``app.state``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from services.auth.service import Principal, authenticate
from services.config import Settings
from services.errors import ServiceError
from services.reports.service import ReportPublisher


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """The request owns the transaction: commit on success, roll back on error."""
    with request.app.state.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()


def get_publisher(request: Request) -> ReportPublisher:
    publisher: ReportPublisher | None = request.app.state.publisher
    if publisher is None:
        raise ServiceError("report ingest is not configured on this API process", 503)
    return publisher


_bearer = HTTPBearer(auto_error=False)


class Unauthorized(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 401)


def get_principal(
    session: Annotated[Session, Depends(get_session)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("missing bearer token")
    principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("invalid or revoked token")
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
PublisherDep = Annotated[ReportPublisher, Depends(get_publisher)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
