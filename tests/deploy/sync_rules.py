"""Writes deploy/k8s/prometheusrule.yaml from deploy/prometheus/rules.yml (one source)."""

from __future__ import annotations

import yaml

from tests.deploy.conftest import K8S, rule_groups

HEADER = """\
# GENERATED from deploy/prometheus/rules.yml by `python -m tests.deploy.sync_rules`; edit the
# rules there (with their unit tests in rules_test.yml), then regenerate. tests/deploy fails
# when the two differ.
"""


def render() -> str:
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "amlscreen",
            "labels": {"app.kubernetes.io/name": "amlscreen"},
        },
        "spec": {"groups": rule_groups()},
    }
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=100, allow_unicode=True)


if __name__ == "__main__":
    (K8S / "prometheusrule.yaml").write_text(render())
