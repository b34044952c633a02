"""Prometheus alert rules and the Grafana dashboard refer only to metrics learnloop exports.

promtool is not available here, so the rule file is parsed and its expressions are checked
against the metric names defined in src/learnloop/observability/metrics.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from learnloop.observability.middleware import status_class

from .tools import REPO

ALERTS = REPO / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "learnloop-dashboard.json"
METRICS_SOURCE = REPO / "src" / "learnloop" / "observability" / "metrics.py"
SERIES = re.compile(r"\b(learnloop[a-z0-9_:]*)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Burn-rate windows (long, short) and factors from the SRE workbook's multiwindow table.
BURN_WINDOWS = {("1h", "5m"): 14.4, ("6h", "30m"): 6.0, ("1d", "2h"): 3.0, ("3d", "6h"): 1.0}


def exported_metrics() -> set[str]:
    names = set(re.findall(r'"(learnloop_[a-z0-9_]+)"', METRICS_SOURCE.read_text()))
    assert "learnloop_http_requests_total" in names
    return names


def rule_groups() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    groups: list[dict[str, Any]] = document["groups"]
    return groups


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def unknown_series(expr: str) -> set[str]:
    known = exported_metrics() | recorded()
    unknown = set()
    for name in SERIES.findall(expr):
        base = name
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in known:
                base = name.removesuffix(suffix)
        if base not in known:
            unknown.add(name)
    return unknown


def test_rule_file_structure() -> None:
    names = [group["name"] for group in rule_groups()]
    assert len(names) == len(set(names))
    for rule in rules():
        assert ("record" in rule) != ("alert" in rule), rule
        assert isinstance(rule["expr"], str)
        assert rule["expr"].strip()
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["expr"]
        if "alert" in rule:
            assert re.fullmatch(r"Learnloop[A-Za-z]+", rule["alert"])
            assert rule["labels"]["severity"] in {"page", "ticket"}
            assert {"summary", "description"} <= set(rule["annotations"])
            assert re.fullmatch(r"\d+[smh]", rule["for"])
        else:
            assert re.fullmatch(r"learnloop:[a-z_]+:rate\d+[mhd]", rule["record"])


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("alert") or r["record"])
def test_expressions_use_exported_metrics(rule: dict[str, Any]) -> None:
    assert not unknown_series(rule["expr"])
    assert SERIES.search(rule["expr"]), "every rule reads a learnloop series"


def test_label_values_match_the_app() -> None:
    # The rules select 5xx responses by status class, as the middleware labels them.
    assert status_class(503) == "5xx"
    exprs = " ".join(rule["expr"] for rule in rules())
    assert 'status="5xx"' in exprs
    # Latency SLO threshold must be a real bucket boundary of the request histogram.
    assert re.search(r"\b0\.5\b", METRICS_SOURCE.read_text().split("LATENCY_BUCKETS", 1)[1])


def test_slo_alerts_are_multiwindow_burn_rates() -> None:
    alerts = [rule for rule in rules() if "alert" in rule and "Budget" in rule["alert"]]
    for slo, budget in (("http_error_ratio", 0.005), ("http_slow_ratio", 0.01)):
        seen = set()
        for rule in alerts:
            windows = re.findall(
                rf"learnloop:{slo}:rate(\w+) > \(([\d.]+) \* ([\d.]+)\)", rule["expr"]
            )
            if not windows:
                continue
            assert len(windows) == 2, rule["alert"]
            (long, factor, limit), (short, factor2, limit2) = windows
            assert factor == factor2
            assert float(limit) == float(limit2) == budget
            assert BURN_WINDOWS[(long, short)] == float(factor), rule["alert"]
            assert re.search(r"\band\b", rule["expr"]), rule["alert"]
            expected = "page" if float(factor) >= 6 else "ticket"
            assert rule["labels"]["severity"] == expected
            seen.add((long, short))
        assert seen == set(BURN_WINDOWS), slo
    for window in {w for pair in BURN_WINDOWS for w in pair}:
        assert f"learnloop:http_error_ratio:rate{window}" in recorded()
        assert f"learnloop:http_slow_ratio:rate{window}" in recorded()


def dashboard_panels() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "learnloop-overview"
    panels: list[dict[str, Any]] = dashboard["panels"]
    return panels


def test_dashboard_queries_use_exported_metrics() -> None:
    targets = [t for panel in dashboard_panels() for t in panel.get("targets", [])]
    assert len(targets) > 20
    for target in targets:
        assert not unknown_series(target["expr"]), target["expr"]
        assert 'namespace=~"$namespace"' in target["expr"], target["expr"]
    used = {name for t in targets for name in SERIES.findall(t["expr"])}
    # Every exported metric has a panel.
    for metric in exported_metrics():
        assert any(name == metric or name.startswith(metric + "_") for name in used), metric


def test_dashboard_layout() -> None:
    panels = dashboard_panels()
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
