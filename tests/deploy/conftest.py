"""Shared helpers for the deployment tests: paths, the Prometheus binaries, metric names.

Prometheus and promtool come from Debian's ``prometheus`` package (``.ci/run`` installs it).
When they are missing the tests fail with the command that installs them; they never skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from services.config import Settings
from services.metrics import ApiMetrics
from streaming.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
RULES_TEST = PROMETHEUS_DIR / "rules_test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "amlscreen.json"
OPERATIONS = ROOT / "docs" / "operations.md"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
KAFKA = DEPLOY / "kafka"

INSTALL_HINT = (
    "install Debian's prometheus package: apt-get update && apt-get install -y prometheus"
)

# Our metric names in PromQL: recording rules (amlscreen:…) have colons and are not matched.
METRIC_NAME = re.compile(r"\bamlscreen_[a-z0-9_]+\b")


def binary(name: str, fallback: Path = Path("/usr/bin")) -> str:
    """The path of a Prometheus binary, or a test failure saying how to install it."""
    found = shutil.which(name) or shutil.which(name, path=str(fallback))
    if found is None:
        pytest.fail(f"{name} is not installed; {INSTALL_HINT} (.ci/run does this)")
    return found


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def known_env() -> set[str]:
    """Every environment variable Settings reads."""
    return {f"AMLSCREEN_{name.upper()}" for name in Settings.model_fields}


def exported_series() -> dict[str, set[str]]:
    """Each metric family the code declares, with every series name it exports.

    A counter ``x`` exports ``x_total`` (and ``x_created``), a histogram ``x`` exports
    ``x_bucket``, ``x_count``, ``x_sum``; gauges export their own name.
    """
    families: dict[str, set[str]] = {}
    for registry in (WorkerMetrics().registry, ApiMetrics(CollectorRegistry()).registry):
        for family in registry.collect():
            if family.type == "counter":
                names = {f"{family.name}_total", f"{family.name}_created"}
                key = f"{family.name}_total"
            elif family.type == "histogram":
                names = {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
                names.add(f"{family.name}_created")
                key = family.name
            else:
                names = {family.name}
                key = family.name
            assert key not in families, f"{key} declared twice"
            families[key] = names
    return families


def rule_groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text())["groups"]


def alert_rules() -> list[dict]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def recording_rules() -> list[dict]:
    return [rule for group in rule_groups() for rule in group["rules"] if "record" in rule]


def dashboard_exprs() -> list[str]:
    import json

    dashboard = json.loads(DASHBOARD.read_text())
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def kafka_properties() -> dict[str, str]:
    """deploy/kafka/server.properties, the compose stack's broker configuration."""
    properties: dict[str, str] = {}
    for line in (KAFKA / "server.properties").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            assert key not in properties, f"{key} set twice"
            properties[key.strip()] = value.strip()
    return properties


@dataclass(frozen=True)
class KafkaCall:
    """One run of a Kafka command-line tool by deploy/kafka/setup.sh."""

    tool: str
    args: tuple[str, ...]

    def options(self, name: str) -> list[str]:
        return [self.args[i + 1] for i, arg in enumerate(self.args[:-1]) if arg == name]

    def option(self, name: str) -> str:
        [value] = self.options(name)
        return value


# Stands in for kafka-topics.sh, kafka-configs.sh and kafka-acls.sh: records its arguments.
_STUB = """#!/bin/sh
{
  printf '%s' "$(basename "$0")"
  for arg in "$@"; do printf '\\t%s' "$arg"; done
  printf '\\n'
} >> "$STUB_LOG"
"""

SETUP_PASSWORDS = {
    "KAFKA_ADMIN_PASSWORD": "admin-secret-1",
    "KAFKA_API_PASSWORD": "api-secret-2",
    "KAFKA_WORKER_PASSWORD": "worker-secret-3",
    "INSTITUTION_PASSWORD": "institution-secret-4",
}


def run_setup(
    tmp_path: Path, *args: str, check: bool = True, **environment: str
) -> list[KafkaCall]:
    """Runs deploy/kafka/setup.sh with Kafka's tools replaced by recorders."""
    bin_dir = tmp_path / "kafka-bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("kafka-topics.sh", "kafka-configs.sh", "kafka-acls.sh"):
        (bin_dir / tool).write_text(_STUB)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "kafka-calls.log"
    log.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "KAFKA_BIN": str(bin_dir),
        "STUB_LOG": str(log),
        **SETUP_PASSWORDS,
        **environment,
    }
    result = subprocess.run(
        ["sh", str(KAFKA / "setup.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0, result.stdout
    return [
        KafkaCall(fields[0], tuple(fields[1:]))
        for fields in (line.split("\t") for line in log.read_text().splitlines())
    ]
