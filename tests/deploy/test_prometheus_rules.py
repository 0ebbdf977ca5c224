"""promtool on the shipped config and rules, and the unit tests of every alert rule."""

from __future__ import annotations

import re

import yaml

from tests.deploy.conftest import (
    K8S,
    OPERATIONS,
    PROMETHEUS_DIR,
    RULES,
    RULES_TEST,
    alert_rules,
    promtool,
    rule_groups,
)


class TestPromtool:
    def test_check_config(self) -> None:
        result = promtool("check", "config", "prometheus.yml")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout

    def test_check_rules(self) -> None:
        result = promtool("check", "rules", RULES.name)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {sum(len(g['rules']) for g in rule_groups())} rules found" in (
            result.stdout
        )

    def test_unit_tests_of_the_rules_pass(self) -> None:
        result = promtool("test", "rules", RULES_TEST.name)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_a_broken_rule_fails_its_unit_test(self, tmp_path) -> None:
        """The unit tests are sharp: move one threshold and they fail."""
        broken = RULES.read_text().replace(
            "amlscreen:consumer_lag_messages:sum > 1000",
            "amlscreen:consumer_lag_messages:sum > 5000",
        )
        assert broken != RULES.read_text()
        (tmp_path / "rules.yml").write_text(broken)
        (tmp_path / "rules_test.yml").write_text(RULES_TEST.read_text())
        result = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
        assert result.returncode != 0
        assert "AmlscreenConsumerLagGrowing" in result.stdout + result.stderr


class TestRuleCoverage:
    def _tests_by_alert(self) -> dict[str, list[list]]:
        spec = yaml.safe_load(RULES_TEST.read_text())
        assert spec["rule_files"] == [RULES.name]
        seen: dict[str, list[list]] = {}
        for group in spec["tests"]:
            for case in group.get("alert_rule_test", []):
                seen.setdefault(case["alertname"], []).append(case.get("exp_alerts") or [])
        return seen

    def test_every_alert_is_tested_firing_and_quiet(self) -> None:
        seen = self._tests_by_alert()
        names = [rule["alert"] for rule in alert_rules()]
        assert len(names) == len(set(names)), "alert names must be unique"
        for name in names:
            assert any(seen.get(name, [])), f"{name}: no unit test where it fires"
            assert any(not expected for expected in seen[name]), f"{name}: never tested quiet"
        assert set(seen) <= set(names), "rules_test.yml tests an alert that does not exist"

    def test_expected_alerts(self) -> None:
        """The alerts the operations issue asks for, among the rest."""
        names = {rule["alert"] for rule in alert_rules()}
        assert {
            "AmlscreenWorkerDown",
            "AmlscreenNoWorkers",
            "AmlscreenConsumerLagGrowing",
            "AmlscreenDeadLetterRateHigh",
            "AmlscreenAlertRateSpike",
            "AmlscreenAlertRateDrop",
            "AmlscreenLedgerVerificationFailed",
            "AmlscreenModelNotLoaded",
        } <= names

    def test_every_alert_has_severity_summary_and_a_runbook_section(self) -> None:
        headings = {
            re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            for line in OPERATIONS.read_text().splitlines()
            if line.startswith("#")
        }
        for rule in alert_rules():
            assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            runbook = rule["annotations"]["runbook"]
            assert runbook == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
            assert rule["alert"].lower() in headings, (
                f"docs/operations.md lacks ### {rule['alert']}"
            )

    def test_the_kubernetes_prometheusrule_is_rules_yml(self) -> None:
        documents = list(yaml.safe_load_all((K8S / "prometheusrule.yaml").read_text()))
        assert len(documents) == 1
        assert documents[0]["kind"] == "PrometheusRule"
        assert documents[0]["spec"]["groups"] == rule_groups(), (
            "deploy/k8s/prometheusrule.yaml drifted from deploy/prometheus/rules.yml; "
            "regenerate it: .venv/bin/python -m tests.deploy.sync_rules"
        )

    def test_compose_prometheus_loads_the_rules(self) -> None:
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        assert config["rule_files"] == [RULES.name]
        jobs = {job["job_name"] for job in config["scrape_configs"]}
        assert {"amlscreen-api", "amlscreen-worker"} <= jobs
