"""ModelService: validation, token accounting and logging around one backend.

The in-process object, the gRPC servicer and the client all speak the
attune.v1 messages, so the orchestrator can hold either this class or
``ModelClient`` and see the same results and the same errors.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

from attune.services.common import metrics
from attune.services.common.errors import InvalidArgument, Unavailable
from attune.services.common.logging import get_logger, request_context
from attune.services.model.backends import create_backend
from attune.services.model.backends.base import Backend, Completion, Delta, Job
from attune.services.model.settings import ModelSettings
from attune.v1 import common_pb2, model_pb2

log = get_logger(__name__)

ROLES = ("system", "user", "assistant")
# transformers prepares each new stop string against the whole vocabulary on the generate thread, about 12 ms
# a character on two cores: one request with a 4,000-character stop string held every caller for a minute
# (found by fuzzing, docs/reliability.md). OpenAI's API allows 4 too.
MAX_STOP_STRINGS, MAX_STOP_CHARS = 4, 32
# Logits divided by a temperature near zero overflow to inf and sampling fails for the whole batch (a fuzzed
# 1.4e-45 did); below this, decoding is greedy in all but name: ask for 0.
MIN_TEMPERATURE = 0.001
CALLER_ROLES = ("agent", "user_simulator", "judge", "extractor", "reranker", "reward", "other")


class ModelService:
    """Chat and generate over a backend chosen by settings."""

    def __init__(self, settings: ModelSettings, data_dir: Path, backend: Backend | None = None):
        self.settings = settings
        self.backend = backend or create_backend(settings, data_dir)
        self.ready = False
        self.model_name, self.max_context = "", 0

    async def start(self) -> None:
        await self.backend.start()
        # Fixed once loaded; info() also lists adapters (a directory scan), too much for every request.
        info = self.backend.info()
        # max_context caps the window here too: a backend shared with another core keeps its own settings.
        self.model_name = info.model
        self.max_context = min(info.max_context, self.settings.max_context or info.max_context)
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        await self.backend.close()

    # ---- the interface ----------------------------------------------------

    async def chat(self, request: model_pb2.ChatRequest) -> model_pb2.ChatResponse:
        job = await self._chat_job(request)
        with request_context(request.context):
            completion = await self.backend.complete(job)
            return model_pb2.ChatResponse(**self._response_fields(request, job, completion))

    async def chat_stream(self, request: model_pb2.ChatRequest) -> AsyncIterator[model_pb2.ChatChunk]:
        job = await self._chat_job(request)
        with request_context(request.context):
            async for item in self.backend.stream(job):
                if isinstance(item, Delta):
                    yield model_pb2.ChatChunk(delta=item.text)
                else:
                    fields = self._response_fields(request, job, item)
                    yield model_pb2.ChatChunk(finish_reason=fields["finish_reason"], usage=fields["usage"])

    async def generate(self, request: model_pb2.GenerateRequest) -> model_pb2.GenerateResponse:
        self._check_ready()
        if not request.prompt:
            raise InvalidArgument("prompt", "must not be empty")
        job = await self._job(request, prompt=request.prompt)
        with request_context(request.context):
            completion = await self.backend.complete(job)
            return model_pb2.GenerateResponse(**self._response_fields(request, job, completion))

    async def count_tokens(self, request: model_pb2.CountTokensRequest) -> model_pb2.CountTokensResponse:
        self._check_ready()
        job = Job(messages=self._messages(request.messages))
        tokens = await self.backend.count_tokens_async(job)
        if tokens is None:
            raise Unavailable(f"the {self.backend.name} backend cannot count tokens before a call")
        return model_pb2.CountTokensResponse(tokens=tokens)

    async def get_info(self, request: model_pb2.GetInfoRequest | None = None) -> model_pb2.ModelInfo:
        self._check_ready()
        info = self.backend.info()
        return model_pb2.ModelInfo(model=info.model, backend=info.backend, max_context=self.max_context,
                                   adapters=info.adapters, dtype=info.dtype)

    # ---- validation -------------------------------------------------------

    def _check_ready(self) -> None:
        if not self.ready:
            raise Unavailable("model is still loading")

    async def _chat_job(self, request: model_pb2.ChatRequest) -> Job:
        self._check_ready()
        return await self._job(request, messages=self._messages(request.messages))

    @staticmethod
    def _messages(messages) -> tuple[tuple[str, str], ...]:
        if not messages:
            raise InvalidArgument("messages", "must not be empty")
        for i, m in enumerate(messages):
            if m.role not in ROLES:
                raise InvalidArgument(f"messages[{i}].role",
                                      f"unknown role {m.role!r} (expected one of {', '.join(ROLES)})")
        return tuple((m.role, m.content) for m in messages)

    async def _job(self, request, *, messages=(), prompt=None) -> Job:
        ctx = request.context
        if ctx.caller_role and ctx.caller_role not in CALLER_ROLES:
            raise InvalidArgument("context.caller_role", f"unknown caller role {ctx.caller_role!r} "
                                  f"(expected one of {', '.join(CALLER_ROLES)})")
        s = request.sampling
        max_context = self.max_context
        limit = min(max_context, self.settings.max_completion_tokens or max_context)
        max_tokens = s.max_tokens or min(self.settings.default_max_tokens, limit)
        if s.max_tokens < 0 or max_tokens > limit:
            raise InvalidArgument("sampling.max_tokens", f"{s.max_tokens} is out of range 1..{limit}")
        if not math.isfinite(s.temperature) or not (s.temperature == 0 or MIN_TEMPERATURE <= s.temperature <= 2):
            raise InvalidArgument("sampling.temperature", f"{s.temperature} is out of range {MIN_TEMPERATURE}..2 "
                                  "(0 for greedy decoding)")
        if not math.isfinite(s.top_p) or not 0 <= s.top_p <= 1:
            raise InvalidArgument("sampling.top_p", f"{s.top_p} is out of range 0..1 (0 means 1)")
        if len(s.stop) > MAX_STOP_STRINGS:
            raise InvalidArgument("sampling.stop", f"{len(s.stop)} stop strings; at most {MAX_STOP_STRINGS} allowed")
        if any(not stop or len(stop) > MAX_STOP_CHARS for stop in s.stop):
            raise InvalidArgument("sampling.stop", f"stop strings must be 1 to {MAX_STOP_CHARS} characters long")
        job = Job(messages=messages, prompt=prompt, max_tokens=max_tokens, temperature=s.temperature,
                  top_p=s.top_p or 1.0, seed=s.seed, stop=tuple(s.stop), adapter=request.adapter,
                  json_schema=request.json_schema)
        check_adapter = getattr(self.backend, "check_adapter", None)
        if check_adapter:
            check_adapter(job.adapter)
        prompt_tokens = self.backend.count_tokens(job)
        if prompt_tokens is not None and prompt_tokens + max_tokens > max_context:
            field = "prompt" if prompt is not None else "messages"
            raise InvalidArgument(field, f"prompt is {prompt_tokens} tokens; with max_tokens {max_tokens} it "
                                  f"exceeds the context window of {max_context}")
        await self._check_schema(job.json_schema)
        return job

    async def _check_schema(self, schema: str) -> None:
        """The schema parses and the backend can compile it. The compile runs on a thread (xgrammar lets go of
        the GIL), so a long one never stalls the event loop, and every other caller, for its length."""
        if not schema:
            return
        if len(schema) > self.settings.max_schema_chars:
            raise InvalidArgument("json_schema", f"is {len(schema)} characters long; at most "
                                  f"{self.settings.max_schema_chars} are allowed (ATTUNE_MODEL_MAX_SCHEMA_CHARS)")
        try:
            parsed = json.loads(schema)
        except json.JSONDecodeError as err:
            raise InvalidArgument("json_schema", f"not valid JSON ({err})") from None
        if not isinstance(parsed, dict):
            raise InvalidArgument("json_schema", "must be a JSON object")
        validate = getattr(self.backend, "validate_schema", None)
        if validate:
            await asyncio.to_thread(validate, schema)

    # ---- responses --------------------------------------------------------

    def _response_fields(self, request, job: Job, completion: Completion) -> dict:
        model = self.model_name
        usage = common_pb2.TokenUsage(prompt_tokens=completion.prompt_tokens,
                                      completion_tokens=completion.completion_tokens,
                                      total_tokens=completion.prompt_tokens + completion.completion_tokens)
        metrics.count_tokens(model, request.context.caller_role, request.context.method,
                             completion.prompt_tokens, completion.completion_tokens, completion.cached_tokens)
        log.debug("completion", prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                  finish_reason=completion.finish_reason, adapter=job.adapter)
        return {"text": completion.text, "finish_reason": completion.finish_reason, "usage": usage,
                "model": model, "adapter": job.adapter}


async def build(context) -> ModelService:
    """The registry's factory (services/common/registry.py). Adapters default to where the trainer
    publishes them, ``<data_dir>/adapters``."""
    settings = context.settings
    if settings.adapter_dir is None:
        settings = settings.model_copy(update={"adapter_dir": context.common.data_dir / "adapters"})
    return ModelService(settings, context.common.data_dir)
