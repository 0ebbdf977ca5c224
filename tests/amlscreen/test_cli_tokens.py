"""``amlscreen token create | list | revoke`` against a real (SQLite) database."""

from __future__ import annotations

import pytest

from amlscreen.cli import main
from services.auth.service import authenticate
from services.db import make_engine
from services.migrate import upgrade
from services.orm_registry import make_sessionmaker


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    monkeypatch.setenv("AMLSCREEN_DATABASE_URL", url)
    upgrade(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _create(capsys, *args: str) -> str:
    assert main(["token", "create", *args]) == 0
    return capsys.readouterr().out.strip()


def test_create_list_and_revoke(database, capsys):
    reporter = _create(
        capsys, "--role", "reporter", "--institution", "US-BANK-1", "--label", "sftp"
    )
    auditor = _create(capsys, "--role", "auditor")
    with database() as session:
        principal = authenticate(session, reporter)
        assert principal is not None
        assert authenticate(session, auditor) is not None

    assert main(["token", "list"]) == 0
    out = capsys.readouterr().out
    lines = [line.split("\t") for line in out.splitlines()]
    assert lines[0] == ["id", "role", "institution", "label", "created_at", "revoked_at"]
    assert [line[1:4] for line in lines[1:]] == [
        ["reporter", "US-BANK-1", "sftp"],
        ["auditor", "-", "-"],
    ]
    assert reporter not in out
    assert auditor not in out, "the list never shows a secret"
    assert all(line[5] == "-" for line in lines[1:])

    assert main(["token", "revoke", str(principal.token_id)]) == 0
    assert "revoked" in capsys.readouterr().err
    with database() as session:
        assert authenticate(session, reporter) is None
        assert authenticate(session, auditor) is not None
    assert main(["token", "list"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows[0][5] != "-"
    assert rows[1][5] == "-"
    # Revoking again is harmless.
    assert main(["token", "revoke", str(principal.token_id)]) == 0


def test_revoking_an_unknown_token_is_an_error(database, capsys):
    assert main(["token", "revoke", "999"]) == 1
    assert "no token with id 999" in capsys.readouterr().err


def test_a_reporter_token_needs_an_institution(database, capsys):
    assert main(["token", "create", "--role", "reporter"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "institution" in captured.err
