"""Health endpoints answer anyone, so they say whether, never why."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from services.app import create_app
from services.config import Settings


def test_readyz_does_not_tell_why_the_database_is_unreachable(tmp_path: Path) -> None:
    url = "postgresql+psycopg://secret_user:secret_pw@127.0.0.1:1/secret_db?connect_timeout=2"
    app = create_app(Settings(database_url=url, data_dir=tmp_path, ledger_verify_interval_s=0))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    for secret in ("secret_user", "secret_pw", "secret_db", "127.0.0.1", "connection"):
        assert secret not in response.text


def test_readyz_when_ready(database_url: str, tmp_path: Path) -> None:
    app = create_app(
        Settings(database_url=database_url, data_dir=tmp_path, ledger_verify_interval_s=0)
    )
    with TestClient(app) as client:
        assert client.get("/readyz").json() == {"status": "ready", "database": "ok"}
