"""Any OpenAI-compatible chat endpoint (a vLLM server, for example), by base URL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import contextmanager
from pathlib import Path

from attune.services.common.errors import AttuneError, InvalidArgument, NotFound, Unavailable
from attune.services.model.backends.base import Backend, BackendInfo, Completion, Delta, Job
from attune.services.model.backends.tokens import count_prompt_tokens
from attune.services.model.settings import ModelSettings

FINISH_REASONS = {"stop": "stop", "length": "length"}


class OpenAIBackend(Backend):
    """Forwards jobs to ``ATTUNE_MODEL_OPENAI_BASE_URL``; the server does batching and LoRA.

    An adapter name is sent as the model name, which is how vLLM's OpenAI server
    selects a LoRA adapter. Token counts of replies are the server's ``usage``;
    CountTokens counts with ``ATTUNE_MODEL_OPENAI_TOKENIZER``, else asks a vLLM
    server's ``/tokenize``. The context window is ``ATTUNE_MODEL_MAX_CONTEXT``, else
    the ``max_model_len`` a vLLM server lists for the model, else unbounded; the
    server judges each prompt's length.
    """

    name = "openai"

    def __init__(self, settings: ModelSettings, data_dir: Path):
        if not settings.openai_base_url:
            raise ValueError("ATTUNE_MODEL_OPENAI_BASE_URL must be set for the openai backend")
        if settings.openai_tokenizer and not Path(settings.openai_tokenizer).is_dir():
            raise ValueError(f"ATTUNE_MODEL_OPENAI_TOKENIZER={settings.openai_tokenizer} is not a folder")
        self.settings = settings
        self.client = None
        self.tokenizer = None
        self.tokenize_url = ""
        self.model_name = settings.model
        self.models: list[str] = []
        self.max_context = settings.max_context

    async def start(self) -> None:
        import openai

        self.client = openai.AsyncOpenAI(base_url=self.settings.openai_base_url, api_key=self.settings.openai_api_key,
                                         max_retries=3)
        with self._errors():
            listed = [m async for m in self.client.models.list()]
        self.models = [m.id for m in listed]
        if not self.models:
            raise Unavailable(f"{self.settings.openai_base_url} serves no model")
        self.model_name = self.model_name or self.models[0]
        if not self.max_context:
            served = next((m for m in listed if m.id == self.model_name), None)
            self.max_context = int(getattr(served, "max_model_len", None) or 0)
        if self.settings.openai_tokenizer:
            from transformers import AutoTokenizer

            self.tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, self.settings.openai_tokenizer)
        elif any(getattr(m, "owned_by", "") == "vllm" for m in listed):
            # vLLM serves /tokenize at its root, beside /v1 rather than under it.
            self.tokenize_url = self.settings.openai_base_url.rstrip("/").removesuffix("/v1") + "/tokenize"

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    def info(self) -> BackendInfo:
        adapters = [m for m in self.models if m != self.model_name]
        return BackendInfo(self.model_name, self.name, self.max_context or 1 << 30, "", adapters)

    def count_tokens(self, job: Job) -> None:
        """None: the endpoint judges each prompt against its window, at no extra cost per request."""
        return None

    async def count_tokens_async(self, job: Job) -> int:
        """With the local tokenizer, else by the vLLM server's /tokenize; Unavailable without either."""
        if self.tokenizer is not None:
            return count_prompt_tokens(self.tokenizer, job)
        if not self.tokenize_url:
            raise Unavailable(self._cannot_count(f"{self.settings.openai_base_url} is not a vLLM server"))
        return await self._tokenize(job)

    async def _tokenize(self, job: Job) -> int:
        import openai

        body = {"model": self.model_name}
        body.update({"prompt": job.prompt} if job.prompt is not None else {"messages": self._messages(job)})
        with self._errors():
            try:
                reply = await self.client.post(self.tokenize_url, cast_to=dict, body=body)
            except openai.NotFoundError:
                raise Unavailable(self._cannot_count(f"{self.tokenize_url} is not found")) from None
        return int(reply["count"])

    @staticmethod
    def _cannot_count(reason: str) -> str:
        return (f"the openai backend cannot count tokens before a call ({reason}): set ATTUNE_MODEL_OPENAI_TOKENIZER "
                "to a local folder with the served model's tokenizer")

    def check_adapter(self, name: str) -> None:
        if name and name not in self.models:
            raise NotFound(f"adapter {name!r} is not served by {self.settings.openai_base_url}")

    @staticmethod
    def _messages(job: Job) -> list[dict]:
        return [{"role": role, "content": content} for role, content in job.messages]

    def _request(self, job: Job) -> dict:
        kwargs = {
            "model": job.adapter or self.model_name,
            "max_tokens": job.max_tokens,
            "temperature": job.temperature,
            "top_p": job.top_p,
            "seed": job.seed,
            "stop": list(job.stop) or None,
        }
        if job.json_schema:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "response", "schema": json.loads(job.json_schema)}}
        return kwargs

    @contextmanager
    def _errors(self):
        """The endpoint's errors as attune errors (for calls and for streams alike)."""
        import openai

        try:
            yield
        except openai.APIConnectionError as err:
            raise Unavailable(f"{self.settings.openai_base_url} unreachable: {err}") from None
        except openai.APIError as err:
            # A status error carries its HTTP status; an error event inside a stream
            # (vLLM sends one for a request it rejects after the stream began) has it in its body.
            status = getattr(err, "status_code", None)
            if status is None and isinstance(err.body, dict):
                status = err.body.get("code")
            if status in (400, 422):
                raise InvalidArgument("request", f"rejected by the endpoint: {err.message}") from None
            if status == 404:
                raise NotFound(f"not served by {self.settings.openai_base_url}: {err.message}") from None
            raise AttuneError(f"{self.settings.openai_base_url} failed: {err.message}") from None

    async def complete(self, job: Job) -> Completion:
        with self._errors():
            if job.prompt is not None:
                reply = await self.client.completions.create(prompt=job.prompt, **self._request(job))
                text, reason = reply.choices[0].text, reply.choices[0].finish_reason
            else:
                reply = await self.client.chat.completions.create(
                    messages=self._messages(job), **self._request(job))
                text, reason = reply.choices[0].message.content or "", reply.choices[0].finish_reason
        usage = reply.usage
        return Completion(text, FINISH_REASONS.get(reason, "stop"), usage.prompt_tokens, usage.completion_tokens)

    async def stream(self, job: Job) -> AsyncIterator[Delta | Completion]:
        if job.prompt is not None:
            raise InvalidArgument("prompt", "streaming is for chat requests")
        text, reason, usage = "", "stop", None
        with self._errors():
            stream = await self.client.chat.completions.create(
                messages=self._messages(job), stream=True,
                stream_options={"include_usage": True}, **self._request(job))
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.delta.content:
                        text += choice.delta.content
                        yield Delta(choice.delta.content)
                    reason = choice.finish_reason or reason
        yield Completion(text, FINISH_REASONS.get(reason, "stop"),
                         usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0)
