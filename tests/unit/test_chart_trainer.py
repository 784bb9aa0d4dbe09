"""The Helm chart's (charts/attune) trainer: the service (CPU or GPU), the adapter folder it shares with the model
service, and the trainer Job."""

from __future__ import annotations

from typing import Any

import pytest
from helm_python.errors import HelmRenderError

from tests.fixtures.chart import (
    ADAPTER_DIR,
    AUTH_SECRET,
    GPU,
    GPU_VALUES,
    JOB_ADAPTER,
    JOB_SPEC,
    SHARED_CLAIM,
    TRAINER,
    TRAINER_JOB,
    auth_env,
    container,
    data_claim,
    merged,
    pod_spec,
    render,
    service_env,
)

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
