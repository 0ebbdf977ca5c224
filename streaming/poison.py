"""Which failures of a batch are the infrastructure's (retry) and which are a message's (DLQ).

A batch that fails for a *transient* reason — the broker or the database unreachable, a
connection lost, a deadlock, a lock timeout, a schema the database does not have yet — is
rewound and replayed whole after a back-off: nothing is wrong with its messages. Any other
failure — the database refusing a row (``DataError``, ``IntegrityError``: NUL in text, a value
out of range) or an unexpected exception while assessing a report — is blamed on the messages:
the worker splits the batch until the offending reports are alone, dead-letters them with the
reason and stores the rest (``streaming.worker.Worker._store_parts``).

Errors that say the database itself is wrong (``ProgrammingError``, ``InternalError``,
``NotSupportedError``) are transient on purpose: blaming the messages would dead-letter every
report until an operator fixes the schema, retrying loses none of them.
"""

from __future__ import annotations

import sqlite3

import psycopg
from kafka.errors import KafkaError
from sqlalchemy import exc as sa

from services.reports.decode import DecodeError, DecodeFailure

_TRANSIENT: tuple[type[BaseException], ...] = (
    KafkaError,
    sa.OperationalError,
    sa.InterfaceError,
    sa.ProgrammingError,
    sa.InternalError,
    sa.NotSupportedError,
    sa.DisconnectionError,
    sa.TimeoutError,  # no pooled connection free in time
    # Raised by the driver directly where the worker uses its cursor (COPY on PostgreSQL).
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.ProgrammingError,
    psycopg.InternalError,
    psycopg.NotSupportedError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    sqlite3.InternalError,
    sqlite3.NotSupportedError,
    ConnectionError,
    TimeoutError,
)
_REFUSED: tuple[type[BaseException], ...] = (
    sa.DataError,
    sa.IntegrityError,
    sa.StatementError,  # a value no column type can bind
    psycopg.DataError,
    psycopg.IntegrityError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
    OverflowError,  # sqlite3 binding an integer beyond 64 bits
)
# The DLQ reason header is cut at 4,000 bytes; a driver message is a line or two.
_REASON_CHARS = 1000


def is_transient(error: BaseException) -> bool:
    """True when ``error`` says the broker or the database failed, not the batch's data."""
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _TRANSIENT)


def poison_reason(error: BaseException) -> DecodeError:
    """The DLQ entry of a report that failed alone: what refused it, without the statement.

    SQLAlchemy's message appends the statement and its parameters; only the driver's own
    message (``orig``) is kept.
    """
    cause = error.orig if isinstance(error, sa.DBAPIError) and error.orig is not None else error
    text = " ".join(str(cause).split())[:_REASON_CHARS]
    name = type(cause).__name__
    if isinstance(error, _REFUSED):
        return DecodeError(DecodeFailure.REFUSED, f"refused by the database: {name}: {text}")
    return DecodeError(DecodeFailure.ERROR, f"processing failed: {name}: {text}")
