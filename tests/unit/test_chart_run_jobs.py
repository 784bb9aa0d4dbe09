"""The Helm chart's (charts/attune) run Jobs: a sharded run as an Indexed Job (``runJob``), and the Job the
orchestrator creates from the chart's template (``orchestratorJobs``)."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from helm_python.errors import HelmRenderError

from tests.fixtures.chart import (
    AUTH_SECRET,
    CUSTOM_KINDS,
    KUBERNETES_VERSION,
    ORCHESTRATOR,
    ORCHESTRATOR_JOBS,
    RELEASE,
    REVISION,
    RUN_VALUES,
    SERVICES,
    Rendered,
    container,
    pod_spec,
    render,
)


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
