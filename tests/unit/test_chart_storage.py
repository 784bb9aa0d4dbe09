"""The Helm chart's (charts/attune) volumes: single writers on a volume of their own in one pod, retrieval on its
edge shard or on a Qdrant server, and pods without persistence."""

from __future__ import annotations

import base64
import json

import pytest
from helm_python.errors import HelmRenderError

from tests.fixtures.chart import (
    QDRANT_KEY,
    QDRANT_SECRET,
    QDRANT_URL,
    QDRANT_VALUES,
    RELEASE,
    SERVICES,
    SHARED_CLAIM,
    SINGLE_WRITERS,
    STATEFUL,
    TRAINER,
    container,
    data_claim,
    render,
    service_env,
)


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
