"""compose.yaml against the Compose Specification's JSON schema (offline: the copy check-jsonschema ships as
its builtin ``vendor.compose-spec``). Which services it runs is test_deploy_drift's job (the registry)."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"
SCHEMA = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "Compose Specification"
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def problems(validator: Draft202012Validator, doc: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_compose_yaml_follows_the_compose_specification(validator, compose):
    assert problems(validator, compose) == []
    assert len(compose["services"]) >= 7


@pytest.mark.parametrize(("edit", "where"), [
    (lambda c: c["services"]["model"].update(restart_policy="always"), "services.model"),
    (lambda c: c["services"]["uservec"].update(ports=[{"targett": 50054}]), "services.uservec.ports.0"),
    (lambda c: c["services"]["retrieval"]["healthcheck"].update(intervall="15s"), "services.retrieval.healthcheck"),
    (lambda c: c.update(volume={}), ""),
], ids=["unknown-service-key", "unknown-port-key", "misspelt-healthcheck-key",
        "unknown-top-level-key"])
def test_the_schema_check_catches_what_compose_would_refuse(validator, compose, edit, where):
    broken = copy.deepcopy(compose)
    edit(broken)
    found = problems(validator, broken)
    assert found and any(p.startswith(f"{where}:") for p in found), found
