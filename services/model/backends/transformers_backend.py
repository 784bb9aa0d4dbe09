"""The embedded CPU backend: a transformers causal LM with continuous or static batching.

``batching=continuous`` (services/model/backends/continuous.py) admits and retires
requests between decoding steps; ``batching=static`` runs the requests that arrived
within a short window as one ``generate`` call. Batched rows are left-padded; each
row stops at its own max_tokens; JSON-schema requests are constrained with xgrammar;
LoRA and prefix adapters load by name from the adapter directory on first use.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from attune.services.common.errors import InvalidArgument, NotFound
from attune.services.common.logging import get_logger
from attune.services.common.metrics import BATCH_SIZE, CANCELLED_ROWS, MODEL_BUSY
from attune.services.model.backends.base import (
    Backend,
    BackendInfo,
    Completion,
    Delta,
    Job,
    adapter_type,
    list_adapters,
)
from attune.services.model.backends.batching import DynamicBatcher
from attune.services.model.backends.continuous import ContinuousBatcher
from attune.services.model.backends.grammar import constrain
from attune.services.model.backends.tokens import count_prompt_tokens, prompt_text
from attune.services.model.settings import ModelSettings
from attune.services.model.weights import resolve_model_dir

log = get_logger(__name__)


class _RowBudget(StoppingCriteria):
    """Stops each row of a batch at its own max_tokens, or as soon as its caller has gone away."""

    def __init__(self, prompt_len: int, budgets: list[int], gone: list[threading.Event]):
        self.prompt_len = prompt_len
        self.budgets = torch.tensor(budgets)
        self.gone = gone
        self.dropped = [False] * len(gone)

    def __call__(self, input_ids, scores, **kwargs):
        done = (input_ids.shape[1] - self.prompt_len) >= self.budgets
        for i, event in enumerate(self.gone):
            if event.is_set() and not self.dropped[i]:
                self.dropped[i] = True
                CANCELLED_ROWS.inc()
        return done | torch.tensor(self.dropped)


class _SchemaMask(LogitsProcessor):
    """Constrains each row of a batch to its JSON schema (xgrammar matchers, one per row).

    Unlike xgrammar's own transformers processor, a row that has stopped early (its
    budget, its caller gone) while its JSON is unfinished is not an error: generate
    pads it from then on, and the pad token is not fed to its matcher.
    """

    def __init__(self, grammars: list):
        import xgrammar

        self.matchers = [xgrammar.GrammarMatcher(g) for g in grammars]
        self.bitmask = xgrammar.allocate_token_bitmask(len(grammars), grammars[0].tokenizer_info.vocab_size)
        self.active = [True] * len(grammars)
        self.started = False

    def __call__(self, input_ids, scores):
        for i, matcher in enumerate(self.matchers):
            if self.started and self.active[i] and not matcher.is_terminated():
                self.active[i] = matcher.accept_token(int(input_ids[i, -1]))
        self.started = True
        scores = scores.to("cpu")
        # A row no longer active (finished or padded) may take any token.
        constrain(scores, self.bitmask, [m if a else None for m, a in zip(self.matchers, self.active, strict=True)])
        return scores


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, settings: ModelSettings, data_dir: Path):
        self.settings = settings
        self.data_dir = data_dir
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")
        self.batcher = self._batcher()
        self.model = None
        self.tokenizer = None
        self.counter = None
        self._grammar = None
        self.model_name = ""
        self.max_context = 0
        self._loaded_adapters: set[str] = set()
        # Prefix adapters: a PeftModel around the same base weights each (transformers' integration loads LoRA only).
        self._prefix_models: dict[str, object] = {}
        self._adapter_lock = threading.Lock()

    def _batcher(self) -> ContinuousBatcher | DynamicBatcher:
        if self.settings.batching == "continuous":
            return ContinuousBatcher(self, self.executor, self.settings.max_batch, self.settings.batch_window_ms / 1000)
        return DynamicBatcher(self._run_batch, self.executor, self.settings.max_batch,
                              self.settings.batch_window_ms / 1000)

    def with_batching(self, batching: str) -> TransformersBackend:
        """A twin over the same loaded model and generate thread that batches the other way, so that one
        process compares the modes (benchmarks, tests). Close the original only: they share the thread."""
        twin = copy.copy(self)
        twin.settings = self.settings.model_copy(update={"batching": batching})
        twin.batcher = twin._batcher()
        return twin

    async def start(self) -> None:
        """Load the model; a backend already loaded (shared by a second ModelService) is left as it is."""
        if self.model is None:
            await asyncio.get_running_loop().run_in_executor(self.executor, self._load)

    def _load(self) -> None:
        import xgrammar

        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        folder, self.model_name = resolve_model_dir(self.settings.model, self.data_dir, self.settings.dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # A fast tokenizer keeps its padding settings in shared state that every call rewrites:
        # counting on the event loop with the generate thread's tokenizer could switch off the
        # padding of a batch being encoded. Counting gets its own instance.
        self.counter = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, self.settings.dtype))
        self.model.eval()
        self.max_context = self.settings.max_context or int(
            getattr(self.model.config, "max_position_embeddings", 2048))
        # Made here, from the tokenizer, before any other thread uses it: schemas compile on worker threads.
        self._grammar = xgrammar.GrammarCompiler(
            xgrammar.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.model.config.vocab_size))
        log.info("model_loaded", model=self.model_name, folder=str(folder), dtype=self.settings.dtype)

    async def close(self) -> None:
        await self.batcher.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def info(self) -> BackendInfo:
        return BackendInfo(self.model_name, self.name, self.max_context, self.settings.dtype,
                           list_adapters(self.settings.adapter_dir))

    # ---- prompts and tokens -------------------------------------------------

    def count_tokens(self, job: Job) -> int:
        return count_prompt_tokens(self.counter, job)

    # ---- adapters -------------------------------------------------------------

    def check_adapter(self, name: str) -> None:
        if name and name not in list_adapters(self.settings.adapter_dir):
            raise NotFound(f"adapter {name!r} not found in {self.settings.adapter_dir or '(no adapter dir set)'}")

    def is_prefix_adapter(self, name: str) -> bool:
        return bool(name) and adapter_type(self.settings.adapter_dir, name) == "PREFIX_TUNING"

    def _use_adapter(self, name: str):
        """The model to generate with: the base (for ""), the base with LoRA adapter ``name`` active, or the
        prefix-tuned wrapper of ``name`` over the base; runs on the generate thread."""
        if not name or self.is_prefix_adapter(name):
            if self._loaded_adapters:
                self.model.disable_adapters()
            return self._prefix_model(name) if name else self.model
        with self._adapter_lock:
            if name not in self._loaded_adapters:
                self.model.load_adapter(str(self.settings.adapter_dir / name), adapter_name=name)
                self._loaded_adapters.add(name)
        self.model.set_adapter(name)
        self.model.enable_adapters()
        return self.model

    def _prefix_model(self, name: str):
        from peft import PeftModel

        with self._adapter_lock:
            if name not in self._prefix_models:
                self._prefix_models[name] = PeftModel.from_pretrained(self.model, self.settings.adapter_dir / name)
        return self._prefix_models[name]

    # ---- structured output --------------------------------------------------

    @lru_cache(maxsize=256)  # noqa: B019 - one backend per process
    def _compiled_schema(self, schema: str):
        try:
            # Compact JSON: small models otherwise spend tokens on newlines between every item.
            return self._grammar.compile_json_schema(schema, any_whitespace=False)
        except Exception as err:  # noqa: BLE001 - xgrammar raises RuntimeError on bad schemas
            raise InvalidArgument("json_schema", f"cannot compile: {err}") from None

    def validate_schema(self, schema: str) -> None:
        self._compiled_schema(schema)

    # ---- generation ---------------------------------------------------------

    def _generate_kwargs(self, jobs: list[Job], prompt_len: int, gone: list[threading.Event]) -> dict:
        first = jobs[0]
        kwargs = {
            "max_new_tokens": max(job.max_tokens for job in jobs),
            "pad_token_id": self.tokenizer.pad_token_id,
            "stopping_criteria": StoppingCriteriaList([_RowBudget(prompt_len, [j.max_tokens for j in jobs], gone)]),
        }
        if first.temperature > 0:
            kwargs.update(do_sample=True, temperature=first.temperature, top_p=first.top_p, top_k=0)
            torch.manual_seed(hash(tuple(job.seed for job in jobs)) & 0x7FFFFFFF)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if first.stop:
            kwargs.update(stop_strings=list(first.stop), tokenizer=self.tokenizer)
        if first.json_schema:
            kwargs["logits_processor"] = LogitsProcessorList([_SchemaMask([self._compiled_schema(j.json_schema)
                                                                           for j in jobs])])
        return kwargs

    def _run_batch(self, jobs: list[Job], gone: list[threading.Event]) -> list[Completion]:
        """One generate call for compatible jobs; runs on the generate thread."""
        BATCH_SIZE.labels(self.model_name).observe(len(jobs))
        model = self._use_adapter(jobs[0].adapter)
        enc = self.tokenizer([prompt_text(self.tokenizer, j) for j in jobs], return_tensors="pt", padding=True,
                             add_special_tokens=False)
        prompt_len = enc["input_ids"].shape[1]
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**enc, **self._generate_kwargs(jobs, prompt_len, gone))
        MODEL_BUSY.labels(self.model_name, "generate").inc(time.perf_counter() - start)
        prompt_counts = enc["attention_mask"].sum(dim=1).tolist()
        return [self._finish(job, out[i, prompt_len:].tolist(), int(prompt_counts[i])) for i, job in enumerate(jobs)]

    def _finish(self, job: Job, generated: list[int], prompt_tokens: int) -> Completion:
        """Text, finish reason and exact completion tokens of one row (padding excluded)."""
        eos = self.tokenizer.eos_token_id
        end = generated.index(eos) if eos in generated else len(generated)
        text = self.tokenizer.decode(generated[:end], skip_special_tokens=True)
        stop_at = min((text.find(s) for s in job.stop if s in text), default=-1)
        if stop_at >= 0:
            return Completion(text[:stop_at], "stop", prompt_tokens, end)
        if end >= job.max_tokens:
            return Completion(text, "length", prompt_tokens, job.max_tokens)
        return Completion(text, "stop", prompt_tokens, end + 1)

    async def complete(self, job: Job) -> Completion:
        return await self.batcher.submit(job)

    async def stream(self, job: Job) -> AsyncIterator[Delta | Completion]:
        """Stream one request on its own (no batching), sharing the generate thread: it starts when the batcher
        lets go of the thread (static: after the current generate call; continuous: once no request runs or
        waits)."""
        from transformers import AsyncTextIteratorStreamer

        loop = asyncio.get_running_loop()
        streamer = AsyncTextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)

        def run():
            model = self._use_adapter(job.adapter)
            enc = self.tokenizer([prompt_text(self.tokenizer, job)], return_tensors="pt", add_special_tokens=False)
            prompt_len = enc["input_ids"].shape[1]
            with torch.inference_mode():
                out = model.generate(**enc, **self._generate_kwargs([job], prompt_len, [threading.Event()]),
                                          streamer=streamer)
            return self._finish(job, out[0, prompt_len:].tolist(), prompt_len)

        result = loop.run_in_executor(self.executor, run)
        full, sent = "", ""
        async for piece in streamer:
            full += piece
            cut = min((full.find(s) for s in job.stop if s in full), default=-1)
            visible = full if cut < 0 else full[:cut]
            if len(visible) > len(sent):
                yield Delta(visible[len(sent):])
                sent = visible
            if cut >= 0:
                break
        completion = await result
        if completion.text.startswith(sent) and len(completion.text) > len(sent):
            yield Delta(completion.text[len(sent):])
        yield completion
