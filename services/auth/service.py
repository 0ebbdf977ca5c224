"""Token issue and lookup. Tokens are random, shown once, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.auth.enums import Role
from services.auth.orm import ApiToken
from services.errors import ServiceError
from services.kit.singleflight import SingleFlight
from services.kit.time import utc_now

TOKEN_PREFIX = "aml_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's id, role and (for reporters) institution."""

    token_id: int
    role: Role
    institution_id: str | None
    # When the token stops working (None: never); caches keep the principal no longer.
    expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        """A stable name for audit records."""
        return f"token:{self.token_id}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    role: Role,
    institution_id: str | None = None,
    label: str | None = None,
    token: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Stores a new token and returns its clear text (the only time it is seen).

    ``expires_at`` (optional, timezone-aware) is when it stops being accepted.
    """
    if expires_at is not None and expires_at.tzinfo is None:
        raise ServiceError("a token's expiry needs a time zone", 422)
    if role is Role.REPORTER and not institution_id:
        raise ServiceError("a reporter token needs an institution", 422)
    if role is not Role.REPORTER and institution_id:
        raise ServiceError("only reporter tokens are bound to an institution", 422)
    clear = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
    existing = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(clear)))
    if existing is None:
        session.add(
            ApiToken(
                token_sha256=digest(clear),
                role=role.value,
                institution_id=institution_id,
                label=label,
                created_at=utc_now(),
                expires_at=expires_at,
            )
        )
        session.flush()
    return clear


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and now >= expires_at


def authenticate(session: Session, token: str) -> Principal | None:
    """Returns the principal of a valid, unrevoked, unexpired token, else None."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(token)))
    if row is None or row.revoked_at is not None or is_expired(row.expires_at, utc_now()):
        return None
    return Principal(
        token_id=row.id,
        role=Role(row.role),
        institution_id=row.institution_id,
        expires_at=row.expires_at,
    )


class PrincipalCache:
    """Recently authenticated tokens: SHA-256 digest → principal, for ``ttl`` seconds.

    Saves the token lookup (a query) on all but one request per token and ``ttl`` in each API
    process. The price: a token revoked in the database keeps working for up to ``ttl``
    seconds in a process that has it cached (the default is 5 s). Only successful lookups are
    kept (an unknown token is looked up every time, so a token created a moment ago works at
    once), clear tokens are never kept, and at most ``max_entries`` tokens are: past that the
    expired ones are dropped, then the oldest.
    """

    DEFAULT_TTL_S = 5.0

    def __init__(
        self,
        ttl: float = DEFAULT_TTL_S,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0 or max_entries < 1:
            raise ValueError("ttl must be >= 0 and max_entries >= 1")
        self.ttl = ttl
        self.max_entries = max_entries
        # Lookups in flight, by token digest: concurrent misses on one token share a query.
        self.lookups: SingleFlight[str, Principal | None] = SingleFlight()
        self._clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        """The cached principal of ``token``, or None when unknown or expired."""
        entry = self._entries.get(digest(token))
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        now = self._clock()
        with self._lock:
            entries = self._entries
            if len(entries) >= self.max_entries:
                for key in [key for key, (expires, _) in entries.items() if expires <= now]:
                    del entries[key]
                while len(entries) >= self.max_entries:
                    del entries[next(iter(entries))]
            key = digest(token)
            entries.pop(key, None)  # re-inserted last: the eviction order is insertion order
            until = now + self.ttl
            if principal.expires_at is not None:
                # Never past the token's own expiry.
                until = min(until, now + (principal.expires_at - utc_now()).total_seconds())
            entries[key] = (until, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def revoke_token(session: Session, token_id: int) -> bool:
    """Marks a token revoked (flush only); False when there is no such token.

    API processes that have the token cached accept it for up to their cache's ``ttl``
    (:class:`PrincipalCache`, 5 s by default) after the revocation is committed.
    """
    row = session.get(ApiToken, token_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utc_now()
        session.flush()
    return True


def replace_labelled_token(
    session: Session, *, role: Role, label: str, token: str | None = None
) -> str:
    """Issues the token of a one-of-a-kind label (e.g. ``amlscreen up``'s bootstrap admin)
    and revokes every earlier unrevoked token with that label (flush only).

    A process that mints a token at every start would otherwise leave a live admin token
    behind for each start. With ``token`` given (a configured one), that one is kept.
    """
    clear = create_token(session, role=role, label=label, token=token)
    current = digest(clear)
    earlier = session.scalars(
        select(ApiToken).where(
            ApiToken.label == label,
            ApiToken.revoked_at.is_(None),
            ApiToken.token_sha256 != current,
        )
    ).all()
    for row in earlier:
        row.revoked_at = utc_now()
    session.flush()
    return clear


def list_tokens(session: Session) -> Sequence[ApiToken]:
    """Every token ever issued (revoked ones included), oldest first; digests only."""
    return session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
