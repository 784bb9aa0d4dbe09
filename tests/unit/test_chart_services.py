"""The Helm chart (charts/attune) renders each service as the services expect it: the model service
(CPU and GPU), every service's Deployment and headless Service, and the targets callers reach their peers at."""

from __future__ import annotations

import pytest

from tests.fixtures.chart import (
    GPU,
    MODEL,
    MODEL_ENV,
    NAMESPACE,
    PEERS,
    RELEASE,
    SERVICES,
    container,
    grpc_service_port,
    model_container,
    render,
    service_env,
)

# --- the model service --------------------------------------------------------


def test_default_render_has_the_base_objects(default):
    for kind, name in [
        ("Deployment", MODEL),
        ("Service", MODEL),
        ("ConfigMap", MODEL_ENV),
        ("ServiceAccount", RELEASE),
        ("PersistentVolumeClaim", f"{RELEASE}-data"),
        ("ConfigMap", f"{RELEASE}-dashboards"),
    ]:
        default.get(kind, name)
    assert {o["metadata"].get("namespace", NAMESPACE) for o in default.objects} == {NAMESPACE}


def test_model_deployment_and_headless_service(rendered):
    deployment = rendered.get("Deployment", MODEL)
    service = rendered.get("Service", MODEL)
    assert service["spec"]["clusterIP"] == "None"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "model"

    container = model_container(rendered)
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert service_ports["grpc"]["port"] == container_ports["grpc"] == 50051
    assert service_ports["grpc"]["targetPort"] == "grpc"
    assert service_ports["metrics"]["port"] == container_ports["metrics"] == 9101


def test_probes_are_grpc_on_the_service_port(rendered):
    container = model_container(rendered)
    port = grpc_service_port(rendered)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        spec = container[probe]
        assert spec["grpc"] == {"port": port}, probe
        assert not {"exec", "httpGet", "tcpSocket"} & spec.keys(), probe
    # The model's own startup budget (15 min) wins over the chart-wide default.
    assert container["startupProbe"]["failureThreshold"] == 90


def test_model_env_comes_from_its_configmap(rendered):
    container = model_container(rendered)
    assert {"configMapRef": {"name": MODEL_ENV}} in container["envFrom"]
    env = rendered.get("ConfigMap", MODEL_ENV)["data"]
    assert env["ATTUNE_MODEL_PORT"] == str(grpc_service_port(rendered))
    assert env["ATTUNE_MODEL_HOST"] == "0.0.0.0"
    assert env["ATTUNE_DATA_DIR"] == "/data"


def test_default_mode_is_cpu(default):
    container = model_container(default)
    assert GPU not in container["resources"].get("requests", {})
    assert GPU not in container["resources"].get("limits", {})
    assert default.get("ConfigMap", MODEL_ENV)["data"]["ATTUNE_MODEL_BACKEND"] == "transformers"
    assert container["image"] == "attune/model:0.1.0"


def test_gpu_mode_requests_a_gpu_and_runs_vllm(gpu):
    container = model_container(gpu)
    assert container["resources"]["requests"][GPU] == 1
    assert container["resources"]["limits"][GPU] == 1
    assert container["image"] == "attune/model-gpu:0.1.0"
    env = gpu.get("ConfigMap", MODEL_ENV)["data"]
    assert env["ATTUNE_MODEL_BACKEND"] == "vllm"
    assert env["ATTUNE_MODEL_ADAPTER_DIR"] == "/data/adapters"  # service env kept under the GPU env

    pod = gpu.get("Deployment", MODEL)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    (shm,) = [v for v in pod["volumes"] if v["name"] == "dshm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    # No spare GPU for a surge pod.
    assert gpu.get("Deployment", MODEL)["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


# --- extractor, retrieval, uservec, trainer ------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_deployment_and_a_headless_service(rendered, name):
    module, grpc_port, metrics_port = SERVICES[name]
    deployment = rendered.get("Deployment", f"{RELEASE}-{name}")
    service = rendered.get("Service", f"{RELEASE}-{name}")
    assert service["spec"]["clusterIP"] == "None"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == name

    found = container(rendered, name)
    assert found["command"] == ["python3", "-m", module]
    assert found["image"].startswith(f"attune/{name}")
    container_ports = {p["name"]: p["containerPort"] for p in found["ports"]}
    service_ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert container_ports == service_ports == {"grpc": grpc_port, "metrics": metrics_port}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert found[probe]["grpc"] == {"port": grpc_port}, probe
    assert found["resources"]["requests"]["memory"] and found["resources"]["limits"]["memory"]

    prefix = f"ATTUNE_{name.upper()}_"
    assert {"configMapRef": {"name": f"{RELEASE}-{name}-env"}} in found["envFrom"]
    env = service_env(rendered, name)
    assert env[f"{prefix}HOST"] == "0.0.0.0"
    assert env[f"{prefix}PORT"] == str(grpc_port)
    assert env[f"{prefix}METRICS_PORT"] == str(metrics_port)
    assert env["ATTUNE_DATA_DIR"] == "/data"
    assert {"name": "data", "mountPath": "/data"} in found["volumeMounts"]


@pytest.mark.parametrize("caller", sorted(PEERS))
def test_peer_targets_name_the_peers_headless_services(rendered, caller):
    env = service_env(rendered, caller)
    for peer in PEERS[caller]:
        host, _, port = env[f"ATTUNE_{peer.upper()}_TARGET"].rpartition(":")
        service = rendered.get("Service", host)
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == peer
        (grpc,) = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
        assert int(port) == grpc["port"] == SERVICES[peer][1]


def test_peer_targets_follow_the_release_name(chart):
    # fullname is <release>-attune unless the release name contains "attune".
    rendered = render(chart, release="prod")
    env = service_env(rendered, "retrieval", release="prod-attune")
    assert env["ATTUNE_MODEL_TARGET"] == "prod-attune-model:50051"
    assert env["ATTUNE_USERVEC_TARGET"] == "prod-attune-uservec:50054"
    assert service_env(rendered, "extractor", release="prod-attune")["ATTUNE_MODEL_TARGET"] == "prod-attune-model:50051"
    rendered.get("Service", "prod-attune-uservec")


def test_a_disabled_peer_leaves_its_target_empty(chart):
    # Empty ATTUNE_USERVEC_TARGET: retrieval runs without user vectors.
    rendered = render(chart, {"services": {"uservec": {"enabled": False}}})
    assert rendered.find("Deployment", f"{RELEASE}-uservec") is None
    assert rendered.find("PersistentVolumeClaim", f"{RELEASE}-uservec-data") is None
    env = service_env(rendered, "retrieval")
    assert env["ATTUNE_USERVEC_TARGET"] == ""
    assert env["ATTUNE_MODEL_TARGET"] == f"{MODEL}:50051"
