"""Console sign-in: cookie sessions over API tokens, CSRF tokens, and what a role may do.

A user signs in with an API token. The browser gets a random session id in an HttpOnly,
SameSite=Strict cookie, signed with a key kept in the database (so every API replica accepts
it); the token itself is never stored in the browser and only the session id's SHA-256 is
stored server-side. Every request reads the session and its token: signing out, expiry or the
token's revocation end the session at once (the API's principal cache does not apply here).

Every form carries a per-session CSRF token, an HMAC of the session id, checked on every POST.
The sign-in form, which has no session yet, carries an HMAC of a nonce kept in a short-lived
cookie of its own (login CSRF).

Authorization stays in the domain services: the console calls them with the same
:class:`~services.auth.service.Principal` as the API. :class:`Capabilities` only decides what a
page shows, from the same role sets the services check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.alerts import lifecycle
from services.audit.service import AUDIT_READ_ROLES
from services.auth.enums import INVESTIGATIVE_ROLES, Role
from services.auth.service import Principal, authenticate, is_expired
from services.console.orm import ConsoleSession
from services.console.repository import ConsoleRepository
from services.errors import ServiceError
from services.ledger import service as ledger_service

SESSION_COOKIE = "amlscreen_console"
LOGIN_COOKIE = "amlscreen_console_login"
# A session ends after this long without a request, and in any case after SESSION_MAX.
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)
# last_seen_at is written at most this often: a page view is not a write each time.
TOUCH_EVERY = timedelta(seconds=60)
LOGIN_NONCE_MAX_AGE_S = 600


class SignInRequired(ServiceError):
    def __init__(self, message: str = "sign in to continue") -> None:
        super().__init__(message, 401)


class CsrfRefused(ServiceError):
    def __init__(self) -> None:
        super().__init__(
            "the form's security token is missing or belongs to another session:"
            " reload the page and try again",
            403,
        )


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the pages offer a role; the services refuse the rest whatever the page shows."""

    investigate: bool  # alerts, subjects, cases, trace, assets and ledger (read)
    work_alerts: bool  # transitions, assignment, notes, cases
    decide_filings: bool  # the filing decision and reopening (maker-checker)
    write_assets: bool  # register assets, lifecycle steps, propose postings
    approve_postings: bool  # approve or void someone else's posting
    read_audit: bool
    read_programme: bool
    own_reports: bool  # a reporter: its institution's reports, processing status only

    @classmethod
    def of(cls, role: Role) -> Capabilities:
        return cls(
            investigate=role in INVESTIGATIVE_ROLES,
            work_alerts=role in lifecycle.WRITE_ROLES,
            decide_filings=role in lifecycle.DECISION_ROLES,
            write_assets=role in ledger_service.WRITE_ROLES,
            approve_postings=role in ledger_service.APPROVER_ROLES,
            read_audit=role in AUDIT_READ_ROLES,
            read_programme=role in INVESTIGATIVE_ROLES,
            own_reports=role is Role.REPORTER,
        )


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    principal: Principal
    session_id: int
    csrf_token: str
    can: Capabilities


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _mac(key: bytes, purpose: str, value: str) -> str:
    return _b64(hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest())


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def signing_key(session: Session, now: datetime) -> bytes:
    """The console's HMAC key (created on first use, then the same for every process)."""
    return bytes.fromhex(ConsoleRepository(session).key(secrets.token_hex(32), now))


def _cookie(key: bytes, sid: str) -> str:
    return f"{sid}.{_mac(key, 'session', sid)}"


def _sid_of(key: bytes, cookie: str) -> str | None:
    sid, _, signature = cookie.partition(".")
    if not sid or not signature or len(cookie) > 200:
        return None
    if not hmac.compare_digest(signature, _mac(key, "session", sid)):
        return None
    return sid


def _user(key: bytes, sid: str, session_id: int, principal: Principal) -> ConsoleUser:
    return ConsoleUser(
        principal=principal,
        session_id=session_id,
        csrf_token=_mac(key, "csrf", sid),
        can=Capabilities.of(principal.role),
    )


def sign_in(session: Session, *, token: str, key: bytes, now: datetime) -> tuple[str, ConsoleUser]:
    """Opens a session for a valid token; returns the cookie value and the user.

    Raises:
        ServiceError: 401 when the token is unknown or revoked.
    """
    principal = authenticate(session, token.strip())
    if principal is None:
        raise ServiceError("this token is unknown or has been revoked", 401)
    sid = secrets.token_urlsafe(32)
    row = ConsoleRepository(session).add(
        ConsoleSession(
            sid_sha256=_digest(sid),
            token_id=principal.token_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_MAX,
        )
    )
    return _cookie(key, sid), _user(key, sid, row.id, principal)


def resolve(session: Session, *, cookie: str | None, key: bytes, now: datetime) -> ConsoleUser:
    """Returns the signed-in user of a session cookie.

    Raises:
        SignInRequired: no cookie, a forged one, or a session that was signed out, expired,
            went idle, or whose token was revoked.
    """
    if not cookie:
        raise SignInRequired()
    sid = _sid_of(key, cookie)
    if sid is None:
        raise SignInRequired()
    repository = ConsoleRepository(session)
    row = repository.find(_digest(sid))
    if row is None or row.ended_at is not None:
        raise SignInRequired()
    if row.token_revoked_at is not None:
        raise SignInRequired("your token has been revoked: sign in with a valid one")
    if is_expired(row.token_expires_at, now):
        raise SignInRequired("your token has expired: sign in with a valid one")
    if now >= row.expires_at or now - row.last_seen_at >= SESSION_IDLE:
        raise SignInRequired("your session has expired: sign in again")
    if now - row.last_seen_at >= TOUCH_EVERY:
        repository.touch(row.id, now)
    principal = Principal(
        token_id=row.token_id,
        role=Role(row.role),
        institution_id=row.institution_id,
        expires_at=row.token_expires_at,
    )
    return _user(key, sid, row.id, principal)


def sign_out(session: Session, *, user: ConsoleUser, now: datetime) -> None:
    """Ends the session server-side: the cookie, if kept, no longer signs anyone in."""
    ConsoleRepository(session).end(user.session_id, now)


def csrf_matches(user: ConsoleUser, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(submitted, user.csrf_token)


def login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_csrf(key: bytes, nonce: str) -> str:
    """The sign-in form's CSRF token: bound to a nonce kept in the login cookie."""
    return _mac(key, "login", nonce)


def login_csrf_matches(key: bytes, nonce: str | None, submitted: str | None) -> bool:
    if not nonce or not submitted:
        return False
    return hmac.compare_digest(submitted, login_csrf(key, nonce))
