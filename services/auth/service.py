"""Token issue and lookup. Tokens are random, shown once, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.auth.enums import Role
from services.auth.orm import ApiToken
from services.errors import ServiceError
from services.kit.time import utc_now

TOKEN_PREFIX = "aml_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's id, role and (for reporters) institution."""

    token_id: int
    role: Role
    institution_id: str | None

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
) -> str:
    """Stores a new token and returns its clear text (the only time it is seen)."""
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
            )
        )
        session.flush()
    return clear


def authenticate(session: Session, token: str) -> Principal | None:
    """Returns the principal of a valid, unrevoked token, else None."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(token_id=row.id, role=Role(row.role), institution_id=row.institution_id)
