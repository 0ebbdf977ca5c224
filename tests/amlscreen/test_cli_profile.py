"""`amlscreen profile init` / `profile check`: what each export still needs, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlscreen.cli import main
from tests.services.filings.conftest import PROFILE


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["profile", "check", str(path)])
    return code, capsys.readouterr().out


class TestProfileCommands:
    def test_init_refuses_to_overwrite(self, tmp_path: Path, capsys) -> None:
        path = tmp_path / "p.json"
        assert main(["profile", "init", str(path)]) == 0
        assert main(["profile", "init", str(path)]) == 1
        assert main(["profile", "init", str(path), "--force"]) == 0
        code, out = check(path, capsys)
        assert code == 2
        assert "fincen-sar: not ready" in out
        assert "transmitter.tcc (placeholder)" in out

    def test_what_each_export_still_needs(self, tmp_path: Path, capsys) -> None:
        partial = {k: v for k, v in PROFILE.items() if k != "transmitter"}
        partial["institutions"] = {"US-FI-0002": PROFILE["institutions"]["US-FI-0002"]}
        path = tmp_path / "p.json"
        path.write_text(json.dumps(partial))
        code, out = check(path, capsys)
        assert code == 2
        assert "  fincen-sar: not ready, needs:\n    - transmitter (name, TCC" in out
        assert "goaml_rentity_id (the reporting entity's goAML id)" in out

        path.write_text(json.dumps(PROFILE))
        code, out = check(path, capsys)
        assert code == 2  # US-FI-0002 has no goAML id
        path.write_text(
            json.dumps(
                {**PROFILE, "institutions": {"US-FI-0001": PROFILE["institutions"]["US-FI-0001"]}}
            )
        )
        code, out = check(path, capsys)
        assert code == 0, out
        assert "goaml: ready" in out

    def test_invalid_and_missing_files(self, tmp_path: Path, capsys) -> None:
        path = tmp_path / "p.json"
        path.write_text(json.dumps({"transmitter": {"name": "X"}, "// note": "ok"}))
        code, out = check(path, capsys)
        assert code == 1
        assert "transmitter.tcc: Field required" in out
        path.write_text("{ not json")
        assert check(path, capsys)[0] == 1
        assert check(tmp_path / "absent.json", capsys)[0] == 1
