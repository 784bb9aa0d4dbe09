"""Continuous batching of the transformers backend, with the real SmolLM2: requests join and leave the
running batch between decoding steps, and a row's reply is the one it gets alone."""

from __future__ import annotations

import asyncio
import json

import pytest

from attune.services.common import metrics
from attune.services.model.client import chat_request
from attune.services.model.core import ModelService

MODEL = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
async def continuous_core(model_core) -> ModelService:
    """A model service over the session's loaded model and generate thread, batching continuously. Not
    closed here: closing would stop the thread model_core shares."""
    core = ModelService(model_core.settings.model_copy(update={"batching": "continuous"}), model_core.backend.data_dir,
                        backend=model_core.backend.with_batching("continuous"))
    await core.start()
    return core


def forward_passes() -> tuple[float, float]:
    """(forward passes with more than one row, rows in all) so far, from the batch-size histogram."""
    histogram = metrics.BATCH_SIZE.labels(MODEL)
    return sum(b.get() for b in histogram._buckets[1:]), histogram._sum.get()


async def after(seconds: float, core: ModelService, request):
    await asyncio.sleep(seconds)
    return await core.chat(request)


async def test_staggered_requests_share_forward_passes_and_reply_as_alone(model_core, continuous_core):
    """Requests arriving one after another while the others decode: each reply equals the static backend's
    reply to it alone, and forward passes with several rows are observed."""
    requests = [chat_request("Name three primary colors.", max_tokens=24),
                chat_request("Write a long story about a dragon who learns to fly.", max_tokens=40),
                chat_request("Hi", max_tokens=10),
                chat_request("What is 2+2? Explain in detail with examples.", max_tokens=32)]
    alone = [await model_core.chat(r) for r in requests]
    shared_before, rows_before = forward_passes()
    together = await asyncio.gather(*[after(0.3 * i, continuous_core, r) for i, r in enumerate(requests)])
    shared, rows = forward_passes()
    assert shared > shared_before, "no forward pass held more than one row"
    assert rows - rows_before > sum(r.usage.completion_tokens for r in together) / 2
    for single, batched in zip(alone, together, strict=True):
        assert (batched.text, batched.usage, batched.finish_reason) == (single.text, single.usage,
                                                                        single.finish_reason)


async def test_a_short_request_arriving_mid_batch_finishes_first(continuous_core):
    _, rows_before = forward_passes()
    long = asyncio.create_task(continuous_core.chat(
        chat_request("Write a very long story about the sea and its ships.", max_tokens=160)))
    while forward_passes()[1] < rows_before + 8:  # the long row is decoding (8 rows of it so far)
        assert not long.done(), "the long request ended before it had decoded 8 tokens"
        await asyncio.sleep(0.05)
    short = await continuous_core.chat(chat_request("Say hi.", max_tokens=4))
    assert short.usage.completion_tokens <= 4
    assert not long.done(), "the short request waited for the long row"
    assert (await long).usage.completion_tokens == 160


async def test_schema_rows_greedy_rows_and_seeded_samples_share_a_batch(continuous_core):
    schema = json.dumps({"type": "object", "properties": {"answer": {"type": "string"}, "ok": {"type": "boolean"}},
                         "required": ["answer", "ok"]})
    json_row = chat_request("Reply in JSON about the number 7.", max_tokens=40, json_schema=schema)
    cut_row = chat_request("Reply in JSON about the number 3.", max_tokens=4, json_schema=schema)
    sampled = chat_request("Tell me a story about a cat.", max_tokens=20, temperature=0.9, seed=11)
    stopped = chat_request("Name three primary colors.", max_tokens=40)
    free = (await continuous_core.chat(stopped)).text
    stop = free.split()[3]
    stopped.sampling.stop.append(stop)
    alone = await continuous_core.chat(sampled)
    replies = await asyncio.gather(*[continuous_core.chat(r) for r in (json_row, cut_row, sampled, stopped)])
    data = json.loads(replies[0].text)
    assert isinstance(data["answer"], str) and isinstance(data["ok"], bool)
    assert (replies[1].finish_reason, replies[1].usage.completion_tokens) == ("length", 4)
    assert replies[1].text.startswith('{"ans')
    assert replies[2].text == alone.text, "a seeded sample depends on its seed, not on its batch neighbours"
    assert (replies[3].text, replies[3].finish_reason) == (free[:free.find(stop)], "stop")


async def test_a_caller_that_gives_up_leaves_the_batch(continuous_core):
    before = metrics.CANCELLED_ROWS._value.get()
    keep = asyncio.create_task(continuous_core.chat(chat_request("Describe the moon.", max_tokens=48)))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(continuous_core.chat(chat_request("Write a very long story.", max_tokens=4000)), 2)
    assert (await keep).usage.completion_tokens > 0
    for _ in range(100):
        if metrics.CANCELLED_ROWS._value.get() > before:
            break
        await asyncio.sleep(0.1)
    assert metrics.CANCELLED_ROWS._value.get() == before + 1


async def test_a_lora_request_waits_for_the_base_batch_and_matches_static(model_core, continuous_core, adapter_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if not (adapter_dir / "noisy-cb").is_dir():
        base = AutoModelForCausalLM.from_pretrained(model_core.backend.model.name_or_path)
        config = LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        get_peft_model(base, config).save_pretrained(adapter_dir / "noisy-cb")
    plain = chat_request("What is the capital of France?", max_tokens=16)
    adapted = chat_request("What is the capital of France?", max_tokens=16, adapter="noisy-cb")
    static = [await model_core.chat(plain), await model_core.chat(adapted)]
    replies = await asyncio.gather(continuous_core.chat(plain), after(0.2, continuous_core, adapted),
                                   after(0.4, continuous_core, plain))
    assert replies[1].text != replies[0].text
    assert [r.text for r in replies] == [static[0].text, static[1].text, static[0].text]
