"""The Helm chart's (charts/attune) ServiceMonitor: rendered only when asked for and when the cluster serves its
API, scraping every service's metrics port."""

from __future__ import annotations

import pytest

from tests.fixtures.chart import (
    MODEL,
    MONITORING_API,
    NAMESPACE,
    RELEASE,
    SERVICES,
    render,
)

# --- ServiceMonitor -------------------------------------------------------------


@pytest.mark.parametrize(
    ("enabled", "api_versions", "expected"),
    [
        (False, None, False),
        (False, [MONITORING_API], False),
        (True, None, False),
        (True, [MONITORING_API], True),
    ],
    ids=["off", "off-with-api", "on-without-api", "on-with-api"],
)
def test_servicemonitor_needs_the_flag_and_the_api(chart, enabled, api_versions, expected):
    rendered = render(chart, {"serviceMonitor": {"enabled": enabled}}, api_versions)
    assert len(rendered.all("ServiceMonitor")) == int(expected)
    # Asked for but impossible: NOTES says so rather than failing the install.
    assert ("does not serve" in rendered.notes) == (enabled and not expected)


def test_servicemonitor_selects_every_service(gpu):
    selector = gpu.get("ServiceMonitor", RELEASE)["spec"]["selector"]["matchLabels"]
    for name in SERVICES:
        service = gpu.get("Service", f"{RELEASE}-{name}")
        assert selector.items() <= service["metadata"]["labels"].items(), name
        assert "metrics" in {p["name"] for p in service["spec"]["ports"]}, name


def test_servicemonitor_scrapes_the_metrics_port(gpu):
    monitor = gpu.get("ServiceMonitor", RELEASE)
    assert monitor["apiVersion"] == MONITORING_API
    service = gpu.get("Service", MODEL)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"
