"""Dashboards and deployment files stay in step with the metrics the services export.

Every metric a Grafana dashboard or the Prometheus config names must be one that
services/common/metrics.py really exports (a drifted name shows "No data", not an
error). The exported names are read from prometheus_client's own exposition,
so counters appear as ``*_total`` and histograms as ``*_bucket/_sum/_count``.
The dashboards have one copy, in the Helm chart (charts/attune/dashboards/), which
compose mounts into Grafana too. Whether compose.yaml, values.yaml and
prometheus.yml agree with the service registry: tests/unit/test_deploy_drift.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from attune.services.common import metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
CHART = ROOT / "charts" / "attune"
DASHBOARDS = CHART / "dashboards"

METRIC_NAME = re.compile(r"attune_[a-z_]+")
# Keys of Grafana panel targets and template variables that hold PromQL.
QUERY_KEYS = {"expr", "query", "definition"}

DASHBOARD_FILES = sorted(DASHBOARDS.glob("*.json"))


def exported_names() -> set[str]:
    """Sample names the real registry exposes, each labelled metric touched once."""
    collectors = [v for v in vars(metrics).values() if hasattr(v, "_labelnames") and hasattr(v, "_type")]
    touched = []
    for collector in collectors:
        if collector._labelnames:
            values = ["__dashboard_test__"] * len(collector._labelnames)
            collector.labels(*values)
            touched.append((collector, values))
    try:
        text = generate_latest(REGISTRY).decode()
    finally:
        for collector, values in touched:
            collector.remove(*values)
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
    return {n for n in names if n.startswith("attune_")}


def promql_strings(node) -> list[str]:
    """Every string under a query key anywhere in a dashboard (panels, rows, variables)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in QUERY_KEYS and isinstance(value, str):
                found.append(value)
            else:
                found.extend(promql_strings(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(promql_strings(item))
    return found


def unknown_metrics(expressions: list[str], exported: set[str]) -> set[str]:
    return {name for expr in expressions for name in METRIC_NAME.findall(expr)} - exported


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return exported_names()


def test_registry_exports_the_contract(exported):
    # The suffixes prometheus_client adds, and nothing else, decide what dashboards may name.
    assert {
        "attune_grpc_requests_total",
        "attune_grpc_request_seconds_bucket", "attune_grpc_request_seconds_sum", "attune_grpc_request_seconds_count",
        "attune_grpc_inflight_requests",
        "attune_model_tokens_total",
        "attune_model_batch_size_bucket", "attune_model_batch_size_sum", "attune_model_batch_size_count",
        "attune_service_ready",
    } <= exported
    # The touched children are gone again: the test leaves the registry as it found it.
    assert "__dashboard_test__" not in generate_latest(REGISTRY).decode()


def test_unknown_metric_is_caught(exported):
    synthetic = [
        'sum(rate(attune_grpc_requests_total{code="OK"}[5m]))',
        "histogram_quantile(0.99, sum by (le) (rate(attune_grpc_request_secs_bucket[5m])))",
        "attune_model_tokens",  # the counter without _total is not exported
    ]
    assert unknown_metrics(synthetic, exported) == {"attune_grpc_request_secs_bucket", "attune_model_tokens"}


def test_there_are_dashboards():
    assert DASHBOARD_FILES, f"no dashboards in {DASHBOARDS}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_names_only_exported_metrics(path, exported):
    dashboard = json.loads(path.read_text())
    expressions = promql_strings(dashboard)
    assert expressions, f"{path.name} has no queries"
    used = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    assert used, f"{path.name} names no attune metric"
    assert unknown_metrics(expressions, exported) == set(), f"{path.name} queries metrics nobody exports"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_is_well_formed(path):
    dashboard = json.loads(path.read_text())
    assert dashboard.get("uid") and dashboard.get("title")
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {panel['title']!r} has an empty query"
            # The datasource is the dashboard's variable, so the same file works in compose and Helm.
            assert target["datasource"]["uid"] == "${datasource}"


VLLM_NAME = re.compile(r"vllm:[a-z_]+")


def test_dashboards_read_only_the_vllm_metrics_the_engine_is_checked_to_export():
    """vLLM's metrics come from the engine, not metrics.py: a dashboard may name those of metrics.VLLM_METRICS,
    which tests/vllm finds on a real engine's registry."""
    used = {name for path in DASHBOARD_FILES for expr in promql_strings(json.loads(path.read_text()))
            for name in VLLM_NAME.findall(expr)}
    assert used, "the engine panels read vLLM's own metrics"
    assert used <= set(metrics.VLLM_METRICS), f"not checked against a real engine: {used - set(metrics.VLLM_METRICS)}"
    assert VLLM_NAME.findall("rate(vllm:prefix_cache_hit_total[5m])") == ["vllm:prefix_cache_hit_total"]


def test_dashboard_covers_every_metric(exported):
    """Each metric family of metrics.py appears on some dashboard."""
    used = set()
    for path in DASHBOARD_FILES:
        used |= set(METRIC_NAME.findall(" ".join(promql_strings(json.loads(path.read_text())))))
    families = {re.sub(r"_(total|created|bucket|sum|count)$", "", n) for n in exported}
    for family in families:
        assert any(n == family or n.startswith(family + "_") for n in used), f"{family} is on no dashboard"


def test_prometheus_config():
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for sc in jobs["attune"]["static_configs"] for t in sc["targets"]]
    assert "model:9101" in targets
    # Keep the services' own `service` label instead of renaming it to exported_service.
    assert jobs["attune"]["honor_labels"] is True
    # Any PromQL in the config (rules, relabelling) names exported metrics only.
    text = (MONITORING / "prometheus.yml").read_text()
    assert unknown_metrics([text], exported_names()) == set()


def test_grafana_provisioning_parses():
    datasources = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert datasources["datasources"][0]["type"] == "prometheus"
    providers = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/attune.yaml").read_text())
    path = providers["providers"][0]["options"]["path"]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert any(m.endswith(f":{path}:ro") and "charts/attune/dashboards" in m for m in mounts)


def test_chart_yaml_parses():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "attune"
    assert chart["version"] and chart["appVersion"]
