"""The Helm chart's (charts/attune) security: the auth token's Secret, TLS to every pod and Job, and containers
that run as non-root on a read-only root."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python.errors import HelmRenderError

from tests.fixtures.chart import (
    AUTH_SECRET,
    CUSTOM_KINDS,
    GPU_VALUES,
    KUBERNETES_VERSION,
    MODEL,
    ORCHESTRATOR,
    ORCHESTRATOR_JOBS,
    RUN_VALUES,
    SERVICES,
    TOKEN,
    Rendered,
    auth_env,
    merged,
    model_container,
    render,
)

# --- auth ---------------------------------------------------------------------


def test_no_token_no_secret(default):
    assert default.all("Secret") == []
    assert auth_env(model_container(default)) == []
    assert "no auth token is set" in default.notes


def test_auth_token_secret_is_referenced_by_the_deployment(gpu):
    secret = gpu.get("Secret", AUTH_SECRET)
    assert base64.b64decode(secret["data"]["ATTUNE_AUTH_TOKEN"]).decode() == TOKEN
    (env,) = auth_env(model_container(gpu))
    assert env["valueFrom"]["secretKeyRef"] == {"name": AUTH_SECRET, "key": "ATTUNE_AUTH_TOKEN"}
    # A changed token rolls the pods.
    assert "checksum/auth" in gpu.get("Deployment", MODEL)["spec"]["template"]["metadata"]["annotations"]


def test_existing_secret_is_referenced_and_not_created(chart):
    rendered = render(chart, {"auth": {"existingSecret": "my-token", "secretKey": "token"}})
    assert rendered.all("Secret") == []
    (env,) = auth_env(model_container(rendered))
    assert env["valueFrom"]["secretKeyRef"] == {"name": "my-token", "key": "token"}


# --- TLS and the containers' security -----------------------------------------------------------------

TLS_VALUES = merged(GPU_VALUES, ORCHESTRATOR_JOBS, RUN_VALUES,
                    {"tls": {"enabled": True, "secretName": "attune-tls", "clientAuth": True}})


def workloads(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every Deployment and Job, and of the Job the orchestrator creates from its template."""
    pods = [(o["metadata"]["name"], o["spec"]["template"]["spec"])
            for o in rendered.objects if o["kind"] in ("Deployment", "Job")]
    template = rendered.find("ConfigMap", f"{ORCHESTRATOR}-run-job")
    if template is not None:
        job = yaml.safe_load(template["data"]["job.yaml"])
        pods.append(("orchestrator's run Job", job["spec"]["template"]["spec"]))
    return pods


def test_tls_reaches_every_pod_and_probes_use_the_exec_check(chart, monkeypatch):
    from attune.services.common.settings import CommonSettings

    rendered = render(chart, TLS_VALUES)
    pods = workloads(rendered)
    assert len(pods) >= len(SERVICES) + 3, "services, the trainer Job, the run Job and the orchestrator's"
    for name, pod in pods:
        (volume,) = [v for v in pod["volumes"] if v["name"] == "tls"]
        assert volume["secret"]["secretName"] == "attune-tls", name
        for found in pod["containers"]:
            assert {"name": "tls", "mountPath": "/etc/attune/tls", "readOnly": True} in found["volumeMounts"], name
            env = {e["name"]: e["value"] for e in found["env"] if e["name"].startswith("ATTUNE_TLS_")}
            with monkeypatch.context() as m:
                for key, value in env.items():
                    m.setenv(key, value)
                settings = CommonSettings()
            assert settings.tls_client_auth and str(settings.tls_ca) == "/etc/attune/tls/ca.crt", name
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe in found:
                    assert "grpc" not in found[probe], f"{name}: the kubelet's gRPC probe has no TLS"
                    assert "attune.services.common.healthcheck" in found[probe]["exec"]["command"], name
    for obj in rendered.objects:
        if obj["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    with pytest.raises(HelmRenderError, match="tls.secretName is empty"):
        render(chart, {"tls": {"enabled": True}})


def test_every_container_runs_as_non_root_on_a_read_only_root(chart):
    for name, pod in workloads(render(chart, TLS_VALUES)):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for found in pod["containers"]:
            context = found["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "/tmp" in {m["mountPath"] for m in found["volumeMounts"]}, f"{name}: HOME=/tmp must be writable"
