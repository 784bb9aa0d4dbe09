"""Client of the retrieval service, with the same interface as RetrievalService."""

from __future__ import annotations

from attune.services.common.client import GrpcClient
from attune.v1 import retrieval_pb2, retrieval_pb2_grpc


class RetrievalClient(GrpcClient):
    def __init__(self, target: str, **kwargs):
        super().__init__(target, **kwargs)
        self.stub = retrieval_pb2_grpc.RetrievalServiceStub(self.channel)

    async def upsert_cards(self, request: retrieval_pb2.UpsertCardsRequest) -> retrieval_pb2.UpsertCardsResponse:
        return await self.unary(self.stub.UpsertCards, request)

    async def retrieve(self, request: retrieval_pb2.RetrieveRequest) -> retrieval_pb2.RetrieveResponse:
        return await self.unary(self.stub.Retrieve, request)

    async def list_cards(self, request: retrieval_pb2.ListCardsRequest) -> retrieval_pb2.ListCardsResponse:
        return await self.unary(self.stub.ListCards, request)

    async def delete_card(self, request: retrieval_pb2.DeleteCardRequest) -> retrieval_pb2.DeleteResponse:
        return await self.unary(self.stub.DeleteCard, request)

    async def delete_user(self, request: retrieval_pb2.DeleteUserRequest) -> retrieval_pb2.DeleteResponse:
        return await self.unary(self.stub.DeleteUser, request)
