"""What the Dockerfile installs: the project's wheel, with migrations and data files.

There is no Docker engine in CI, so the image itself is not built; its build stage runs
``pip wheel --no-deps .`` then installs that wheel, and this builds the same wheel and runs
the migrations and the CLI from its contents alone.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(out), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [built] = out.glob("amlscreen-*.whl")
    return built


class TestWheel:
    def test_contents(self, wheel: Path) -> None:
        names = set(zipfile.ZipFile(wheel).namelist())
        for required in (
            "amlscreen/cli.py",
            "amlscreen/asgi.py",
            "services/migrations/env.py",
            "services/migrations/script.py.mako",
            "services/migrations/versions/0001_ingest.py",
            "services/filings/xsd/EFL_CTRXBatchSchema.xsd",
            "streaming/metrics.py",
        ):
            assert required in names, required
        versions = sorted((ROOT / "services" / "migrations" / "versions").glob("*.py"))
        for version in versions:
            assert f"services/migrations/versions/{version.name}" in names
        assert not any(name.startswith(("tests/", "deploy/", "bench/")) for name in names)

    def test_migrations_and_cli_run_from_the_wheel(self, wheel: Path, tmp_path: Path) -> None:
        unpacked = tmp_path / "site"
        zipfile.ZipFile(wheel).extractall(unpacked)
        database = tmp_path / "image.db"
        # The wheel's packages first on the path, so nothing comes from the source tree.
        script = (
            "import sys; sys.path.insert(0, sys.argv[1])\n"
            "import services, amlscreen.cli\n"
            "assert services.__file__.startswith(sys.argv[1]), services.__file__\n"
            "amlscreen.cli.build_parser().parse_args(['db', 'upgrade'])\n"
            "from services.migrate import upgrade\n"
            "upgrade(sys.argv[2])\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, str(unpacked), f"sqlite:///{database}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        with sqlite3.connect(database) as connection:
            tables = {row[0] for row in connection.execute("select name from sqlite_master")}
        assert {"alembic_version", "reports"} <= tables
