"""compose.yaml, the chart's values.yaml and prometheus.yml agree with the service registry.

The three files stay hand-readable; the registry (services/common/registry.py) is
the one place that says which services exist, their ports and their peers.
``drift`` lists every disagreement; the tests check that the shipped files have
none, that a port or name changed in one file only is caught, and that a newly
registered service is reported missing from all three until it is added.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from attune.services.common import registry
from attune.services.common.registry import ServiceDescription

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "attune"


def load_files() -> dict:
    return {"compose": yaml.safe_load((ROOT / "compose.yaml").read_text()),
            "values": yaml.safe_load((CHART / "values.yaml").read_text()),
            "prometheus": yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())}


def compose_drift(desc: ServiceDescription, compose: dict) -> list[str]:
    service = compose["services"].get(desc.name)
    if service is None:
        return [f"compose.yaml: no service {desc.name}"]
    where = f"compose.yaml: {desc.name}"
    problems = []
    build, env = service.get("build", {}), service.get("environment", {})
    if build.get("dockerfile") != "Dockerfile" or build.get("args", {}).get("SERVICE") != desc.name:
        problems.append(f"{where}: not built from the one Dockerfile with SERVICE={desc.name}")
    expected_env = {f"{desc.env_prefix}HOST": "0.0.0.0", f"{desc.env_prefix}PORT": str(desc.port),
                    f"{desc.env_prefix}METRICS_PORT": str(desc.metrics_port)}
    problems += [f"{where}: {k}={env.get(k)!r}, registry says {v!r}"
                 for k, v in expected_env.items() if env.get(k) != v]
    published = {f"127.0.0.1:{p}:{p}" for p in (desc.port, desc.metrics_port)}
    if set(service.get("ports", [])) != published:
        problems.append(f"{where}: ports {service.get('ports')} are not {sorted(published)}")
    if f"127.0.0.1:{desc.port}" not in service.get("healthcheck", {}).get("test", []):
        problems.append(f"{where}: the health check does not probe port {desc.port}")
    for peer in (*desc.peers, *desc.optional_peers):
        peer_desc = registry.get(peer)
        if env.get(peer_desc.target_env) != f"{peer}:{peer_desc.port}":
            problems.append(f"{where}: {peer_desc.target_env}={env.get(peer_desc.target_env)!r}, "
                            f"expected {peer}:{peer_desc.port}")
        if service.get("depends_on", {}).get(peer) != {"condition": "service_healthy"}:
            problems.append(f"{where}: does not wait for {peer} to be healthy")
    return problems


def values_drift(desc: ServiceDescription, values: dict) -> list[str]:
    svc = values["services"].get(desc.name)
    if svc is None:
        return [f"values.yaml: no services.{desc.name}"]
    expected = {"module": desc.module, "envPrefix": desc.env_prefix, "port": desc.port,
                "metricsPort": desc.metrics_port}
    return [f"values.yaml: services.{desc.name}.{k}={svc.get(k)!r}, registry says {v!r}"
            for k, v in expected.items() if svc.get(k) != v]


def prometheus_targets(prometheus: dict) -> set[str]:
    return {t for job in prometheus["scrape_configs"] if job["job_name"] == "attune"
            for sc in job["static_configs"] for t in sc["targets"]}


def drift(files: dict) -> list[str]:
    """Every way the three files disagree with the registry (empty: none)."""
    described = registry.services()
    names = {d.name for d in described}
    problems = []
    for desc in described:
        problems += compose_drift(desc, files["compose"]) + values_drift(desc, files["values"])
    built = {n for n, s in files["compose"]["services"].items() if "SERVICE" in s.get("build", {}).get("args", {})}
    problems += [f"compose.yaml: {n} is not a registered service" for n in sorted(built - names)]
    problems += [f"values.yaml: services.{n} is not a registered service"
                 for n in sorted(set(files["values"]["services"]) - names)]
    expected = {f"{d.name}:{d.metrics_port}" for d in described}
    targets = prometheus_targets(files["prometheus"])
    problems += [f"prometheus.yml: target {t} missing" for t in sorted(expected - targets)]
    problems += [f"prometheus.yml: target {t} is no registered service's" for t in sorted(targets - expected)]
    return problems


def test_deployment_files_agree_with_the_registry():
    assert drift(load_files()) == []


def test_settings_classes_default_to_the_registered_port():
    for desc in registry.services():
        settings = desc.settings_class()
        assert settings.model_config["env_prefix"] == desc.env_prefix, desc.name
        assert settings.model_fields["port"].default == desc.port, desc.name


def _set_compose_port(files, name, port):
    files["compose"]["services"][name]["environment"][f"ATTUNE_{name.upper()}_PORT"] = str(port)


def _set_values_port(files, name, port):
    files["values"]["services"][name]["port"] = port


def _rename_prometheus_target(files, name, port):
    for job in files["prometheus"]["scrape_configs"]:
        for sc in job.get("static_configs", []):
            sc["targets"] = [re.sub(rf"^{name}:\d+$", f"{name}:{port}", t) for t in sc["targets"]]


@pytest.mark.parametrize("edit", [_set_compose_port, _set_values_port, _rename_prometheus_target],
                         ids=["compose", "values", "prometheus"])
def test_a_port_changed_in_one_file_only_is_caught(edit):
    files = copy.deepcopy(load_files())
    edit(files, "uservec", 59999)
    problems = drift(files)
    assert problems and all("uservec" in p for p in problems), problems


def test_a_renamed_service_is_caught():
    files = copy.deepcopy(load_files())
    files["values"]["services"]["vectors"] = files["values"]["services"].pop("uservec")
    problems = drift(files)
    assert "values.yaml: no services.uservec" in problems
    assert "values.yaml: services.vectors is not a registered service" in problems


def test_a_new_service_is_missing_everywhere_until_added(throwaway_service):
    problems = drift(load_files())
    name = throwaway_service.name
    assert f"compose.yaml: no service {name}" in problems
    assert f"values.yaml: no services.{name}" in problems
    assert f"prometheus.yml: target {name}:{throwaway_service.metrics_port} missing" in problems
