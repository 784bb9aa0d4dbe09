"""The Helm chart (charts/attune) lints and renders to the objects the services expect.

Helm runs in-process through its Go library (the ``helm-python-sdk`` dev
dependency): no ``helm`` binary, cluster or network. Each render is the
equivalent of ``helm template attune charts/attune -n attune [-f ...]
[--api-versions ...]`` and takes milliseconds; the two main renders are shared
by the whole module.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python import _native
from helm_python.chart import Chart, lint
from helm_python.errors import HelmRenderError, HelmValuesError

from attune.services.common import registry

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "attune"

RELEASE = "attune"
NAMESPACE = "attune"
REVISION = 3
MONITORING_API = "monitoring.coreos.com/v1"
TOKEN = "chart-test-token"

MODEL = f"{RELEASE}-model"
MODEL_ENV = f"{MODEL}-env"
TRAINER = f"{RELEASE}-trainer"
AUTH_SECRET = f"{RELEASE}-auth"
TRAINER_JOB = f"{RELEASE}-trainer-{REVISION}"
GPU = "nvidia.com/gpu"
SHARED_CLAIM = f"{RELEASE}-data"
# Where the trainer publishes adapters and the model reads them, on the shared volume.
ADAPTER_DIR = "/data/adapters"

# Every service of the chart, from the registry: module, gRPC port, metrics port.
SERVICES = {d.name: (d.module, d.port, d.metrics_port) for d in registry.services()}
# Who calls whom: ATTUNE_<PEER>_TARGET in the caller's environment.
PEERS = {d.name: [*d.peers, *d.optional_peers] for d in registry.services() if d.peers or d.optional_peers}
# Single-writer state on a ReadWriteOnce volume of their own (retrieval: edge backend).
STATEFUL = ["retrieval", "uservec"]
# One replica and Recreate: the above, and the trainer (job records and job processes
# owned by one pod), which stays on the shared volume beside the adapters.
SINGLE_WRITERS = [*STATEFUL, "trainer"]

QDRANT_URL = "http://qdrant.qdrant.svc.cluster.local:6333"
QDRANT_KEY = "chart-test-qdrant-key"
QDRANT_SECRET = f"{RELEASE}-qdrant"
# retrieval on a Qdrant server, scaled out.
QDRANT_VALUES: dict[str, Any] = {
    "qdrant": {"url": QDRANT_URL, "apiKey": QDRANT_KEY},
    "services": {"retrieval": {"replicas": 3}},
}

# Everything optional switched on: the model on a GPU node with vLLM, the trainer
# on a GPU node, a shared token, the ServiceMonitor and a trainer Job.
JOB_SPEC = "/data/specs/alice.json"
JOB_ADAPTER = "alice-lora"
GPU_VALUES: dict[str, Any] = {
    "services": {"model": {"gpu": {"enabled": True}}, "trainer": {"gpu": {"enabled": True}}},
    "auth": {"token": TOKEN},
    "serviceMonitor": {"enabled": True},
    "trainer": {"job": {"enabled": True, "spec": JOB_SPEC, "adapterName": JOB_ADAPTER}},
}


class Rendered:
    """One ``helm template`` result: the manifests parsed, and NOTES.txt as text."""

    def __init__(self, files: dict[str, str]):
        self.files = files
        self.notes = files.get("attune/templates/NOTES.txt", "")
        self.objects: list[dict[str, Any]] = []
        for path, text in sorted(files.items()):
            if path.endswith("NOTES.txt"):
                continue
            self.objects.extend(doc for doc in yaml.safe_load_all(text) if doc)

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [o for o in self.all(kind) if o["metadata"]["name"] == name]
        assert len(found) <= 1, f"{len(found)} {kind} objects named {name}"
        return found[0] if found else None

    def get(self, kind: str, name: str) -> dict[str, Any]:
        obj = self.find(kind, name)
        present = sorted((o["kind"], o["metadata"]["name"]) for o in self.objects)
        assert obj is not None, f"no {kind} {name} in {present}"
        return obj


def render(
    chart: Chart, values: dict[str, Any] | None = None, api_versions: list[str] | None = None, release: str = RELEASE
) -> Rendered:
    """``helm template`` offline.

    ``Chart.render`` has no ``api_versions`` parameter, so this calls the
    library function it wraps with the same options plus ``api_versions``
    (``--api-versions``). The library refuses unknown option keys, so a
    renamed option fails here loudly instead of silently dropping the API.
    """
    opts: dict[str, Any] = {"name": release, "namespace": NAMESPACE, "revision": REVISION, "is_install": True}
    if api_versions:
        opts["api_versions"] = api_versions
    payload = None if values is None else json.dumps(values)
    return Rendered(json.loads(_native.call_string("helm_render", chart._raw(), payload, json.dumps(opts))))


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of values layers, later ones winning (like repeated ``-f``)."""
    out: dict[str, Any] = {}

    def merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = copy.deepcopy(value)

    for layer in layers:
        merge(out, layer)
    return out


@pytest.fixture(scope="module")
def chart():
    loaded = Chart.load(CHART)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def default(chart) -> Rendered:
    return render(chart)


@pytest.fixture(scope="module")
def gpu(chart) -> Rendered:
    return render(chart, GPU_VALUES, [MONITORING_API])


@pytest.fixture(params=["default", "gpu"])
def rendered(request) -> Rendered:
    """Both main renders, for what must hold in either mode."""
    return request.getfixturevalue(request.param)


def container(rendered: Rendered, name: str, release: str = RELEASE) -> dict[str, Any]:
    containers = rendered.get("Deployment", f"{release}-{name}")["spec"]["template"]["spec"]["containers"]
    (found,) = [c for c in containers if c["name"] == name]
    return found


def model_container(rendered: Rendered) -> dict[str, Any]:
    return container(rendered, "model")


def service_env(rendered: Rendered, name: str, release: str = RELEASE) -> dict[str, str]:
    return rendered.get("ConfigMap", f"{release}-{name}-env")["data"]


def pod_spec(rendered: Rendered, name: str) -> dict[str, Any]:
    return rendered.get("Deployment", f"{RELEASE}-{name}")["spec"]["template"]["spec"]


def data_claim(rendered: Rendered, name: str) -> str | None:
    """The claim behind a service's `data` volume (None: an emptyDir)."""
    (volume,) = [v for v in pod_spec(rendered, name)["volumes"] if v["name"] == "data"]
    return volume.get("persistentVolumeClaim", {}).get("claimName")


def grpc_service_port(rendered: Rendered) -> int:
    (port,) = [p for p in rendered.get("Service", MODEL)["spec"]["ports"] if p["name"] == "grpc"]
    return port["port"]


# --- lint -------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, GPU_VALUES, QDRANT_VALUES], ids=["default", "gpu", "qdrant"])
def test_lint_strict_has_no_errors(values):
    report = lint(CHART, values, strict=True, namespace=NAMESPACE)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # strict: warnings (severity 2) count as failures too; info (e.g. "icon is recommended") does not.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


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


def test_single_writer_services_get_their_own_volume_and_one_pod(rendered):
    for name in STATEFUL:
        claim = rendered.get("PersistentVolumeClaim", f"{RELEASE}-{name}-data")
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert data_claim(rendered, name) == f"{RELEASE}-{name}-data"
        deployment = rendered.get("Deployment", f"{RELEASE}-{name}")
        assert deployment["spec"]["replicas"] == 1
        # Never two pods on the store: the old one stops before the new one starts.
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    for name in ("model", "extractor"):
        assert data_claim(rendered, name) == SHARED_CLAIM
        assert rendered.get("Deployment", f"{RELEASE}-{name}")["spec"]["strategy"]["type"] == "RollingUpdate"
    # The trainer: one pod and Recreate too, but on the shared volume (the model reads its adapters).
    assert rendered.find("PersistentVolumeClaim", f"{TRAINER}-data") is None
    assert data_claim(rendered, "trainer") == SHARED_CLAIM
    trainer = rendered.get("Deployment", TRAINER)
    assert trainer["spec"]["replicas"] == 1
    assert trainer["spec"]["strategy"] == {"type": "Recreate"}


def test_retrieval_uses_the_edge_backend_by_default(default):
    env = service_env(default, "retrieval")
    assert env["ATTUNE_RETRIEVAL_BACKEND"] == "edge"
    assert env["ATTUNE_QDRANT_URL"] == ""
    assert "ATTUNE_QDRANT_API_KEY" not in {e["name"] for e in container(default, "retrieval").get("env", [])}
    assert "edge shard" in default.notes


def test_qdrant_url_moves_retrieval_to_the_server_and_lets_it_scale(chart):
    rendered = render(chart, QDRANT_VALUES)
    env = service_env(rendered, "retrieval")
    assert env["ATTUNE_RETRIEVAL_BACKEND"] == "qdrant"
    assert env["ATTUNE_QDRANT_URL"] == QDRANT_URL
    assert rendered.find("PersistentVolumeClaim", f"{RELEASE}-retrieval-data") is None
    assert data_claim(rendered, "retrieval") == SHARED_CLAIM
    deployment = rendered.get("Deployment", f"{RELEASE}-retrieval")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    # The API key comes from a Secret, never from the ConfigMap.
    assert QDRANT_KEY not in json.dumps(env)
    secret = rendered.get("Secret", QDRANT_SECRET)
    assert base64.b64decode(secret["data"]["ATTUNE_QDRANT_API_KEY"]).decode() == QDRANT_KEY
    (key_env,) = [e for e in container(rendered, "retrieval")["env"] if e["name"] == "ATTUNE_QDRANT_API_KEY"]
    assert key_env["valueFrom"]["secretKeyRef"] == {"name": QDRANT_SECRET, "key": "ATTUNE_QDRANT_API_KEY"}
    assert "checksum/secrets" in deployment["spec"]["template"]["metadata"]["annotations"]
    assert QDRANT_URL in rendered.notes
    # uservec keeps its own volume and single pod whatever retrieval does.
    assert data_claim(rendered, "uservec") == f"{RELEASE}-uservec-data"


def test_qdrant_existing_secret_is_referenced_and_not_created(chart):
    rendered = render(chart, {"qdrant": {"url": QDRANT_URL, "existingSecret": "qdrant-key", "secretKey": "api-key"}})
    assert rendered.all("Secret") == []
    (key_env,) = [e for e in container(rendered, "retrieval")["env"] if e["name"] == "ATTUNE_QDRANT_API_KEY"]
    assert key_env["valueFrom"]["secretKeyRef"] == {"name": "qdrant-key", "key": "api-key"}


@pytest.mark.parametrize("name", SINGLE_WRITERS)
def test_single_writer_services_refuse_more_replicas(chart, name):
    with pytest.raises(HelmRenderError, match=rf"services\.{name}\.replicas is 2"):
        render(chart, {"services": {name: {"replicas": 2}}})


def test_trainer_refusal_names_its_reason(chart):
    with pytest.raises(HelmRenderError, match=r"services\.trainer\.singleWriter.*job records"):
        render(chart, {"services": {"trainer": {"replicas": 3}}})


def test_without_persistence_every_pod_gets_an_empty_dir(chart):
    rendered = render(chart, {"persistence": {"enabled": False}})
    assert rendered.all("PersistentVolumeClaim") == []
    for name in SERVICES:
        assert data_claim(rendered, name) is None
    # Adapters no longer reach the model: NOTES says so.
    assert "never sees the adapters" in rendered.notes


# --- auth ---------------------------------------------------------------------


def auth_env(container: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in container.get("env", []) if e["name"] == "ATTUNE_AUTH_TOKEN"]


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


# --- the trainer service and the adapter folder ---------------------------------


def test_model_reads_adapters_where_the_trainer_publishes_them(rendered):
    model_env, trainer_env = service_env(rendered, "model"), service_env(rendered, "trainer")
    assert model_env["ATTUNE_MODEL_ADAPTER_DIR"] == trainer_env["ATTUNE_TRAINER_ADAPTER_DIR"] == ADAPTER_DIR
    # ... on the same volume, mounted at the same path in both pods.
    assert data_claim(rendered, "model") == data_claim(rendered, "trainer") == SHARED_CLAIM
    for name in ("model", "trainer"):
        assert {"name": "data", "mountPath": "/data"} in container(rendered, name)["volumeMounts"]
    assert ADAPTER_DIR in rendered.notes


def test_adapter_folder_follows_the_mount_path(chart):
    rendered = render(chart, {"persistence": {"mountPath": "/srv/attune"}})
    assert service_env(rendered, "model")["ATTUNE_MODEL_ADAPTER_DIR"] == "/srv/attune/adapters"
    assert service_env(rendered, "trainer")["ATTUNE_TRAINER_ADAPTER_DIR"] == "/srv/attune/adapters"
    assert service_env(rendered, "trainer")["ATTUNE_DATA_DIR"] == "/srv/attune"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"services": {"model": {"env": {"ATTUNE_MODEL_ADAPTER_DIR": "/data/other"}}}}, "differ"),
        ({"services": {"trainer": {"env": {"ATTUNE_TRAINER_ADAPTER_DIR": "/data/other"}}}}, "differ"),
        # The GPU env is merged over the service's: it cannot move the folder either.
        (
            {"services": {"model": {"gpu": {"enabled": True, "env": {"ATTUNE_MODEL_ADAPTER_DIR": "/x"}}}}},
            r"services\.model\.env\.ATTUNE_MODEL_ADAPTER_DIR is \"/x\"",
        ),
        (
            {
                "services": {
                    "model": {"env": {"ATTUNE_MODEL_ADAPTER_DIR": "/tmp/adapters"}},
                    "trainer": {"env": {"ATTUNE_TRAINER_ADAPTER_DIR": "/tmp/adapters"}},
                }
            },
            "shared data volume",
        ),
        ({"services": {"trainer": {"state": {"enabled": True}}}}, r"services\.trainer\.state is enabled"),
    ],
    ids=["model-elsewhere", "trainer-elsewhere", "gpu-env", "off-the-volume", "trainer-own-volume"],
)
def test_adapter_folders_that_would_not_meet_fail_the_render(chart, values, message):
    with pytest.raises(HelmRenderError, match=message):
        render(chart, values)


def test_model_without_trainer_keeps_its_adapter_folder(chart):
    rendered = render(chart, {"services": {"trainer": {"enabled": False}}})
    assert rendered.find("Deployment", TRAINER) is None and rendered.find("Service", TRAINER) is None
    assert service_env(rendered, "model")["ATTUNE_MODEL_ADAPTER_DIR"] == ADAPTER_DIR


def test_trainer_is_on_cpu_by_default(default):
    found = container(default, "trainer")
    assert found["image"] == "attune/trainer:0.1.0"
    assert GPU not in found["resources"]["requests"] and GPU not in found["resources"]["limits"]
    assert "nodeSelector" not in pod_spec(default, "trainer")


def test_trainer_on_a_gpu_node(gpu):
    found = container(gpu, "trainer")
    assert found["image"] == "attune/trainer-gpu:0.1.0"
    assert found["resources"]["requests"][GPU] == found["resources"]["limits"][GPU] == 1
    pod = pod_spec(gpu, "trainer")
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in found["volumeMounts"]
    # Still one pod, replaced (never rolled), on the shared volume.
    assert gpu.get("Deployment", TRAINER)["spec"]["strategy"] == {"type": "Recreate"}
    assert data_claim(gpu, "trainer") == SHARED_CLAIM
    assert service_env(gpu, "trainer")["ATTUNE_TRAINER_ADAPTER_DIR"] == ADAPTER_DIR


# --- trainer Job ----------------------------------------------------------------


def job_env(job: dict[str, Any]) -> dict[str, str]:
    (found,) = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in found["env"] if "value" in e}


def test_trainer_job_only_when_enabled(default, gpu):
    assert default.all("Job") == []
    job = gpu.get("Job", TRAINER_JOB)
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    # One training run (not the trainer service), published by one rename when complete.
    assert container["command"][:2] == ["/bin/sh", "-ec"]
    script = container["command"][2]
    assert 'python3 -m "$ATTUNE_JOB_MODULE" --spec "$ATTUNE_JOB_SPEC" --out "$stage"' in script
    assert 'mv -T "$stage" "$target"' in script
    assert container["resources"]["requests"][GPU] == 1
    assert {"name": "ATTUNE_DATA_DIR", "value": "/data"} in container["env"]
    env = job_env(job)
    assert env["ATTUNE_JOB_MODULE"] == "attune.services.trainer.jobs.run"
    assert env["ATTUNE_JOB_SPEC"] == JOB_SPEC
    assert env["ATTUNE_JOB_ADAPTER_NAME"] == JOB_ADAPTER
    # The same folder the model service reads.
    assert env["ATTUNE_JOB_ADAPTER_DIR"] == service_env(gpu, "model")["ATTUNE_MODEL_ADAPTER_DIR"] == ADAPTER_DIR
    (env,) = auth_env(container)
    assert env["valueFrom"]["secretKeyRef"]["name"] == AUTH_SECRET
    (claim,) = [v for v in pod["volumes"] if v["name"] == "data"]
    assert claim["persistentVolumeClaim"]["claimName"] == SHARED_CLAIM


def test_trainer_job_pods_are_not_behind_the_trainer_service(gpu):
    job_labels = gpu.get("Job", TRAINER_JOB)["spec"]["template"]["metadata"]["labels"]
    selector = gpu.get("Service", TRAINER)["spec"]["selector"]
    assert not selector.items() <= job_labels.items()
    assert job_labels["app.kubernetes.io/component"] == "trainer-job"


def test_trainer_job_passes_extra_arguments(chart):
    values = merged(GPU_VALUES, {"trainer": {"job": {"args": ["--threads", "8"]}}})
    (found,) = render(chart, values).get("Job", TRAINER_JOB)["spec"]["template"]["spec"]["containers"]
    assert found["args"] == ["--threads", "8"]
    assert '"$@"' in found["command"][2]


@pytest.mark.parametrize("missing", ["spec", "adapterName"])
def test_trainer_job_needs_a_spec_and_an_adapter_name(chart, missing):
    values = merged(GPU_VALUES, {"trainer": {"job": {missing: ""}}})
    with pytest.raises(HelmRenderError, match=rf"trainer\.job\.{missing} is empty"):
        render(chart, values)


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


# Custom resources have no schema among Kubernetes' own; everything else is validated.
CUSTOM_KINDS = {"ServiceMonitor"}
KUBERNETES_VERSION = "1.33.0"


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


RUN_VALUES: dict[str, Any] = {"runJob": {"enabled": True, "name": "full-1", "experiment": "/data/experiments/full.yaml",
                                         "shards": 6, "parallelism": 3}}


def test_a_sharded_run_is_an_indexed_job_over_the_services(chart):
    rendered = render(chart, RUN_VALUES)
    job = rendered.get("Job", f"{RELEASE}-run-job-{REVISION}")
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 6, 3)
    (shard,) = spec["template"]["spec"]["containers"]
    assert shard["command"][-3:] == ["-m", "attune.orchestrator.cli", "run"]
    args = shard["args"]
    assert args[0] == "/data/experiments/full.yaml" and args[args.index("--shards") + 1] == "6"
    assert args[args.index("--output-dir") + 1] == "/data/runs/full-1" and "grpc" in args
    env = {e["name"]: e.get("value") for e in shard["env"]}
    for name in ("model", "extractor", "retrieval", "uservec", "judge", "trainer"):
        assert env[f"ATTUNE_{name.upper()}_TARGET"] == f"{RELEASE}-{name}:{SERVICES[name][1]}"
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    with pytest.raises(HelmRenderError, match="runJob.experiment is empty"):
        render(chart, {"runJob": {"enabled": True, "name": "x"}})


# --- the orchestrator's run Jobs (orchestratorJobs) ------------------------------------------------------

ORCHESTRATOR = f"{RELEASE}-orchestrator"
ORCHESTRATOR_JOBS = {"orchestratorJobs": {"enabled": True, "shards": 4, "pollIntervalSeconds": 2},
                     "auth": {"token": TOKEN}, "runJob": {"args": ["--concurrency", "16"]}}


@pytest.fixture(scope="module")
def orchestrator_jobs(chart) -> Rendered:
    return render(chart, ORCHESTRATOR_JOBS)


def test_the_job_the_orchestrator_creates_is_the_charts_run_job(orchestrator_jobs):
    """The ConfigMap's template, filled in by the orchestrator's own code, is a valid Indexed Job of the run."""
    from attune.orchestrator.service.launchers import RUN_ID_LABEL, ShardRun, job_body, job_name

    template = yaml.safe_load(orchestrator_jobs.get("ConfigMap", f"{ORCHESTRATOR}-run-job")["data"]["job.yaml"])
    run = ShardRun("Full run.1", Path("/data/runs/Full run.1"), 4)
    name = job_name(run.run_id, "attempt-1")
    job = job_body(template, run, name)
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    spec = job["spec"]
    assert job["metadata"]["name"] == name and re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name)
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    assert spec["template"]["metadata"]["labels"][RUN_ID_LABEL] == "Full-run.1"
    (shard,) = spec["template"]["spec"]["containers"]
    assert shard["args"] == ["/data/runs/Full run.1/experiment.yaml", "--shards", "4", "--output-dir",
                             "/data/runs/Full run.1", "--json-logs", "--transport", "grpc", "--concurrency", "16"]
    env = {e["name"]: e for e in shard["env"]}
    assert env["ATTUNE_MODEL_TARGET"]["value"] == f"{RELEASE}-model:{SERVICES['model'][1]}"
    assert env["ATTUNE_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == AUTH_SECRET
    assert job_name(run.run_id, "attempt-2") != name, "each start of a run is a Job of its own"


def test_the_orchestrator_is_given_its_template_settings_and_a_role_for_jobs(orchestrator_jobs, monkeypatch):
    from attune.orchestrator.service.settings import OrchestratorSettings

    pod = pod_spec(orchestrator_jobs, "orchestrator")
    assert pod["automountServiceAccountToken"] is True
    found = container(orchestrator_jobs, "orchestrator")
    env = {e["name"]: e["value"] for e in found["env"] if "value" in e}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = OrchestratorSettings()
    assert (settings.launcher, settings.shards, settings.poll_interval_s) == ("kubernetes", 4, 2.0)
    (mount,) = [m for m in found["volumeMounts"] if m["name"] == "run-job"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "run-job"]
    assert str(settings.job_template) == f"{mount['mountPath']}/job.yaml"
    assert volume["configMap"]["name"] == f"{ORCHESTRATOR}-run-job"
    (rule,) = orchestrator_jobs.get("Role", f"{ORCHESTRATOR}-jobs")["rules"]
    assert rule["apiGroups"] == ["batch"] and {"create", "get", "delete"} <= set(rule["verbs"])
    binding = orchestrator_jobs.get("RoleBinding", f"{ORCHESTRATOR}-jobs")
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
    for obj in orchestrator_jobs.objects:
        if obj["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_without_orchestrator_jobs_it_gets_no_role_and_no_token(default):
    assert default.all("Role") == [] and default.all("RoleBinding") == []
    assert "automountServiceAccountToken" not in pod_spec(default, "orchestrator")
    assert "env" not in container(default, "orchestrator") or not any(
        e["name"].startswith("ATTUNE_ORCHESTRATOR_") for e in container(default, "orchestrator")["env"])


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
