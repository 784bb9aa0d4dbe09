"""Iteration-level (continuous) batching for the transformers backend.

Requests join and leave the running batch between decoding steps: a request that
arrives while others decode is prefilled at the next step boundary and its key/value
cache is merged into the batch's (left-padded to a common length), and a row that
finishes (end of sequence, its max_tokens, a stop string, its caller gone) leaves at
once, so a short reply never waits for the longest row. One scheduler loop runs on
the backend's generate thread while any row is running and returns when none is.

Rows of one batch share the active adapter (LoRA is switched for the whole model);
a request for another adapter waits until the batch drains, and none behind it is
admitted first (first come, first served). Prefix-tuned adapters keep their own
virtual tokens in the cache, so their requests run alone through the static path.
Each row samples with its own temperature, top_p and seeded generator, and keeps
its own JSON-schema matcher, so any requests of one adapter can share a batch.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from attune.services.common.logging import get_logger
from attune.services.common.metrics import BATCH_SIZE, CANCELLED_ROWS, MODEL_BUSY
from attune.services.model.backends.base import Completion, Job
from attune.services.model.backends.grammar import constrain
from attune.services.model.backends.tokens import prompt_text

log = get_logger(__name__)


@dataclass
class _Request:
    job: Job
    deliver: Callable[[Completion | BaseException], None]
    gone: threading.Event


@dataclass
class _Row:
    request: _Request
    prompt_tokens: int
    matcher: object = None
    generator: torch.Generator | None = None
    tokens: list[int] = field(default_factory=list)

    @property
    def job(self) -> Job:
        return self.request.job


def _settle(future: asyncio.Future, result: Completion | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _fail(requests: list[_Request], err: BaseException) -> None:
    for request in requests:
        request.deliver(err)


def _pad_left(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """``tensor`` with zeros before its entries along ``dim`` (-2 of a cache, -1 of a mask) up to ``length``."""
    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    pad = (missing, 0) if dim == -1 else (0, 0, missing, 0)
    return F.pad(tensor, pad)


class ContinuousBatcher:
    """The scheduler. ``backend`` is the TransformersBackend whose model, tokenizer and schema compiler it uses."""

    def __init__(self, backend, executor, max_batch: int, window_s: float = 0.0):
        self.backend = backend
        self.executor = executor
        self.max_batch = max_batch
        # An idle model waits this long after a request for others to prefill with it (requests sent together).
        self.window_s = window_s
        self.incoming: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self.waiting: deque[_Request] = deque()
        self.lock = threading.Lock()
        self.running = False
        self._reset()

    def _reset(self) -> None:
        self.rows: list[_Row] = []
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None
        self.model = None
        self.adapter = ""

    async def submit(self, job: Job) -> Completion:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        gone = threading.Event()
        future.add_done_callback(lambda f: f.cancelled() and gone.set())
        self.incoming.put(_Request(job, lambda result: loop.call_soon_threadsafe(_settle, future, result), gone))
        with self.lock:
            if not self.running:
                self.running = True
                self.executor.submit(self._run)
        return await future

    async def close(self) -> None:
        return None

    # ---- the loop, on the generate thread -------------------------------------------------

    def _run(self) -> None:
        while self._has_work():
            try:
                self._admit()
                if self.rows:
                    self._decode()
            except Exception as err:  # noqa: BLE001 - the running rows hear of it, the batch starts afresh
                log.exception("continuous_batch_failed", rows=len(self.rows))
                _fail([row.request for row in self.rows], err)
                self._reset()

    def _has_work(self) -> bool:
        """Move arrivals to the waiting line; False (and the loop ends) when nothing runs or waits."""
        if not self.rows and not self.waiting and self.window_s:
            try:
                self.waiting.append(self.incoming.get(timeout=self.window_s))
            except queue.Empty:
                pass
            else:
                time.sleep(self.window_s)
        while True:
            try:
                self.waiting.append(self.incoming.get_nowait())
            except queue.Empty:
                break
        if self.rows or self.waiting:
            return True
        with self.lock:
            if self.incoming.empty():
                self.running = False
                return False
        return True

    def _admit(self) -> None:
        """Prefill the waiting requests that may join the batch now, first come first served."""
        joining: list[_Request] = []
        while self.waiting and len(self.rows) + len(joining) < self.max_batch:
            head = self.waiting[0]
            if head.gone.is_set():
                self.waiting.popleft()
                continue
            if self.backend.is_prefix_adapter(head.job.adapter):
                if self.rows or joining:
                    break
                self._run_alone(self.waiting.popleft())
                continue
            if (self.rows or joining) and head.job.adapter != self.adapter:
                break
            if not self.rows and not joining:
                self.adapter = head.job.adapter
                self.model = self.backend._use_adapter(self.adapter)
            joining.append(self.waiting.popleft())
        if joining:
            self._prefill(joining)

    def _run_alone(self, request: _Request) -> None:
        try:
            request.deliver(self.backend._run_batch([request.job], [request.gone])[0])
        except Exception as err:  # noqa: BLE001 - delivered to its caller
            request.deliver(err)

    def _prefill(self, requests: list[_Request]) -> None:
        """Run the prompts of ``requests`` (left-padded together) and add them to the batch; if that fails,
        they fail and the running rows go on."""
        tokenizer = self.backend.tokenizer
        try:
            enc = tokenizer([prompt_text(tokenizer, r.job) for r in requests], return_tensors="pt", padding=True,
                            add_special_tokens=False)
            mask = enc["attention_mask"]
            cache = DynamicCache()
            logits = self._forward(enc["input_ids"], mask, (mask.cumsum(-1) - 1).clamp(min=0), cache, "prefill")
            rows = [self._new_row(r, int(n)) for r, n in zip(requests, mask.sum(-1).tolist(), strict=True)]
        except Exception as err:  # noqa: BLE001 - delivered to their callers
            log.exception("prefill_failed", rows=len(requests))
            _fail(requests, err)
            if not self.rows:
                self._reset()
            return
        self._merge(rows, cache, mask)
        self._advance(rows, logits, first=len(self.rows) - len(rows))

    def _new_row(self, request: _Request, prompt_tokens: int) -> _Row:
        job = request.job
        row = _Row(request, prompt_tokens)
        if job.json_schema:
            import xgrammar

            row.matcher = xgrammar.GrammarMatcher(self.backend._compiled_schema(job.json_schema))
        if job.temperature > 0:
            row.generator = torch.Generator().manual_seed(job.seed & 0x7FFFFFFF)
        return row

    def _merge(self, rows: list[_Row], cache: DynamicCache, mask: torch.Tensor) -> None:
        """Append prefilled rows to the batch; the shorter side is left-padded to the common length."""
        if not self.rows:
            self.rows, self.cache, self.mask = rows, cache, mask
            return
        length = max(self.mask.shape[1], mask.shape[1])
        for mine, theirs in zip(self.cache.layers, cache.layers, strict=True):
            mine.keys = torch.cat([_pad_left(mine.keys, length, -2), _pad_left(theirs.keys, length, -2)])
            mine.values = torch.cat([_pad_left(mine.values, length, -2), _pad_left(theirs.values, length, -2)])
        self.mask = torch.cat([_pad_left(self.mask, length, -1), _pad_left(mask, length, -1)])
        self.rows += rows

    def _decode(self) -> None:
        """One decoding step of every running row."""
        self._drop_gone()
        if not self.rows:
            return
        positions = self.mask.sum(-1, keepdim=True)
        self.mask = torch.cat([self.mask, torch.ones((len(self.rows), 1), dtype=self.mask.dtype)], dim=1)
        last = torch.tensor([[row.tokens[-1]] for row in self.rows])
        logits = self._forward(last, self.mask, positions, self.cache, "decode")
        self._advance(self.rows, logits, first=0)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: DynamicCache,
                 phase: str) -> torch.Tensor:
        BATCH_SIZE.labels(self.backend.model_name).observe(ids.shape[0])
        start = time.perf_counter()
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                             use_cache=True, logits_to_keep=1)
        MODEL_BUSY.labels(self.backend.model_name, phase).inc(time.perf_counter() - start)
        return out.logits[:, -1, :].float()

    def _advance(self, rows: list[_Row], logits: torch.Tensor, first: int) -> None:
        """Sample the next token of ``rows`` (batch rows first, first+1, ...); retire the rows that finished."""
        tokens = self._sample(rows, logits)
        finished = []
        for offset, (row, token) in enumerate(zip(rows, tokens, strict=True)):
            row.tokens.append(token)
            if row.matcher is not None and not row.matcher.is_terminated():
                row.matcher.accept_token(token)
            if self._finished(row, token):
                finished.append(first + offset)
        if finished:
            for index in finished:
                row = self.rows[index]
                row.request.deliver(self.backend._finish(row.job, row.tokens, row.prompt_tokens))
            done = set(finished)
            self._keep([i for i in range(len(self.rows)) if i not in done])

    def _sample(self, rows: list[_Row], logits: torch.Tensor) -> list[int]:
        schemas = [row.job.json_schema for row in rows if row.matcher is not None]
        if schemas:
            import xgrammar

            vocab = self.backend._compiled_schema(schemas[0]).tokenizer_info.vocab_size
            constrain(logits, xgrammar.allocate_token_bitmask(len(rows), vocab), [row.matcher for row in rows])
        tokens = logits.argmax(-1).tolist()
        for i, row in enumerate(rows):
            if row.generator is not None:
                tokens[i] = _sample_row(logits[i], row.job.temperature, row.job.top_p, row.generator)
        return tokens

    def _finished(self, row: _Row, token: int) -> bool:
        job = row.job
        if token == self.backend.tokenizer.eos_token_id or len(row.tokens) >= job.max_tokens:
            return True
        if job.stop:
            text = self.backend.tokenizer.decode(row.tokens, skip_special_tokens=True)
            return any(s in text for s in job.stop)
        return False

    def _drop_gone(self) -> None:
        keep = [i for i, row in enumerate(self.rows) if not row.request.gone.is_set()]
        if len(keep) < len(self.rows):
            CANCELLED_ROWS.inc(len(self.rows) - len(keep))
            self._keep(keep)

    def _keep(self, indices: list[int]) -> None:
        """Keep only these batch rows, and cut the cache columns that are padding in every row left."""
        if not indices:
            self._reset()
            return
        index = torch.tensor(indices)
        self.rows = [self.rows[i] for i in indices]
        self.mask = self.mask[index]
        start = int(self.mask.any(dim=0).long().argmax())
        self.mask = self.mask[:, start:]
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[index, :, start:], layer.values[index, :, start:]


def _sample_row(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """One token by temperature and nucleus (top_p) sampling, with the row's own generator."""
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))
