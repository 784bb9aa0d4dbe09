"""Session-wide fixtures: the real SmolLM2 model is loaded once and shared.

The data folder (``data_dir``) comes from tests/fixtures/data.py, the other services'
fixtures from tests/fixtures, all through ``pytest_plugins``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attune.services.common.launch import serve_core
from attune.services.common.logging import setup_logging
from attune.services.common.server import ServiceServer
from attune.services.model.client import ModelClient
from attune.services.model.core import ModelService
from attune.services.model.settings import ModelSettings

pytest_plugins = [
    "tests.fixtures.tiers",
    "tests.fixtures.data",
    "tests.fixtures.retrieval",
    "tests.fixtures.uservec",
    "tests.fixtures.trainer",
    "tests.fixtures.echo",
    "tests.fixtures.wheel",
    "tests.fixtures.chart",
]

TOKEN = "test-token"
# The judge's JSON puts its decision first: 40 tokens hold it and the start of the reason, which keeps
# judged runs in the tests short on two cores (the default, 96, leaves room for the whole reason).
os.environ.setdefault("ATTUNE_JUDGE_MAX_TOKENS", "40")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker's torch gets its share of the cores: two workers that each
    spread the model over every core run slower together than one after the other."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(scope="session")
def adapter_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("adapters")


@pytest.fixture(scope="session")
async def model_core(data_dir, adapter_dir) -> ModelService:
    setup_logging("tests", "warning", json=True)
    # Static batching: test_model_service checks its batches call by call; test_continuous_batching runs a
    # continuous twin over the same loaded model, and services started as processes batch continuously (the default).
    core = ModelService(ModelSettings(adapter_dir=adapter_dir, max_batch=8, batch_window_ms=20, batching="static"),
                        data_dir)
    await core.start()
    yield core
    await core.close()


async def start_server(core, *, token: str = "", ready: bool = True, **settings) -> ServiceServer:
    """The model service around ``core`` on a free port of 127.0.0.1."""
    return await serve_core("model", core, token=token, ready=ready, **settings)


@pytest.fixture(scope="session")
async def model_server(model_core) -> ServiceServer:
    """The real model service on 127.0.0.1, sharing the loaded model, with auth on."""
    server = await start_server(model_core, token=TOKEN, max_message_bytes=64 * 1024)
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def model_client(model_server) -> ModelClient:
    client = ModelClient(model_server.address, token=TOKEN)
    yield client
    await client.close()
