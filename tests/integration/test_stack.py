"""`attune up` / `chat` / `down` as a user runs them: real processes on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from attune.orchestrator.stack import LocalStack
from attune.services.common import registry
from attune.services.common.net import free_port
from attune.services.common.settings import SettingsError
from attune.services.model.client import ModelClient, chat_request
from tests.fixtures.stack import fresh_stack_specs


@pytest.fixture()
def stack(data_dir, tmp_path, monkeypatch):
    """A LocalStack on free ports whose run/ and logs/ are private to this test."""
    monkeypatch.setenv("ATTUNE_DATA_DIR", str(data_dir))
    spec = dataclasses.replace(registry.get("model"), port=free_port(), metrics_port=free_port())
    local = LocalStack(tmp_path, [spec])
    yield local, spec
    local.down(timeout_s=5)


async def test_up_chat_and_graceful_down(processes, stack, tmp_path, monkeypatch):
    local, spec = stack
    # The service runs under the Python ATTUNE_MODEL_PYTHON names (as `make up` runs it from .venv-vllm).
    called = tmp_path / "called-with"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$@" > {called}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv(spec.python_env, str(wrapper))
    states = await local.up(timeout_s=180)
    assert [s.health for s in states] == ["SERVING"]
    assert called.read_text().split() == ["-m", "attune.services", "model"]
    assert local.start(spec) == states[0].pid, "a second up reuses the running service"

    async with ModelClient(spec.default_target) as client:
        reply = await client.chat(chat_request("Say hi.", max_tokens=8))
    assert reply.usage.completion_tokens > 0

    cli = subprocess.run([sys.executable, "-m", "attune.orchestrator.cli", "chat", "--target", spec.default_target,
                          "-m", "What is the capital of France?", "--max-tokens", "24"],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert cli.returncode == 0, cli.stderr
    assert "Paris" in cli.stdout
    assert "completion tokens" in cli.stderr

    import urllib.request
    exposition = urllib.request.urlopen(f"http://127.0.0.1:{spec.metrics_port}/metrics", timeout=5).read().decode()
    assert 'attune_model_tokens_total{caller_role="agent",kind="completion",method="vanilla"' in exposition

    assert local.down(timeout_s=30) == ["model"]
    assert (await local.status())[0].health == "STOPPED"
    events = [json.loads(line).get("event") for line in states[0].log.read_text().splitlines()
              if line.startswith("{")]
    assert "server_stopped" in events, "SIGTERM must stop the server gracefully"


async def test_personalized_chat_remembers_across_sessions(processes, data_dir, tmp_path, monkeypatch):
    """`attune up` with every service, then two `attune chat --personalized` sessions of one user."""
    env_data = tmp_path / "data"
    # The converted model is reused; stores (cards, user vectors) are fresh for this test.
    specs = fresh_stack_specs(env_data, data_dir, monkeypatch)
    local = LocalStack(env_data, specs)
    try:
        states = await local.up(timeout_s=300)
        assert [s.health for s in states] == ["SERVING"] * len(specs)

        def chat(text: str) -> subprocess.CompletedProcess:
            command = [sys.executable, "-m", "attune.orchestrator.cli", "chat", "--personalized", "--user", "alice",
                       "-m", text, "--max-tokens", "24"]
            return subprocess.run(command, capture_output=True, text=True, timeout=300)

        first = chat("I prefer short answers with bullet points.")
        assert first.returncode == 0, first.stderr
        assert "remembered: I prefer short answers with bullet points" in first.stderr
        second = chat("Give me tips for short answers about plants.")
        assert second.returncode == 0, second.stderr
        assert "used: I prefer short answers with bullet points" in second.stderr
    finally:
        local.down(timeout_s=30)


def test_a_python_that_is_not_there_is_refused_by_name(stack, tmp_path, monkeypatch):
    local, spec = stack
    monkeypatch.setenv(spec.python_env, str(tmp_path / "no-such-python"))
    with pytest.raises(SettingsError, match="ATTUNE_MODEL_PYTHON="):
        local.start(spec)
    assert local.down() == []


def test_cli_reports_a_service_that_is_not_there(processes):
    cli = subprocess.run([sys.executable, "-m", "attune.orchestrator.cli", "chat",
                          "--target", f"127.0.0.1:{free_port()}", "-m", "hi", "--connect-timeout", "1"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2
    assert "not SERVING" in cli.stderr


def test_bad_setting_fails_at_start_naming_the_variable(processes, data_dir):
    env = dict(os.environ, ATTUNE_MODEL_MAX_BATCH="many", ATTUNE_DATA_DIR=str(data_dir))
    proc = subprocess.run([sys.executable, "-m", "attune.services.model"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode != 0
    assert "ATTUNE_MODEL_MAX_BATCH='many'" in proc.stderr
