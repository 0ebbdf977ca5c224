"""Console sign-in sessions and the key that signs their cookies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, UTCDateTime

_PK = BigInteger().with_variant(Integer, "sqlite")


class ConsoleSession(Base):
    """A browser signed in with an API token; the cookie holds the session id, never the token.

    Only the SHA-256 of the session id is stored. A session ends when it is signed out, when it
    expires, or when its token is revoked (checked on every request, so at once).
    """

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_token_id", "token_id"),)

    id: Mapped[int] = mapped_column(_PK, primary_key=True)
    sid_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(_PK, ForeignKey("api_tokens.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsoleKey(Base):
    """The HMAC key of the console's cookies and CSRF tokens: one row, shared by every replica."""

    __tablename__ = "console_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
