"""Domain errors carry their HTTP status; one handler turns them into responses."""

from __future__ import annotations

from typing import Any


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
