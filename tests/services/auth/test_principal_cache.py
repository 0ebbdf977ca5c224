"""The principal cache: token lookups saved for a few seconds, revocation effective within them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services import deps
from services.app import create_app
from services.auth.enums import Role
from services.auth.orm import ApiToken
from services.auth.service import (
    Principal,
    PrincipalCache,
    authenticate,
    create_token,
    digest,
    revoke_token,
)
from services.config import Settings
from services.kit.time import utc_now


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def principal(token_id: int) -> Principal:
    return Principal(token_id=token_id, role=Role.INVESTIGATOR, institution_id=None)


class TestPrincipalCache:
    def test_hit_until_the_ttl_then_miss(self) -> None:
        clock = Clock()
        cache = PrincipalCache(ttl=5.0, clock=clock)
        assert cache.get("aml_one") is None
        cache.put("aml_one", principal(1))
        assert cache.get("aml_one") == principal(1)
        clock.now += 4.9
        assert cache.get("aml_one") == principal(1)
        clock.now += 0.1
        assert cache.get("aml_one") is None

    def test_never_kept_past_the_tokens_expiry(self) -> None:
        clock = Clock()
        cache = PrincipalCache(ttl=600.0, clock=clock)
        expiring = Principal(
            token_id=7,
            role=Role.INVESTIGATOR,
            institution_id=None,
            expires_at=utc_now() + timedelta(seconds=2),
        )
        cache.put("aml_seven", expiring)
        assert cache.get("aml_seven") == expiring
        clock.now += 2.5
        assert cache.get("aml_seven") is None, "the ttl is 600 s, the token's expiry 2 s"

    def test_an_expired_token_is_not_authenticated(self, session: Session) -> None:
        past = utc_now() - timedelta(seconds=1)
        expired = create_token(session, role=Role.ADMIN, expires_at=past)
        future = create_token(session, role=Role.ADMIN, expires_at=past + timedelta(days=1))
        assert authenticate(session, expired) is None
        assert authenticate(session, future) is not None

    def test_bounded_expired_first_then_oldest(self) -> None:
        clock = Clock()
        cache = PrincipalCache(ttl=5.0, max_entries=3, clock=clock)
        cache.put("a", principal(1))
        clock.now += 3
        cache.put("b", principal(2))
        cache.put("c", principal(3))
        clock.now += 2.5  # "a" has expired
        cache.put("d", principal(4))
        assert len(cache) == 3
        assert [cache.get(key) for key in "bcd"] == [principal(2), principal(3), principal(4)]
        cache.put("e", principal(5))  # nothing expired: the oldest ("b") goes
        assert len(cache) == 3
        assert cache.get("b") is None
        assert cache.get("e") == principal(5)

    def test_keeps_digests_never_clear_tokens(self) -> None:
        cache = PrincipalCache()
        cache.put("aml_secret", principal(1))
        assert list(cache._entries) == [digest("aml_secret")]

    def test_refuses_nonsense(self) -> None:
        with pytest.raises(ValueError, match="ttl"):
            PrincipalCache(ttl=-1)
        with pytest.raises(ValueError, match="max_entries"):
            PrincipalCache(max_entries=0)


@pytest.fixture
def client(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, data_dir=tmp_path))  # type: ignore[call-arg]
    with TestClient(app) as test_client:
        yield test_client


class TestRevocationThroughTheApi:
    """Real requests, real commits (no session override): the production dependencies."""

    def test_revoked_token_works_until_the_ttl_then_401(
        self, client: TestClient, sessions: sessionmaker[Session]
    ) -> None:
        clock = Clock()
        client.app.state.principal_cache = PrincipalCache(ttl=5.0, clock=clock)  # type: ignore[attr-defined]
        with sessions() as session:
            token = create_token(session, role=Role.INVESTIGATOR)
            session.commit()
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/alerts", headers=headers).status_code == 200

        with sessions() as session:
            token_id = session.scalar(
                select(ApiToken.id).where(ApiToken.token_sha256 == digest(token))
            )
            assert token_id is not None
            assert revoke_token(session, token_id)
            session.commit()

        clock.now += 4.0  # cached: still accepted, as documented
        assert client.get("/v1/alerts", headers=headers).status_code == 200
        clock.now += 1.0  # the ttl has passed: looked up again, refused
        response = client.get("/v1/alerts", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        clock.now += 60.0
        assert client.get("/v1/alerts", headers=headers).status_code == 401  # never cached

    def test_unknown_token_is_not_cached(self, client: TestClient) -> None:
        headers = {"Authorization": "Bearer aml_nobody"}
        assert client.get("/v1/alerts", headers=headers).status_code == 401
        assert len(client.app.state.principal_cache) == 0  # type: ignore[attr-defined]

    def test_revoke_unknown_token(self, sessions: sessionmaker[Session]) -> None:
        with sessions() as session:
            assert revoke_token(session, 999_999_999) is False

    def test_concurrent_misses_on_one_token_share_one_lookup(
        self, client: TestClient, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with sessions() as session:
            token = create_token(session, role=Role.INVESTIGATOR)
            session.commit()
        lookups: list[str] = []

        def slow_authenticate(session: Session, clear: str) -> Principal | None:
            lookups.append(clear)
            time.sleep(0.3)  # every request below arrives while this lookup is in flight
            return authenticate(session, clear)

        monkeypatch.setattr(deps, "authenticate", slow_authenticate)
        headers = {"Authorization": f"Bearer {token}"}
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(lambda _: client.get("/v1/alerts", headers=headers).status_code, range(8))
            )
        assert statuses == [200] * 8
        assert lookups == [token]
