"""Console fixtures: the real app over real commits, one browser-like client per user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.app import create_app
from services.auth.enums import Role
from services.auth.service import Principal, authenticate, create_token
from services.config import Settings

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')


class Browser:
    """A client with its own cookie jar, like one browser: signs in, reads pages, posts forms."""

    def __init__(self, app: FastAPI, token: str | None = None) -> None:
        self.client = TestClient(app, follow_redirects=False)
        self.token = token
        self.csrf_token: str | None = None

    def sign_in(self, token: str | None = None, next_url: str | None = None) -> Any:
        page = self.client.get("/console/login", params={"next": next_url} if next_url else None)
        match = LOGIN_CSRF.search(page.text)
        assert match, page.text
        return self.client.post(
            "/console/login",
            data={
                "token": token or self.token or "",
                "login_csrf": match.group(1),
                "next": next_url or "/console/",
            },
        )

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params or None)
        match = CSRF.search(response.text)
        if match:
            self.csrf_token = match.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True) -> Any:
        form = dict(data or {})
        if csrf:
            assert self.csrf_token, "read a page first: forms carry the session's CSRF token"
            form.setdefault("csrf_token", self.csrf_token)
        return self.client.post(path, data=form)


@dataclass
class Console:
    app: FastAPI
    sessions: sessionmaker[Session]
    tokens: dict[str, str] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)

    def browser(self, who: str | None = None, *, signed_in: bool = True) -> Browser:
        browser = Browser(self.app, self.tokens[who] if who else None)
        if who and signed_in:
            answer = browser.sign_in()
            assert answer.status_code == 303, answer.text
            browser.get("/console/reports")  # any page: every page carries the CSRF token
        return browser

    def api(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def principal(self, who: str) -> Principal:
        """The principal the console acts as for ``who`` (the same as the API's)."""
        with self.sessions() as session:
            found = authenticate(session, self.tokens[who])
        assert found is not None
        return found


USERS = {
    "investigator": Role.INVESTIGATOR,
    "investigator2": Role.INVESTIGATOR,
    "supervisor": Role.SUPERVISOR,
    "supervisor2": Role.SUPERVISOR,
    "auditor": Role.AUDITOR,
    "admin": Role.ADMIN,
    "reporter": Role.REPORTER,
}


@pytest.fixture
def console(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> Iterator[Console]:
    with sessions() as session:
        tokens = {
            name: create_token(
                session,
                role=role,
                institution_id="US-FI-0001" if role is Role.REPORTER else None,
                label=name,
            )
            for name, role in USERS.items()
        }
        session.commit()
    app = create_app(
        Settings(database_url=database_url, data_dir=tmp_path, ledger_verify_interval_s=0)
    )
    with TestClient(app):
        yield Console(app=app, sessions=sessions, tokens=tokens, roles=dict(USERS))
