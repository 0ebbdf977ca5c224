"""Domain errors carry their HTTP status; one handler turns them into responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ServiceError(Exception):
    """An expected failure with a status code and a message safe to show the caller."""

    def __init__(self, message: str, status_code: int = 400, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.details = details


class NotFound(ServiceError):
    def __init__(self, message: str = "not found") -> None:
        super().__init__(message, 404)


class Forbidden(ServiceError):
    def __init__(self, message: str = "forbidden") -> None:
        super().__init__(message, 403)


class Conflict(ServiceError):
    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message, 409, details)


class ErrorBody(BaseModel):
    """The body of an error answered through :class:`ServiceError` (services/app.py)."""

    detail: str
    errors: Any = Field(default=None, description="the problems one by one, where listed")


Responses = dict[int | str, dict[str, Any]]

# Declared in the OpenAPI document (``responses=``) where a route can answer them; each route
# declares its own 403, 404, 409 and 422, which say what the route refuses and why.
UNAUTHENTICATED: Responses = {
    401: {
        "model": ErrorBody,
        "description": "no bearer token, or one that is unknown, expired or revoked",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
}
# FastAPI answers 400 when a JSON body cannot be read at all (e.g. bytes that are not UTF-8).
MALFORMED_BODY: Responses = {
    400: {"model": ErrorBody, "description": "the body could not be read (e.g. not UTF-8)"},
}
# Routes that take an If-Match header (services/kit/concurrency.py) and a JSON body.
BAD_ETAG_OR_BODY: Responses = {
    400: {
        "model": ErrorBody,
        "description": "If-Match is not an ETag of this API, or the body could not be read",
    },
}
