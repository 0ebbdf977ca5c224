"""Database plumbing: declarative base, engine factory, and the one transaction owner.

Stale connections. The PostgreSQL pool does not ping a connection on every checkout
(``pool_pre_ping`` costs one round trip per request: a quarter of the alert queue's throughput,
docs/investigations.md). What the ping protected against, and what replaces it:

* a connection that died while it sat idle in the pool (a database restart or failover in a
  quiet period, a firewall or ``idle_session_timeout`` closing idle sessions): a connection
  idle for more than :data:`IDLE_PING_SECONDS` is pinged on checkout and silently replaced if
  it is dead;
* connections kept forever across server-side limits: ``pool_recycle`` replaces every
  connection older than :data:`POOL_RECYCLE_SECONDS`;
* a connection that died while it was busy or just before it was reused: the statement fails
  with a disconnect error, SQLAlchemy then discards every pooled connection opened before it,
  and the API answers :class:`RetryOnDisconnect`-style: a GET or HEAD is run once more on a
  fresh connection, any other request is rolled back and answered 503 with ``Retry-After``
  (the client may repeat it: nothing was written).

``GET /readyz`` still runs ``SELECT 1`` on a pooled connection, so readiness checks see a
database that is down.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC in Python, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:  # PostgreSQL sessions run in UTC (make_engine)
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


SQLITE_WAL_TIMEOUT_S = 30.0


def _use_wal(cursor: sqlite3.Cursor, timeout_s: float = SQLITE_WAL_TIMEOUT_S) -> None:
    """Puts a SQLite database in WAL mode (it stays so), waiting for other connections.

    Switching the journal mode needs the database to itself, and SQLite answers "database is
    locked" at once instead of waiting out the busy timeout: two connections opening a new
    database together (API and worker, an app and a test) made one of them fail.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            mode = str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode not in ("wal", "memory"):  # an in-memory database has no journal to switch
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


# ``-c timezone=…``, ``-ctimezone=…`` or ``--timezone=…``, in any case.
_SETS_TIME_ZONE = re.compile(r"timezone\s*=", re.IGNORECASE)


def _with_utc_session(options: str | tuple[str, ...] | None) -> str:
    """libpq ``options`` with ``-c TimeZone=UTC`` added, unless they set a time zone already.

    The URL's own ``options`` (a search_path, say) are kept: ``connect_args`` would replace them.
    """
    given = " ".join(options) if isinstance(options, tuple) else (options or "")
    if _SETS_TIME_ZONE.search(given):
        return given
    return f"{given} -c TimeZone=UTC".strip()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Builds an engine; SQLite gets WAL, foreign keys and a busy timeout.

    Statement parameters are never put into error messages (``hide_parameters``): they hold
    report documents, names and identifiers, and error messages end up in logs.
    """
    kwargs = {"hide_parameters": True, **kwargs}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    options: dict[str, Any] = {
        # At most 30 connections as before, but all of them kept once opened: an overflow
        # connection is closed as soon as it is returned to a pool holding ``pool_size`` idle
        # ones, and a process whose concurrent requests hover around the pool size opened and
        # closed one per request (a PostgreSQL backend start each time; seen under the
        # alerts bench). A request beyond 30 waits for a connection (``pool_timeout``).
        "pool_size": 30,
        "max_overflow": 0,
        "pool_recycle": POOL_RECYCLE_SECONDS,
        **kwargs,
    }
    # Sessions in UTC whatever the server's default: psycopg then returns timestamps with
    # datetime.UTC itself, which UTCDateTime passes through instead of converting each one
    # (a page of the alert queue holds 150 of them).
    connect_args = dict(options.pop("connect_args", {}))
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # An explicit ``options`` makes libpq ignore PGOPTIONS: carry that over too.
        given = connect_args.get(
            "options", parsed.query.get("options", os.environ.get("PGOPTIONS"))
        )
        connect_args["options"] = _with_utc_session(given)
    engine = create_engine(url, connect_args=connect_args, **options)
    if not options.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    return engine


# A pooled connection unused for longer than this is pinged (one round trip) before it is
# handed out; a busy pool never pays for it.
IDLE_PING_SECONDS = 10.0
# Every connection is replaced after this long, whatever its state.
POOL_RECYCLE_SECONDS = 1800
_IDLE_SINCE = "amlscreen_idle_since"


def _ping_idle_connections(engine: Engine) -> None:
    """Pings connections that sat idle in the pool; a dead one is replaced before use."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        # record.info belongs to the DBAPI connection: a replacement starts without the key.
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out a new one (up to 3 tries).
            raise DisconnectionError(f"idle connection failed its ping: {error}") from error


def is_disconnect(error: BaseException) -> bool:
    """True for a statement that failed because its connection was lost (pool invalidated)."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


class RetryOnDisconnect:
    """ASGI middleware: a request that lost its database connection is retried or refused.

    A GET or HEAD whose app raised a disconnect error before any response was sent is run once
    more (SQLAlchemy has discarded the dead connections by then, so the retry gets a fresh
    one). Any other request was rolled back by its session: it is answered 503 with
    ``Retry-After: 1`` rather than 500, telling the client that repeating it is safe.
    """

    RETRIED_METHODS = frozenset({"GET", "HEAD"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        received: list[Message] = []

        async def recording_receive() -> Message:
            message = await receive()
            received.append(message)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, recording_receive, tracking_send)
            return
        except Exception as error:
            if started or not is_disconnect(error):
                raise
            if scope["method"] not in self.RETRIED_METHODS:
                await _service_unavailable(send)
                return
        replay = iter(list(received))

        async def replaying_receive() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replaying_receive, send)


async def _service_unavailable(send: Send) -> None:
    body = orjson.dumps(
        {"detail": "the database connection was lost; nothing was written, retry the request"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yields a session that commits on success and rolls back on error (the one owner)."""
    with factory() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()
