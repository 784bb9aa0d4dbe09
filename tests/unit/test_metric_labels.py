"""The caller's method name cannot grow the services' metrics without bound (found by the long fuzz run)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from attune.services.common import metrics


@pytest.fixture(autouse=True)
def no_names_seen(monkeypatch):
    monkeypatch.setattr(metrics, "_methods_seen", set())


def method_series() -> dict[str, float]:
    """Tokens counted so far by method label (other tests in the session may have counted some already)."""
    totals: dict[str, float] = {}
    for family in REGISTRY.collect():
        if family.name == "attune_model_tokens":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    method = sample.labels["method"]
                    totals[method] = totals.get(method, 0.0) + sample.value
    return totals


def test_odd_and_endless_method_names_share_one_series():
    before = method_series()
    for n in range(2 * metrics.MAX_METHODS):
        metrics.count_tokens("m", "agent", f"fuzzed-{n}", 1, 1)
    metrics.count_tokens("m", "agent", "x" * 5_000, 1, 1)
    metrics.count_tokens("m", "agent", "bad name\n", 1, 1)
    metrics.count_verdict("task", "🙂" * 100, "passed")
    after = method_series()
    new = set(after) - set(before)
    assert after["other"] - before.get("other", 0.0) == 2 * (metrics.MAX_METHODS + 2)  # prompt + completion each
    assert len(new) <= metrics.MAX_METHODS + 1  # the names kept and "other"
    assert not any(len(name) > 64 for name in new)


def test_a_known_name_keeps_its_series_after_the_cap():
    for n in range(metrics.MAX_METHODS + 1):
        metrics.method_label(f"filler-{n}")
    assert metrics.method_label("") == "none"
    assert metrics.method_label("filler-0") == "filler-0"
    assert metrics.method_label("brand-new") == "other"
