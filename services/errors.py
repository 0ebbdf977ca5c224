"""Domain errors carry their HTTP status; one handler turns them into responses."""

from __future__ import annotations

from typing import Any

from fastapi.openapi.constants import REF_TEMPLATE
from fastapi.openapi.utils import (
    validation_error_definition,
    validation_error_response_definition,
)
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

JSON = "application/json"
_ERROR_BODY = {"$ref": REF_TEMPLATE.format(model="ErrorBody")}
_REQUEST_INVALID = {"$ref": REF_TEMPLATE.format(model="HTTPValidationError")}
# A 422 comes from FastAPI's request validation (``detail`` a list of problems) or from a
# ServiceError or a value the database refused (services/app.py; ``detail`` a text).
_UNPROCESSABLE = {"anyOf": [_REQUEST_INVALID, _ERROR_BODY]}


def declare_error_bodies(document: dict[str, Any]) -> None:
    """Gives every error response of the OpenAPI document the body the app answers with.

    Routes list the statuses they can answer and why (``responses=``); the bodies are made by
    the app's handlers, the same for every route, so they are declared here once: a status
    of 400 or more declared without a body gets :class:`ErrorBody`, and a 422 (which FastAPI
    documents as its own validation error only) gets either. Errors are JSON on every route,
    those that answer CSV or XML included.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema(ref_template=REF_TEMPLATE))
    schemas.setdefault("ValidationError", validation_error_definition)
    schemas.setdefault("HTTPValidationError", validation_error_response_definition)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                if not code.isdigit() or int(code) < 400:
                    continue
                content = response.setdefault("content", {})
                declared = content.get(JSON, {}).get("schema")
                if code == "422" and declared in (None, _REQUEST_INVALID):
                    content[JSON] = {"schema": _UNPROCESSABLE}
                elif declared is None:
                    content[JSON] = {"schema": _ERROR_BODY}
