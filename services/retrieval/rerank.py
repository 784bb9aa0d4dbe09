"""Rerank stages: a local cross-encoder, or the LLM through the model service.

No PyPI package ships cross-encoder weights, so a cross-encoder runs only where
a user has one in a local folder (ATTUNE_RETRIEVAL_CROSS_ENCODER_PATH). Otherwise
the LLM scores each candidate's relevance to the query, 0 to 10, with its output
forced by a JSON schema; the requests go out together so the model service
batches them. Every reranker returns scores in [0, 1] and has a ``name`` that the
response records: "none", "cross-encoder:<path>" or "llm:<model>".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from attune.services.common.errors import FailedPrecondition
from attune.services.common.logging import get_logger
from attune.services.model.client import chat_request
from attune.v1 import common_pb2, model_pb2

log = get_logger(__name__)

LLM_SCALE = 10
LLM_SCHEMA = json.dumps({
    "type": "object",
    "properties": {"score": {"type": "integer", "enum": list(range(LLM_SCALE + 1))}},
    "required": ["score"],
    "additionalProperties": False,
})
LLM_SYSTEM = (f"Rate from 0 to {LLM_SCALE} how relevant a user's saved preference is to their message. "
              "Reply in JSON.")
# Two worked examples: with them SmolLM2-135M spreads its scores; asked cold it answers 0 to everything.
LLM_EXAMPLES = [
    ("user", "Message: Fix my JavaScript bug.\nSaved preference: When writing JavaScript: prefer async/await"),
    ("assistant", '{"score": 9}'),
    ("user", "Message: Fix my JavaScript bug.\nSaved preference: When baking: give weights in grams"),
    ("assistant", '{"score": 1}'),
]


def card_text(card: common_pb2.PreferenceCard) -> str:
    """The text a card is embedded and reranked as."""
    return f"When {card.condition.strip()}: {card.preference.strip()}" if card.condition.strip() \
        else card.preference.strip()


class Reranker:
    name = "none"

    async def scores(self, query: str, cards: Sequence[common_pb2.PreferenceCard],
                     context: common_pb2.RequestContext | None = None,
                     usage: common_pb2.TokenUsage | None = None) -> list[float]:
        """One score per card; a reranker that calls a model adds its tokens to ``usage``."""
        raise NotImplementedError

    def max_candidates(self) -> int | None:
        """How many candidates it scores at most; None: all."""
        return None


class CrossEncoderReranker(Reranker):
    """A sentence-transformers CrossEncoder from a local folder; sigmoid scores in [0, 1]."""

    def __init__(self, path: str | Path, batch_size: int = 32):
        from sentence_transformers import CrossEncoder

        path = Path(path).expanduser()
        if not path.is_dir():
            raise FailedPrecondition(f"ATTUNE_RETRIEVAL_CROSS_ENCODER_PATH={str(path)!r} is not a folder")
        import torch

        try:
            self.model = CrossEncoder(str(path), device="cpu", local_files_only=True,
                                      activation_fn=torch.nn.Sigmoid())
        except Exception as err:  # noqa: BLE001
            raise FailedPrecondition(f"cannot load the cross-encoder at {str(path)!r} "
                                     f"(ATTUNE_RETRIEVAL_CROSS_ENCODER_PATH): {err}") from err
        self.batch_size = batch_size
        self.name = f"cross-encoder:{path}"
        # One thread of its own, for the reason given in services.common.embeddings.Embedder.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cross-encoder")

    def _predict(self, pairs: list[tuple[str, str]]) -> list[float]:
        out = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True)
        return [float(x) for x in out]

    async def scores(self, query, cards, context=None, usage=None) -> list[float]:
        if not cards:
            return []
        pairs = [(query, card_text(c)) for c in cards]
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._predict, pairs)


class LLMReranker(Reranker):
    """Scores each candidate 0..10 with the LLM (JSON schema), all candidates at once.

    ``model`` is anything with ``async chat(ChatRequest) -> ChatResponse``: the
    in-process ModelService or a ModelClient.
    """

    def __init__(self, model, max_candidates: int = 8, max_tokens: int = 12):
        self.model = model
        self._max_candidates = max_candidates
        self.max_tokens = max_tokens
        self._model_name = ""
        self.name = "llm"
        self.failures = 0

    def max_candidates(self) -> int:
        return self._max_candidates

    async def _name(self) -> str:
        if not self._model_name:
            info = await self.model.get_info()
            self._model_name = info.model
            self.name = f"llm:{info.model}"
        return self.name

    def request(self, query: str, card: common_pb2.PreferenceCard,
                context: common_pb2.RequestContext | None = None) -> model_pb2.ChatRequest:
        ids = {k: getattr(context, k) for k in ("run_id", "user_id", "session_id") if context is not None}
        prompt = f"Message: {query}\nSaved preference: {card_text(card)}"
        return chat_request([("system", LLM_SYSTEM), *LLM_EXAMPLES, ("user", prompt)], max_tokens=self.max_tokens,
                            temperature=0.0, json_schema=LLM_SCHEMA, caller_role="reranker",
                            method=context.method if context is not None else "", **ids)

    @staticmethod
    def parse(text: str) -> float | None:
        try:
            score = json.loads(text)["score"]
        except (ValueError, KeyError, TypeError):
            return None
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= LLM_SCALE:
            return None
        return float(score) / LLM_SCALE

    async def scores(self, query, cards, context=None, usage=None) -> list[float]:
        await self._name()
        replies = await asyncio.gather(*[self.model.chat(self.request(query, c, context)) for c in cards])
        out = []
        for reply in replies:
            if usage is not None:
                usage.prompt_tokens += reply.usage.prompt_tokens
                usage.completion_tokens += reply.usage.completion_tokens
            score = self.parse(reply.text)
            if score is None:
                # The schema makes this rare (a reply cut at max_tokens): count it as "does not apply".
                self.failures += 1
                log.warning("llm_rerank_unparsed", text=reply.text[:80])
                score = 0.0
            out.append(score)
        return out
