"""The openai backend's token counts against a tiny OpenAI-compatible endpoint on 127.0.0.1.

The endpoint answers /v1/models and chat completions with a fixed usage, and
(when it plays a vLLM server) /tokenize at its root, so each way of counting
is seen without a model.
"""

from __future__ import annotations

import json
import threading
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from attune.services.common.errors import Unavailable
from attune.services.model.client import chat_request
from attune.services.model.core import ModelService
from attune.services.model.settings import ModelSettings
from attune.v1 import model_pb2

MODEL = "tiny"
USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
TOKENIZE_COUNT = 9
CHAT_REPLY = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, Ada."}, "finish_reason": "stop"}],
    "usage": USAGE,
}
MESSAGES = [{"role": "system", "content": "a b c"}, {"role": "user", "content": "hello"}]


class Endpoint(ThreadingHTTPServer):
    """Records each POST as (path, body). ``owner`` is what /v1/models says owns the model."""

    def __init__(self, owner: str, tokenize: bool):
        super().__init__(("127.0.0.1", 0), Handler)
        self.owner, self.tokenize = owner, tokenize
        self.posts: list[tuple[str, dict]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"


class Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def do_GET(self):
        if self.path != "/v1/models":
            return self._reply(404, {"error": {"message": "Not Found", "code": 404}})
        model = {"id": MODEL, "object": "model", "created": 0, "owned_by": self.server.owner, "max_model_len": 512}
        self._reply(200, {"object": "list", "data": [model]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posts.append((self.path, body))
        if self.path == "/v1/chat/completions":
            self._reply(200, CHAT_REPLY)
        elif self.path == "/tokenize" and self.server.tokenize:
            self._reply(200, {"count": TOKENIZE_COUNT, "max_model_len": 512, "tokens": list(range(TOKENIZE_COUNT))})
        else:
            self._reply(404, {"error": {"message": "Not Found", "code": 404}})

    def _reply(self, status: int, data: dict) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def endpoint(owner: str = "someone", tokenize: bool = False):
    server = Endpoint(owner, tokenize)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@asynccontextmanager
async def openai_service(server: Endpoint, tmp_path, **settings):
    core = ModelService(ModelSettings(backend="openai", openai_base_url=server.base_url, **settings), tmp_path)
    await core.start()
    try:
        yield core
    finally:
        await core.close()


def count_request() -> model_pb2.CountTokensRequest:
    return model_pb2.CountTokensRequest(messages=MESSAGES)


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory):
    """A word-level tokenizer folder whose chat template writes ``<role> content`` per message."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    template = ("{% for m in messages %}<{{ m.role }}> {{ m.content }} {% endfor %}"
                "{% if add_generation_prompt %}<assistant>{% endif %}")
    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]", chat_template=template).save_pretrained(folder)
    return folder


async def test_chat_replies_carry_the_usage_of_the_response(tmp_path):
    with endpoint() as server:
        async with openai_service(server, tmp_path) as core:
            reply = await core.chat(chat_request("Say hello to Ada.", max_tokens=8))
    assert (reply.text, reply.finish_reason) == ("Hello, Ada.", "stop")
    usage = reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 3, 14)
    assert [path for path, _ in server.posts] == ["/v1/chat/completions"]


async def test_an_endpoint_that_is_not_vllm_cannot_count_without_a_tokenizer(tmp_path):
    with endpoint() as server:
        async with openai_service(server, tmp_path) as core:
            with pytest.raises(Unavailable, match="ATTUNE_MODEL_OPENAI_TOKENIZER"):
                await core.count_tokens(count_request())
    assert server.posts == [], "no /tokenize asked of a server that is not vLLM"


async def test_a_vllm_server_without_tokenize_cannot_count_without_a_tokenizer(tmp_path):
    with endpoint(owner="vllm") as server:
        async with openai_service(server, tmp_path) as core:
            with pytest.raises(Unavailable, match="ATTUNE_MODEL_OPENAI_TOKENIZER"):
                await core.count_tokens(count_request())
    assert [path for path, _ in server.posts] == ["/tokenize"]


async def test_a_vllm_server_counts_with_tokenize_at_its_root(tmp_path):
    with endpoint(owner="vllm", tokenize=True) as server:
        async with openai_service(server, tmp_path) as core:
            counted = await core.count_tokens(count_request())
    assert counted.tokens == TOKENIZE_COUNT
    assert server.posts == [("/tokenize", {"model": MODEL, "messages": MESSAGES})]


async def test_a_local_tokenizer_counts_the_chat_template(tmp_path, tiny_tokenizer):
    with endpoint(owner="vllm", tokenize=True) as server:
        async with openai_service(server, tmp_path, openai_tokenizer=str(tiny_tokenizer)) as core:
            counted = await core.count_tokens(count_request())
    # "<system> a b c <user> hello <assistant>", split at spaces; no special tokens added.
    assert counted.tokens == 7
    assert server.posts == [], "the local tokenizer comes first"


def test_a_tokenizer_setting_that_is_not_a_folder_is_refused(tmp_path):
    settings = ModelSettings(backend="openai", openai_base_url="http://127.0.0.1:1/v1",
                             openai_tokenizer=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="ATTUNE_MODEL_OPENAI_TOKENIZER"):
        ModelService(settings, tmp_path)
