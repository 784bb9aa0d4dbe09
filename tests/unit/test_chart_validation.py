"""The Helm chart (charts/attune) lints strictly, its values.schema.json refuses bad values, and every
manifest it renders validates against the Kubernetes schemas."""

from __future__ import annotations

import copy
import re

import kubernetes_validate
import pytest
from helm_python.chart import lint
from helm_python.errors import HelmValuesError

from tests.fixtures.chart import (
    CHART,
    CUSTOM_KINDS,
    GPU_VALUES,
    KUBERNETES_VERSION,
    MODEL,
    NAMESPACE,
    QDRANT_VALUES,
    render,
)

# --- lint -------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, GPU_VALUES, QDRANT_VALUES], ids=["default", "gpu", "qdrant"])
def test_lint_strict_has_no_errors(values):
    report = lint(CHART, values, strict=True, namespace=NAMESPACE)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # strict: warnings (severity 2) count as failures too; info (e.g. "icon is recommended") does not.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


# --- values.schema.json -----------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"services": {"model": {"port": "50051"}}}, "/services/model/port"),
        ({"services": {"model": {"port": 70000}}}, "/services/model/port"),
        ({"probes": {"type": "tcp"}}, "/probes/type"),
        # propertyNames errors carry an empty path but name the offending key.
        ({"env": {"attune_log_level": "debug"}}, "'attune_log_level'"),
        # Without a scheme qdrant-client would open a local folder, not the server.
        ({"qdrant": {"url": "qdrant:6333"}}, "/qdrant/url"),
        ({"services": {"uservec": {"state": {"enable": False}}}}, "/services/uservec/state"),
        ({"services": {"trainer": {"singleWriter": {"enable": False}}}}, "/services/trainer/singleWriter"),
        ({"trainer": {"job": {"adapterName": "../model"}}}, "/trainer/job/adapterName"),
        (
            {"services": {"extractor": {"secretEnv": {"ATTUNE_EXTRA": {"name": "s"}}}}},
            "/services/extractor/secretEnv/ATTUNE_EXTRA",
        ),
    ],
    ids=[
        "string-port",
        "port-out-of-range",
        "probe-type",
        "env-name",
        "qdrant-url",
        "state-key",
        "single-writer-key",
        "adapter-name",
        "secret-env",
    ],
)
def test_schema_refuses_bad_values(chart, values, key):
    with pytest.raises(HelmValuesError, match=re.escape(key)):
        render(chart, values)


def test_lint_reports_schema_errors_by_key():
    report = lint(CHART, {"services": {"model": {"port": "50051"}}}, strict=True, namespace=NAMESPACE)
    assert report["errors"]
    assert any("/services/model/port" in e for e in report["errors"])


# --- the Kubernetes schemas ---------------------------------------------------


def test_every_manifest_validates_against_the_kubernetes_schemas_strictly(rendered):
    """Offline, with kubernetes-validate's bundled schemas; strict: an unknown field is an error."""
    checked = 0
    for obj in rendered.objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 20


def test_the_schema_check_catches_a_misspelt_field(default):
    deployment = copy.deepcopy(default.get("Deployment", MODEL))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolicyy"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
