"""Client of the model service, with the same interface as ModelService."""

from __future__ import annotations

from collections.abc import AsyncIterator

from attune.services.common.client import GrpcClient
from attune.v1 import model_pb2, model_pb2_grpc


class ModelClient(GrpcClient):
    def __init__(self, target: str, **kwargs):
        super().__init__(target, **kwargs)
        self.stub = model_pb2_grpc.ModelServiceStub(self.channel)

    async def chat(self, request: model_pb2.ChatRequest) -> model_pb2.ChatResponse:
        return await self.unary(self.stub.Chat, request)

    async def chat_stream(self, request: model_pb2.ChatRequest) -> AsyncIterator[model_pb2.ChatChunk]:
        async for chunk in self.stream(self.stub.ChatStream, request):
            yield chunk

    async def generate(self, request: model_pb2.GenerateRequest) -> model_pb2.GenerateResponse:
        return await self.unary(self.stub.Generate, request)

    async def count_tokens(self, request: model_pb2.CountTokensRequest) -> model_pb2.CountTokensResponse:
        return await self.unary(self.stub.CountTokens, request)

    async def get_info(self, request: model_pb2.GetInfoRequest | None = None) -> model_pb2.ModelInfo:
        return await self.unary(self.stub.GetInfo, request or model_pb2.GetInfoRequest())


def chat_request(messages: list[tuple[str, str]] | str, *, max_tokens: int = 0, temperature: float = 0.0,
                 seed: int = 0, caller_role: str = "", method: str = "", adapter: str = "",
                 json_schema: str = "", **context) -> model_pb2.ChatRequest:
    """A ChatRequest from plain values; a bare string is one user message."""
    if isinstance(messages, str):
        messages = [("user", messages)]
    return model_pb2.ChatRequest(
        messages=[{"role": r, "content": c} for r, c in messages],
        sampling=model_pb2.SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed),
        context={"caller_role": caller_role, "method": method, **context},
        adapter=adapter, json_schema=json_schema,
    )
