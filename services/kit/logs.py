"""Logs never carry identifiers (DESIGN.md §8): database errors are logged by kind only.

A database error's text can hold the very values the unit must keep out of its logs:
SQLAlchemy appends the statement's parameters (the engines are built with
``hide_parameters=True`` against that, ``services.db.make_engine``), and the server's own
message does too — PostgreSQL's ``DETAIL: Key (...)=(...)``, a COPY's ``CONTEXT`` line with
the column value, a data error quoting the input. So whatever logs a database error, as an
argument or as the exception of ``log.exception``, the record is rewritten when it is made:
the error becomes its class and SQLSTATE, the traceback keeps its frames but not the message.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import StatementError

# Modules whose exceptions are database errors carrying server or driver text.
_DRIVER_MODULES = ("psycopg", "sqlite3", "_sqlite3")


def is_database_error(error: BaseException) -> bool:
    """True for SQLAlchemy statement errors and the drivers' own errors."""
    if isinstance(error, StatementError):
        return True
    module = type(error).__module__ or ""
    return module.split(".")[0] in _DRIVER_MODULES


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def describe_error(error: BaseException) -> str:
    """``OperationalError (psycopg.errors.AdminShutdown, SQLSTATE 57P01)``: no message text."""
    original: Any = (
        getattr(error, "orig", None) if isinstance(error, StatementError) else None
    ) or error
    parts = [f"{type(original).__module__}.{type(original).__name__}"]
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if sqlstate:
        parts.append(f"SQLSTATE {sqlstate}")
    code = getattr(original, "sqlite_errorname", None)
    if code:
        parts.append(str(code))
    return f"{type(error).__name__} ({', '.join(parts)}; details withheld from the log)"


def redact(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrites database errors in ``record``'s arguments and exception (in place)."""
    if isinstance(record.args, tuple) and any(
        isinstance(arg, BaseException) and is_database_error(arg) for arg in record.args
    ):
        record.args = tuple(
            describe_error(arg)
            if isinstance(arg, BaseException) and is_database_error(arg)
            else arg
            for arg in record.args
        )
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        chain = _chain(error)
        if any(is_database_error(link) for link in chain):
            frames = "".join(traceback.format_tb(error.__traceback__))
            causes = "".join(f"\ncaused by {describe_error(link)}" for link in chain[1:])
            record.exc_text = (
                f"Traceback (most recent call last):\n{frames}{describe_error(error)}{causes}"
            )
            record.exc_info = None
    return record


def install_redaction() -> None:
    """Makes every log record of the process go through :func:`redact` (idempotent).

    A record factory rather than a handler filter: it also covers the handlers uvicorn
    installs for its own loggers after start-up.
    """
    factory = logging.getLogRecordFactory()
    if getattr(factory, "amlscreen_redacts", False):
        return

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact(factory(*args, **kwargs))

    redacting: Callable[..., logging.LogRecord] = make
    redacting.amlscreen_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)
