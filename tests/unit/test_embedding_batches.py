"""Concurrent embedding calls share encoder batches (the real MiniLM), and each caller gets its own rows."""

import asyncio

import numpy as np
from prometheus_client import REGISTRY

from attune.services.common.embeddings import _Batcher

TEXTS = [f"When I ask about topic {n}, answer in {n + 2} sentences." for n in range(12)]


def batches(unit: str) -> tuple[float, float]:
    """(batches observed, their summed size) of the embedder's batch histogram."""
    labels = {"unit": unit}
    return (REGISTRY.get_sample_value("attune_embed_batch_size_count", labels) or 0.0,
            REGISTRY.get_sample_value("attune_embed_batch_size_sum", labels) or 0.0)


async def test_concurrent_calls_share_batches_and_get_their_own_rows(embedder):
    alone = [embedder.embed([t])[0] for t in TEXTS]
    count, total = batches("requests")
    calls = [TEXTS[n:n + 2] for n in range(0, len(TEXTS), 2)] + [[t] for t in TEXTS]
    results = await asyncio.gather(*(embedder.aembed(texts) for texts in calls))
    new_count, new_total = batches("requests")
    assert new_total - total == len(calls), "every call was served by some batch"
    assert new_count - count < len(calls), "some batch served more than one call"
    for texts, vectors in zip(calls, results, strict=True):
        assert vectors.shape == (len(texts), embedder.dim)
        for text, vector in zip(texts, vectors, strict=True):
            np.testing.assert_allclose(vector, alone[TEXTS.index(text)], atol=1e-5)


async def test_a_bad_call_fails_alone(embedder):
    results = await asyncio.gather(embedder.aembed(["fine"]), embedder.aembed("not a list"),
                                   embedder.aembed(["also fine"]), return_exceptions=True)
    assert isinstance(results[1], TypeError), "refused before it joins a batch"
    assert results[0].shape == results[2].shape == (1, embedder.dim)


async def test_a_failed_encode_fails_each_caller_of_its_batch_and_the_next_batch_runs():
    encoded = []

    async def encode(texts):  # the batching logic alone: the first encode fails
        encoded.append(list(texts))
        await asyncio.sleep(0)
        if len(encoded) == 1:
            raise RuntimeError("encoder broke")
        return np.arange(len(texts), dtype=np.float32)[:, None]

    batcher = _Batcher(encode)
    first = asyncio.ensure_future(batcher.embed(["a"]))
    await asyncio.sleep(0)  # the first encode has started; the next two calls wait for it together
    rest = [batcher.embed(["b", "c"]), batcher.embed(["d"])]
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert encoded == [["a"], ["b", "c", "d"]]
    assert results[1].tolist() == [[0.0], [1.0]] and results[2].tolist() == [[2.0]]
