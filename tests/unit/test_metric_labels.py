"""The caller's method name cannot grow the services' metrics without bound (found by the long fuzz run)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from attune.services.common import metrics


@pytest.fixture(autouse=True)
def no_names_seen(monkeypatch):
    monkeypatch.setattr(metrics, "_methods_seen", set())


def method_series() -> set[str]:
    return {s.labels["method"] for m in REGISTRY.collect() if m.name == "attune_model_tokens" for s in m.samples}


def test_odd_and_endless_method_names_share_one_series():
    before = method_series()
    for n in range(2 * metrics.MAX_METHODS):
        metrics.count_tokens("m", "agent", f"fuzzed-{n}", 1, 1)
    metrics.count_tokens("m", "agent", "x" * 5_000, 1, 1)
    metrics.count_tokens("m", "agent", "bad name\n", 1, 1)
    metrics.count_verdict("task", "🙂" * 100, "passed")
    series = method_series() - before
    assert "other" in series
    assert len(series) <= metrics.MAX_METHODS + 1  # the names kept and "other"
    assert not any(len(name) > 64 for name in series)


def test_a_known_name_keeps_its_series_after_the_cap():
    for n in range(metrics.MAX_METHODS + 1):
        metrics.method_label(f"filler-{n}")
    assert metrics.method_label("") == "none"
    assert metrics.method_label("filler-0") == "filler-0"
    assert metrics.method_label("brand-new") == "other"
