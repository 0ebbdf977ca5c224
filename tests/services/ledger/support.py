"""Fixtures and helpers shared by the tracing, asset and ledger tests."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.app import create_app
from services.assets.orm import Asset, AssetEvent, AssetParticipant
from services.auth.enums import Role
from services.auth.service import Principal, create_token
from services.config import Settings
from services.ledger.orm import IdempotencyRecord, LedgerChainHead, LedgerEntry
from services.ledger.repository import LedgerRepository

_ids = itertools.count(1000)


def principal(role: Role) -> Principal:
    """A principal with a token id of its own (a distinct user)."""
    return Principal(token_id=next(_ids), role=role, institution_id=None)


@dataclass(frozen=True)
class People:
    investigator: Principal
    investigator2: Principal
    supervisor: Principal
    supervisor2: Principal
    auditor: Principal
    admin: Principal
    reporter: Principal


@pytest.fixture
def people() -> People:
    return People(
        investigator=principal(Role.INVESTIGATOR),
        investigator2=principal(Role.INVESTIGATOR),
        supervisor=principal(Role.SUPERVISOR),
        supervisor2=principal(Role.SUPERVISOR),
        auditor=principal(Role.AUDITOR),
        admin=principal(Role.ADMIN),
        reporter=Principal(token_id=next(_ids), role=Role.REPORTER, institution_id="US-FI-0001"),
    )


def key() -> str:
    return f"k-{uuid.uuid4().hex}"


def snapshot(session: Session) -> dict[str, Any]:
    """Everything a refused operation must leave unchanged."""
    session.flush()
    head = session.scalar(select(LedgerChainHead).execution_options(populate_existing=True))
    return {
        "entries": session.scalar(select(func.count()).select_from(LedgerEntry)),
        "head": (head.last_seq, head.last_hash) if head else None,
        "balances": LedgerRepository(session).balances(),
        "assets": session.execute(
            select(Asset.id, Asset.status, Asset.version, Asset.next_deadline_at).order_by(Asset.id)
        ).all(),
        "events": session.scalar(select(func.count()).select_from(AssetEvent)),
        "participants": session.scalar(select(func.count()).select_from(AssetParticipant)),
        "idempotency": session.scalar(select(func.count()).select_from(IdempotencyRecord)),
    }


class Api:
    """A test client with one bearer token per role (two for investigators and supervisors)."""

    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def headers(self, who: str, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, headers=self.headers(who), params=params)

    def post(
        self, who: str, path: str, body: Any = None, idempotency_key: str | None = "auto"
    ) -> Any:
        if idempotency_key == "auto":
            idempotency_key = key()
        return self.client.post(path, headers=self.headers(who, idempotency_key), json=body)


@pytest.fixture
def api(sessions: sessionmaker[Session], database_url: str, tmp_path: Path) -> Iterator[Api]:
    roles = {
        "investigator": Role.INVESTIGATOR,
        "investigator2": Role.INVESTIGATOR,
        "supervisor": Role.SUPERVISOR,
        "supervisor2": Role.SUPERVISOR,
        "auditor": Role.AUDITOR,
        "admin": Role.ADMIN,
        "reporter": Role.REPORTER,
    }
    with sessions() as session:
        tokens = {
            name: create_token(
                session,
                role=role,
                institution_id="US-FI-0001" if role is Role.REPORTER else None,
            )
            for name, role in roles.items()
        }
        session.commit()
    app = create_app(Settings(database_url=database_url, data_dir=tmp_path))
    with TestClient(app) as client:
        yield Api(client, tokens)
