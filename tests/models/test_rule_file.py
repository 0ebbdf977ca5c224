"""The operator's rule file: what it may set, what it refuses, and who reads it."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from amlscreen.cli import main
from models.rule_file import RuleFileError, load_rule_file, parse_rule_file, render_rule_file
from models.rules import RuleConfig
from services.config import Settings
from streaming.detection import build_detector
from streaming.metrics import WorkerMetrics
from tests.models.test_registry import tiny_model
from tests.models.test_scoring import structuring_case


class TestParse:
    def test_the_template_gives_the_shipped_rules(self) -> None:
        assert parse_rule_file(render_rule_file(RuleConfig()), "t") == RuleConfig()

    def test_a_template_of_other_rules_gives_them_back(self) -> None:
        rules = RuleConfig(
            structuring_min_legs_day=3,
            structuring_entity_min_near_share=None,
            high_risk_countries=("RU",),
            secrecy_enabled=False,
        )
        assert parse_rule_file(render_rule_file(rules), "t") == rules

    def test_keys_left_out_keep_their_defaults(self) -> None:
        rules = parse_rule_file(
            'high_risk_countries = ["ir", "KP", "ru", "IR"]\nsecrecy_forces_alert = true\n', "t"
        )
        assert rules.high_risk_countries == ("IR", "KP", "RU")
        assert rules.secrecy_forces_alert is True
        assert rules.structuring_min_legs_day == RuleConfig().structuring_min_legs_day
        assert rules.structuring_entity_min_near_share == 0.4

    def test_never_means_a_business_hit_never_forces(self) -> None:
        rules = parse_rule_file('structuring_entity_min_near_share = "never"\n', "t")
        assert rules.structuring_entity_min_near_share is None
        assert parse_rule_file("structuring_entity_min_near_share = 1\n", "t") == RuleConfig(
            structuring_entity_min_near_share=1.0
        )

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("ctr_threshold_cents = 500000\n", "ctr_threshold_cents cannot be set"),
            ("ror_threshold_cents = 1\n", "ror_threshold_cents cannot be set"),
            ("high_risk_contries = []\n", "high_risk_contries: Extra inputs"),
            ('high_risk_countries = ["IR", "XX"]\n', "'XX' is not an ISO 3166-1 alpha-2"),
            ('high_risk_countries = "IR"\n', "high_risk_countries"),
            ("structuring_min_legs_day = 0\n", "structuring_min_legs_day"),
            ("structuring_entity_min_near_share = 1.5\n", "structuring_entity_min_near_share"),
            ('secrecy_enabled = "yes"\n', "secrecy_enabled: Input should be a valid boolean"),
            ("structuring_enabled = tru\n", "not a TOML file"),
        ],
    )
    def test_a_bad_file_is_refused_naming_the_key(self, text: str, says: str) -> None:
        with pytest.raises(RuleFileError, match="^src: ") as error:
            parse_rule_file(text, "src")
        assert says in str(error.value)

    def test_an_unreadable_file_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(RuleFileError, match="cannot read the rule file"):
            load_rule_file(tmp_path / "missing.toml")
        assert load_rule_file(None) == RuleConfig()


class TestSettings:
    def test_a_bad_rule_file_stops_the_process_at_start(self, tmp_path: Path) -> None:
        path = tmp_path / "rules.toml"
        path.write_text("structuring_min_legs_3d = -1\n")
        with pytest.raises(ValidationError, match="structuring_min_legs_3d"):
            Settings(rules_file=path)

    def test_the_cli_says_which_setting_is_bad_without_a_traceback(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("AMLSCREEN_RULES_FILE", str(tmp_path / "missing.toml"))
        assert main(["rules", "check"]) == 2
        err = capsys.readouterr().err
        assert "invalid AMLSCREEN_* settings" in err
        assert "cannot read the rule file" in err
        assert "Traceback" not in err

    def test_the_worker_screens_with_the_file_s_rules(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = tmp_path / "rules.toml"
        path.write_text('high_risk_countries = ["RU"]\nstructuring_forces_alert = false\n')
        settings = Settings(model_path=tiny_model(), rules_file=path, data_dir=tmp_path)
        metrics = WorkerMetrics()
        with caplog.at_level(logging.INFO, logger="streaming.detection"):
            detector = build_detector(settings, metrics=metrics)
        expected = RuleConfig(high_risk_countries=("RU",), structuring_forces_alert=False)
        assert detector.scorer.rules == expected
        assert str(path) in caplog.text
        # The operators' dashboard tells workers on different rules apart by this digest.
        assert metrics.registry.get_sample_value(
            "amlscreen_rules_info", {"digest": expected.digest()}
        )
        shipped = build_detector(Settings(model_path=tiny_model(), data_dir=tmp_path))
        assert shipped.scorer.rules == RuleConfig()
        assert expected.digest() != RuleConfig().digest()


class TestDigest:
    def test_equal_rules_have_equal_digests_whatever_the_list_order(self) -> None:
        assert RuleConfig().digest() == RuleConfig().digest()
        assert (
            RuleConfig(secrecy_countries=("KY", "PA")).digest()
            == RuleConfig(secrecy_countries=("PA", "KY")).digest()
        )
        assert RuleConfig(secrecy_forces_alert=True).digest() != RuleConfig().digest()


class TestCommands:
    def test_init_then_check(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "rules.toml"
        assert main(["rules", "init", str(path)]) == 0
        assert main(["rules", "init", str(path)]) == 1
        capsys.readouterr()
        assert main(["rules", "check", str(path)]) == 0
        assert "high_risk_countries = ('IR', 'KP'" in capsys.readouterr().out
        path.write_text("structuring_min_legs_day = 0\n")
        assert main(["rules", "check", str(path)]) == 1
        assert "structuring_min_legs_day" in capsys.readouterr().err

    def test_score_applies_the_worker_s_rule_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Three near-threshold cash deposits in a day, under a threshold no score reaches: only
        # the forcing structuring rule opens an alert, and the rule file can turn that off.
        source = tmp_path / "in.jsonl"
        source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in structuring_case()))
        quiet = tmp_path / "quiet.toml"
        quiet.write_text("structuring_forces_alert = false\n")

        def alerted(*options: str) -> list[bool]:
            target = tmp_path / "out.jsonl"
            command = ["score", str(source), str(target), "--model", str(tiny_model())]
            assert main([*command, "--threshold", "1.01", "--no-budget", *options]) == 0
            return [orjson.loads(line)["alert"] for line in target.read_bytes().splitlines()]

        assert alerted() == [False, True, True]
        assert alerted("--rules", str(quiet)) == [False, False, False]
        monkeypatch.setenv("AMLSCREEN_RULES_FILE", str(quiet))
        assert alerted() == [False, False, False]
