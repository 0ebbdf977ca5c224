"""Every metric the rules and the dashboard use is exported by the code, and vice versa."""

from __future__ import annotations

import json
import re

from prometheus_client import CollectorRegistry

from services.metrics import ApiMetrics
from streaming.metrics import WorkerMetrics
from tests.deploy.conftest import (
    DASHBOARD,
    METRIC_NAME,
    OPERATIONS,
    alert_rules,
    dashboard_exprs,
    exported_series,
    recording_rules,
)


def _all_series() -> set[str]:
    return {name for names in exported_series().values() for name in names}


def _recorded() -> set[str]:
    return {rule["record"] for rule in recording_rules()}


class TestNames:
    def test_metrics_follow_the_naming_rules(self) -> None:
        for family in exported_series():
            assert family.startswith("amlscreen_"), family
            assert re.fullmatch(r"[a-z][a-z0-9_]*", family), family
        registries = (WorkerMetrics().registry, ApiMetrics(CollectorRegistry()).registry)
        for registry in registries:
            for family in registry.collect():
                if family.type == "histogram":
                    assert family.name.endswith(("_seconds", "_messages")), family.name
                assert family.documentation, f"{family.name} needs a help text"

    def test_labels_are_bounded(self) -> None:
        """No label that could carry an id (STYLE.md rule 9)."""
        forbidden = re.compile(r"id$|_id|account|subject|report$|case|token|user")
        for registry in (WorkerMetrics().registry, ApiMetrics(CollectorRegistry()).registry):
            for collector in list(registry._collector_to_names):  # noqa: SLF001
                for label in getattr(collector, "_labelnames", ()):
                    assert not forbidden.search(label), f"label {label!r} looks unbounded"

    def test_the_rules_only_use_exported_metrics(self) -> None:
        exported = _all_series()
        for rule in [*alert_rules(), *recording_rules()]:
            used = set(METRIC_NAME.findall(rule["expr"]))
            assert used <= exported, f"{rule.get('alert') or rule['record']}: {used - exported}"
            for recorded in re.findall(r"\bamlscreen:[a-z0-9_:]+", rule["expr"]):
                assert recorded in _recorded(), recorded

    def test_the_dashboard_only_uses_exported_metrics(self) -> None:
        exported = _all_series()
        for expr in dashboard_exprs():
            used = set(METRIC_NAME.findall(expr))
            assert used <= exported, f"{expr}: {used - exported}"
            for recorded in re.findall(r"\bamlscreen:[a-z0-9_:]+", expr):
                assert recorded in _recorded(), recorded

    def test_every_metric_is_on_the_dashboard_and_in_the_guide(self) -> None:
        on_dashboard = {name for expr in dashboard_exprs() for name in METRIC_NAME.findall(expr)}
        guide = OPERATIONS.read_text()
        for family, series in exported_series().items():
            assert series & on_dashboard, f"{family} is on no dashboard panel"
            assert f"`{family}" in guide, f"docs/operations.md does not describe {family}"

    def test_a_missing_metric_is_caught(self) -> None:
        """The name check is sharp: a typo in a query is not exported."""
        assert "amlscreen_reports_consumed" not in _all_series()
        assert "amlscreen_stage_duration_seconds" not in _all_series()  # only its suffixes
        assert "amlscreen_stage_duration_seconds_bucket" in _all_series()
        assert "amlscreen_reports_consumed_total" in _all_series()


class TestDashboard:
    def test_layout(self) -> None:
        dashboard = json.loads(DASHBOARD.read_text())
        assert dashboard["uid"] == "amlscreen"
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        cells: set[tuple[int, int]] = set()
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                    cells.add((x, y))
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
                assert panel.get("description"), f"{panel['title']} needs a description"
                assert panel["targets"], panel["title"]

    def test_every_panel_title_is_in_the_guide(self) -> None:
        guide = OPERATIONS.read_text()
        for panel in json.loads(DASHBOARD.read_text())["panels"]:
            assert panel["title"] in guide, f"docs/operations.md does not name {panel['title']!r}"
